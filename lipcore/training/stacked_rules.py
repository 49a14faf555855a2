"""Stacked rules: a module's forward on parameters that carry leading member dimensions.

A pack holds each parameter as one tensor with a leading member dimension P
(`PackTrainer._link`). For the modules written out here the pack runs the forward on those
stacks directly, one batched product per layer, instead of `vmap(functional_call)` (whose
dispatch cost more than the arithmetic of small layers on the CPU).

    rule(module, params, h) → out
    params: the module's own parameters by local name, each (*L, *shape): L leading dims;
    h: (*L, B, *features) or (B, *features) (one input for all, broadcast); out: (*L, B, *out).

L is (P,) for a training step and (P, N) for per-example gradients (each of N examples its own
copy of the member's parameters), so one rule serves both. Elementwise modules need no
parameters and act on any shape as they are.

Rules are registered with `@rule(cls)` and found along the module's MRO (as
`lipcore.tangents`), but only while the class's `forward` is the one the rule was written for:
a subclass that overrides `forward`, or a forward patched at run time, has no rule. A model
has a stacked plan (`plan`) when it declares `chain_forward = True` (its forward is
`x.flatten(1)` then its `.blocks` in order, with that forward unchanged) and every block
resolves to rules (containers: `nn.Sequential`); otherwise `plan` gives None and the pack takes
the vmap path. Losses have stacked rules too (`loss_rule`): the (*L,) per-copy means; and
modules may have a stacked tangent rule (`tangent_rule`, written in `stacked_tangents`), which
the pack's native flossing needs on every step (`StackedPlan.tangents`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.training import linear_prefix
from lipcore.training.stacked_registry import (  # noqa: F401 - the registrars, re-exported
    CHAINS, LOSS_RULES, RULES, TANGENT_RULES, LossRule, Params, Rule, forward_of, loss_rule, lookup,
    registrar, rule, tangent_rule)


def find_rule(module: nn.Module) -> Rule | None:
    return lookup(RULES, module)


def chain_model(*classes: type) -> None:
    """Declare models whose forward is `x.flatten(1)` then `.blocks` in order."""
    for cls in classes:
        CHAINS[cls] = forward_of(cls)


def find_loss_rule(loss_fn: object) -> LossRule | None:
    """The stacked rule of `loss_fn`; the rules are for the mean over the batch only."""
    if getattr(loss_fn, "reduction", "mean") != "mean":
        return None
    return lookup(LOSS_RULES, loss_fn)


@dataclass
class Step:
    """One leaf module of the chain: its rule, its tangent rule (None: none) and its
    parameters' (local, full) names."""
    module: nn.Module
    fn: Rule
    names: list[tuple[str, str]]
    tangent: Callable | None = None

    def own(self, params: Params) -> Params:
        return {local: params[full] for local, full in self.names}


class StackedPlan:
    """The chain of a model as rule steps (see the module docstring), grouped by the model's
    blocks (`blocks[i]`: the steps of `model.blocks[i]`, what flossing's QR intervals count)."""

    def __init__(self, blocks: list[list[Step]]):
        self.blocks = blocks
        self.steps = [s for block in blocks for s in block]
        #: whether every step has a tangent rule (the pack's native flossing)
        self.tangents = all(s.tangent is not None for s in self.steps)

    def forward(self, params: Params, x: torch.Tensor, lead: int, shared: bool) -> torch.Tensor:
        """params: full name → (*L, …) stacks, `lead` = len(L); x: (B, *features) for all
        copies (`shared`) or (*L, B, *features) (L may broadcast) → (*L, B, *out). Leading
        linear maps are re-associated where that is cheaper (`linear_prefix`)."""
        h = x.flatten(1 if shared else lead + 1)
        start = linear_prefix.reassociated([s.module for s in self.steps], h.shape[-1], h.shape[-2])
        if start:  # the leading linear maps' product M (*L, in, out) once, then h·M
            h = torch.matmul(h, self.run(self.steps[:start], params, linear_prefix.basis(h)))
        return self.run(self.steps[start:], params, h)

    @staticmethod
    def run(steps: list[Step], params: Params, h: torch.Tensor) -> torch.Tensor:
        """h through `steps` one after another."""
        for s in steps:
            h = s.fn(s.module, s.own(params), h)
        return h


def _steps(module: nn.Module, prefix: str) -> list[Step] | None:
    if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
        out: list[Step] = []
        for name, child in module.named_children():
            inner = _steps(child, f"{prefix}{name}.")
            if inner is None:
                return None
            out += inner
        return out
    fn = find_rule(module)
    if fn is None:
        return None
    own = [n for n, _ in module.named_parameters(recurse=False)]
    if len(own) != len(list(module.parameters())):  # parameters in children the rule ignores
        return None
    return [Step(module, fn, [(n, prefix + n) for n in own], lookup(TANGENT_RULES, module))]


def plan(model: nn.Module) -> StackedPlan | None:
    """The stacked plan of `model`, or None when some part of it has no rule."""
    forward = CHAINS.get(type(model))
    if forward is None or forward_of(type(model)) is not forward:
        return None
    blocks: list[list[Step]] = []
    for i, block in enumerate(model.blocks):
        inner = _steps(block, f"blocks.{i}.")
        if inner is None:
            return None
        blocks.append(inner)
    return StackedPlan(blocks)


# --- rules -----------------------------------------------------------------------------------

@rule(nn.Linear)
def _linear(module, params, h):
    out = torch.matmul(h, params["weight"].mT)
    bias = params.get("bias")
    return out if bias is None else out + bias.unsqueeze(-2)


def _elementwise(module, params, h):
    return module(h)


rule(nn.Identity, nn.Tanh, nn.ReLU, nn.GELU, nn.Sigmoid)(_elementwise)


@loss_rule(nn.MSELoss)
def _mse(loss_fn, out, y, lead):
    return (out - y).square().flatten(lead).mean(-1)


def _register() -> None:
    from lipcore.models.deep_linear import DeepLinear
    from lipcore.models.lipschitz import LipschitzNet
    from lipcore.models.mlp import MLP
    from lipcore.training.losses import SequenceCrossEntropy

    chain_model(MLP, DeepLinear, LipschitzNet)
    import lipcore.training.stacked_tangents  # noqa: F401 - the LDLT and tangent rules

    @loss_rule(SequenceCrossEntropy)
    def _cross_entropy(loss_fn, out, y, lead):
        target = y.expand(out.shape[:-1])
        each = F.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1), reduction="none")
        return each.reshape(*out.shape[:lead], -1).mean(-1)


_register()
