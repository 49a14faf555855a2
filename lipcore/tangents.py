"""Tangent rules: (module(h), J·q) by explicit products, one rule per module type.

Gradient flossing (`lipcore.flossing`) needs, for every block, its output and the products
J_b q_i of each example's Jacobian with k tangents. Forward-mode autograd gives both for any
module, but on the CPU it is slow for these small shapes: the k tangents need k copies of the
primal (a dual tensor carries one tangent), and a parameter without a tangent turns into a
ZeroTensor whose additions take a slow path (a 32×32 `Linear` block: ~600 µs by dual numbers,
~110 µs by the products below). So the common module types have a rule written out here, the
same products forward-mode computes (the same formulas, so equal up to rounding), and
everything else falls back to forward mode, module by module.

    propagate(module, h, q, fallback) → (out, jq)
    h: (B, *features) the block's input; q: (k, n, *features) the tangents of its first n ≤ B
    examples; out: module(h) (B, *out_features); jq: (k, n, *out_features).

n < B lets one pass carry a training batch and the tangents of its first n examples (the
flossing rows), so the constrained weights and the primal are computed once for both.

A rule is registered for a class with `@rule(cls)` and found along the module's MRO, so a
subclass (e.g. `UnconstrainedLinear` of `nn.Linear`) inherits its parent's rule. Rules are
plain tensor code, so they compose with `torch.func.vmap` and `functional_call` (packed
members) as long as the fallback does too (`torch.func.jvp`, not `forward_ad.make_dual`).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Propagation = tuple[torch.Tensor, torch.Tensor]
Fallback = Callable[[nn.Module, torch.Tensor, torch.Tensor], Propagation]
Rule = Callable[[nn.Module, torch.Tensor, torch.Tensor, Fallback], Propagation]

RULES: dict[type, Rule] = {}


def rule(*classes: type) -> Callable[[Rule], Rule]:
    """Register `fn(module, h, q, fallback) → (out, jq)` for `classes` (and their subclasses)."""
    def register(fn: Rule) -> Rule:
        for cls in classes:
            RULES[cls] = fn
        return fn
    return register


def by_mro(registry: dict, module: nn.Module):
    """registry's entry for the nearest class along type(module)'s MRO, or None."""
    for cls in type(module).__mro__:
        if cls in registry:
            return registry[cls]
    return None


def find_rule(module: nn.Module) -> Rule | None:
    return by_mro(RULES, module)


def propagate(module: nn.Module, h: torch.Tensor, q: torch.Tensor, fallback: Fallback) -> Propagation:
    """(module(h), J q) by the module's rule, or by `fallback` when it has none."""
    fn = find_rule(module)
    return fallback(module, h, q) if fn is None else fn(module, h, q, fallback)


def _feature_dim(dim: int, ndim: int) -> int:
    """`dim` of h (ndim dims) as a dim of q, which has the tangent index in front."""
    return (dim % ndim) + 1


@rule(nn.Sequential)
def _sequential(module, h, q, fallback):
    for child in module:
        h, q = propagate(child, h, q, fallback)
    return h, q


@rule(nn.Identity)
def _identity(module, h, q, fallback):
    return h, q


@rule(nn.Linear)
def _linear(module, h, q, fallback):
    return F.linear(h, module.weight, module.bias), F.linear(q, module.weight)


def rows(t: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The first n rows of t (B, ...), n = q.shape[1]: the examples that carry tangents."""
    return t if t.shape[0] == q.shape[1] else t[: q.shape[1]]


@rule(nn.Tanh)
def _tanh(module, h, q, fallback):
    out = torch.tanh(h)
    return out, torch.ops.aten.tanh_backward(q, rows(out, q))  # q·(1 − out²), forward mode's formula


@rule(nn.ReLU)
def _relu(module, h, q, fallback):
    out = F.relu(h)
    return out, torch.ops.aten.threshold_backward(q, rows(out, q), 0)  # q where out > 0, as forward mode


def _max_min_tangents(a, b, qa, qb):
    """Tangents of (max(a, b), min(a, b)); a tie passes the mean, as torch's forward mode."""
    mean = (qa + qb) / 2
    upper = torch.where(a > b, qa, torch.where(a < b, qb, mean))
    lower = torch.where(a < b, qa, torch.where(a > b, qb, mean))
    return upper, lower


def _register_activations() -> None:
    from lipcore.layers.activations import GroupSort, MaxMin

    @rule(MaxMin)
    def _maxmin(module, h, q, fallback):
        dim = module.dim % h.dim()
        c = h.shape[dim]
        half = c // 2
        sizes = [half, half, c - 2 * half]
        a, b, rest = torch.split(h, sizes, dim=dim)
        qa, qb, qrest = torch.split(q, sizes, dim=dim + 1)
        upper, lower = _max_min_tangents(rows(a, q), rows(b, q), qa, qb)
        return (torch.cat([torch.maximum(a, b), torch.minimum(a, b), rest], dim=dim),
                torch.cat([upper, lower, qrest], dim=dim + 1))

    @rule(GroupSort)
    def _groupsort(module, h, q, fallback):
        dim = module.dim % h.dim()
        outs, tangents = [], []
        for part, qpart in zip(torch.split(h, module.group_size, dim=dim),
                               torch.split(q, module.group_size, dim=dim + 1)):
            values, index = part.sort(dim=dim, descending=True)
            outs.append(values)
            tangents.append(torch.gather(qpart, dim + 1, rows(index, q).expand_as(qpart)))
        return torch.cat(outs, dim=dim), torch.cat(tangents, dim=dim + 1)


def _register_layers() -> None:
    from lipcore.layers.base import AffineLinear
    from lipcore.models.ldlt import LDLTChain, LDLTLayer
    from lipcore.models.lipschitz import Residual, Scale

    @rule(AffineLinear)
    def _affine(module, h, q, fallback):
        w = module.applied_weight()
        return F.linear(h, w, module.bias), F.linear(q, w)

    @rule(Scale)
    def _scale(module, h, q, fallback):
        return h * module.factor, q * module.factor

    @rule(Residual)
    def _residual(module, h, q, fallback):
        t = torch.sigmoid(module.theta)
        out, jq = propagate(module.inner, h, q, fallback)
        return (1 - t) * h + t * out, (1 - t) * q + t * jq

    @rule(LDLTChain)
    def _chain(module, h, q, fallback):
        for layer in module.layers:
            h, q = propagate(layer, h, q, fallback)
        return h, q

    @rule(LDLTLayer)
    def _ldlt(module, h, q, fallback):
        # the factors once for the example and its k tangents
        g, f = module.cached(module.factors)
        z = F.linear(h, g, module.bias)
        t = F.linear(q, g)
        if f is None:
            return z, t
        z = F.relu(z)
        t = torch.ops.aten.threshold_backward(t, rows(z, q), 0)
        return F.linear(z, f), F.linear(t, f)


_register_activations()
_register_layers()
