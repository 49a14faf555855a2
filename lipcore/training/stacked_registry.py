"""The registries of stacked rules: module class → (the forward a rule was written for, rule).

Apart from `stacked_rules` (which builds plans from them) so that modules of rules written
elsewhere (`stacked_tangents`: the LDLT layer, the tangent rules) can register without
importing the plans, and `stacked_rules` can import them to have every rule registered.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

Params = dict[str, torch.Tensor]
Rule = Callable[[nn.Module, Params, torch.Tensor], torch.Tensor]
LossRule = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]

RULES: dict[type, tuple[Callable, Rule]] = {}  # class → (the forward it was written for, rule)
TANGENT_RULES: dict[type, tuple[Callable, Callable]] = {}  # the same for `stacked_tangents`
CHAINS: dict[type, Callable] = {}  # chain models → their forward when registered
LOSS_RULES: dict[type, tuple[Callable, LossRule]] = {}


def forward_of(cls: type) -> Callable:
    return getattr(cls, "forward")


def registrar(table: dict[type, tuple[Callable, Callable]]) -> Callable:
    """`@decorator(*classes)` that files a rule in `table` for `classes` with the forward it
    was written for."""
    def decorator(*classes: type) -> Callable[[Callable], Callable]:
        def register(fn: Callable) -> Callable:
            for cls in classes:
                table[cls] = (forward_of(cls), fn)
            return fn
        return register
    return decorator


#: `@rule(cls)` registers `fn(module, params, h) → out` for cls (and subclasses keeping its forward)
rule = registrar(RULES)
#: `@loss_rule(cls)` registers `fn(loss_module, out, y, lead) → (*L,)` per-copy mean loss;
#: out (*L, B, …), y (B, …) shared or (*L, B, …); `lead` = len(L)
loss_rule = registrar(LOSS_RULES)
#: `@tangent_rule(cls)` registers `fn(module, params, h, q) → (out, jq)` (`stacked_tangents`)
tangent_rule = registrar(TANGENT_RULES)


def lookup(table: dict[type, tuple[Callable, Callable]], module: object) -> Callable | None:
    cls = type(module)
    for base in cls.__mro__:
        if base in table:
            forward, fn = table[base]
            return fn if forward_of(cls) is forward else None
    return None
