"""Stacked tangent rules: `lipcore.tangents` on parameter stacks with leading member dims.

The pack's native flossing (`stacked_flossing`) carries each member's k tangents through the
blocks of the stacked plan: for every leaf module, its output and the products J_b q_i of each
example's Jacobian with the tangents, for all members at once.

    rule(module, params, h, q) → (out, jq)
    params: the module's own parameters, each (*L, *shape); h: (*L, B, N) the input;
    q: (*L, k, n, N) the tangents of the first n ≤ B examples; out (*L, B, M), jq (*L, k, n, M).

The formulas are `lipcore.tangents`' (the products forward mode computes), so a member's
tangents equal its solo run's up to rounding. Also here: the stacked forward rules of the
modules only Lipschitz nets have (`LDLTLayer`: its factors by batched float64 Cholesky and
triangular solves over the member dims, then two products; `Scale`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.models.ldlt import LDLTLayer, ldlt_factors
from lipcore.models.lipschitz import Scale
from lipcore.training.stacked_registry import rule, tangent_rule


def rows(t: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """t (*L, B, M) → (*L, 1, n, M): the examples that carry tangents, against q (*L, k, n, …)."""
    return t[..., None, : q.shape[-2], :]


@tangent_rule(nn.Linear)
def _linear(module, params, h, q):
    w = params["weight"]
    out = torch.matmul(h, w.mT)
    bias = params.get("bias")
    return (out if bias is None else out + bias.unsqueeze(-2)), torch.matmul(q, w.mT.unsqueeze(-3))


@tangent_rule(nn.Identity)
def _identity(module, params, h, q):
    return h, q


@tangent_rule(nn.Tanh)
def _tanh(module, params, h, q):
    out = torch.tanh(h)
    return out, torch.ops.aten.tanh_backward(q, rows(out, q))


@tangent_rule(nn.ReLU)
def _relu(module, params, h, q):
    out = F.relu(h)
    return out, torch.ops.aten.threshold_backward(q, rows(out, q), 0)


@rule(Scale)
def _scale_forward(module, params, h):
    return h * module.factor


@tangent_rule(Scale)
def _scale(module, params, h, q):
    return h * module.factor, q * module.factor


def _ldlt_affine(module, params, h):
    """(√2·s·W R⁻¹ h + b (*L, B, n_k), F = √(2α)·L⁻¹ or None)."""
    g, f = ldlt_factors(params["weight"], params["log_alpha"], module.scale, module.hidden)
    return torch.matmul(h, g.mT) + params["bias"].unsqueeze(-2), f


@rule(LDLTLayer)
def _ldlt_forward(module, params, h):
    z, f = _ldlt_affine(module, params, h)
    return z if f is None else torch.matmul(F.relu(z), f.mT)


@tangent_rule(LDLTLayer)
def _ldlt(module, params, h, q):
    # as `lipcore.tangents`' rule: the factors once for the rows and the tangents, each through
    # its own products (no cat of the two, nor its split's cat in the backward). The tangents
    # go in (n, k) row order: flossing's QR leaves them laid out so (Q's columns, the k tangents
    # of one example, are contiguous), so flattening them is a view and the next QR copies this
    # rule's result straight, not transposed. The ReLU's mask is a product with the rows' 0/1
    # signs: its backward is one pass (threshold_backward's also zero-fills a gradient for the
    # rows; a broadcast `where` costs four times the product).
    g, f = ldlt_factors(params["weight"], params["log_alpha"], module.scale, module.hidden)
    q = q.transpose(-3, -2)  # (*L, n, k, N)
    z = torch.matmul(h, g.mT) + params["bias"].unsqueeze(-2)
    t = torch.matmul(q.flatten(-3, -2), g.mT)  # (*L, n·k, M)
    if f is not None:
        z = F.relu(z)
        alive = (z[..., : q.shape[-3], None, :] > 0).to(z.dtype)  # (*L, n, 1, M)
        t = torch.matmul((t.unflatten(-2, q.shape[-3:-1]) * alive).flatten(-3, -2), f.mT)
        z = torch.matmul(z, f.mT)
    return z, t.unflatten(-2, q.shape[-3:-1]).transpose(-3, -2)
