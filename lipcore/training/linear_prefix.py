"""Re-associating a stacked chain's leading linear maps: x·M, M = I·W₁ᵀ⋯W_Lᵀ, instead of
((x·W₁ᵀ)⋯)·W_Lᵀ.

A chain that starts with maps linear in their input (bias-free `nn.Linear`, `nn.Identity`; a
deep linear network is nothing else) computes the same function of x whether the batch goes
through the maps one by one or the maps are first applied to the identity basis of the input
(in × in rows), which gives their product M (*L, in, out), and the batch is then multiplied by
M once. Per copy, the first costs N·c multiply-adds (c = Σ in_i·out_i over the maps, N rows),
the second in·c + N·in·out; for the deep linear network of the diagonal teacher (8 → 16 → 16
→ 8, a full batch of 256 rows) that is ≈ 8× less arithmetic, in the forward, in its backward
(autograd follows the product) and in second-order jets (`stacked_jets`), whose first-order
tangents ḣ_k and second-order sum S are linear in the input too: those of the basis, mapped by
x the same way. Exact up to rounding (only the order of the products changes).

A module type joins by registering `fn(module, width) → (out width, multiply-adds per row)`,
or None where this module is not linear in its input (a `Linear` with a bias).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

Shape = Callable[[nn.Module, int], tuple[int, int] | None]
LINEAR_MAPS: dict[type, Shape] = {}


def linear_map(*classes: type) -> Callable[[Shape], Shape]:
    """Register `fn(module, width) → (out width, cost per row) | None` for `classes` (exact
    class: a subclass may change the map)."""
    def register(fn: Shape) -> Shape:
        for cls in classes:
            LINEAR_MAPS[cls] = fn
        return fn
    return register


@linear_map(nn.Linear)
def _linear(module: nn.Linear, width: int) -> tuple[int, int] | None:
    if module.bias is not None or module.in_features != width:
        return None
    return module.out_features, module.in_features * module.out_features


@linear_map(nn.Identity)
def _identity(module: nn.Identity, width: int) -> tuple[int, int]:
    return width, 0


def reassociated(modules: Sequence[nn.Module], width: int, rows: int) -> int:
    """How many leading `modules` to apply to the identity basis instead of the `rows` input
    rows of `width` features: the longest linear prefix when that costs less, else 0."""
    best, cost, out = 0, 0, width
    for i, module in enumerate(modules):
        shape = LINEAR_MAPS.get(type(module))
        step = None if shape is None else shape(module, out)
        if step is None:
            break
        out, cost = step[0], cost + step[1]
        if width * cost + rows * width * out < rows * cost:
            best = i + 1
    return best


def basis(h: torch.Tensor) -> torch.Tensor:
    """The identity basis (in, in) of h's last dimension: the rows a prefix maps into M."""
    return torch.eye(h.shape[-1], dtype=h.dtype, device=h.device)

