"""Lyapunov exponents along a model's `.blocks` and the gradient-flossing loss (Engelken 2023).

QR method: Q₀ (N, k) orthonormal; for each block t, Q ← J_t Q by forward-mode products
(dual numbers of `torch.autograd.forward_ad`, the k tangents as k copies of the batch) instead of full Jacobians, then
Q, R = qr(Q) and λ_i += log|R_ii|. Dividing by the number of blocks T gives natural-log
growth per block. The computation is differentiable, so mean(λ²) can be minimised; the QR
is `lipcore.qr.qr`, whose gradient stays finite when dead ReLU units leave a block's tangents
rank-deficient (|R_ii| at round-off counts as log eps and passes no gradient).

The chain starts at the first block whose input has at least k features and ends before the
first block whose output has fewer than k (e.g. a regression head), so k tangents always fit.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from lipcore.qr import log_abs_diagonal, qr
from lipcore.tangents import propagate


def dual_tangents(module: nn.Module, h: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(module(h), J q) by forward-mode dual numbers, for any module: h (B, ...), q (k, B, ...).

    One pass over the k·B rows (h repeated k times): modules map each example on its own,
    so row (i, b) carries J_b q_i."""
    k, b = q.shape[0], h.shape[0]
    with fwAD.dual_level():
        dual = fwAD.make_dual(h.repeat(k, *[1] * (h.dim() - 1)), q.reshape(k * b, *h.shape[1:]))
        out, tangents = fwAD.unpack_dual(module(dual))
    return out[:b], tangents.reshape(k, b, *out.shape[1:])


def func_jvp_tangents(module: nn.Module, h: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same products by `torch.func.jvp`, which composes with `vmap` (dual tensors made by
    `forward_ad.make_dual` have no batching rule)."""
    k, b = q.shape[0], h.shape[0]
    out, tangents = torch.func.jvp(module, (h.repeat(k, *[1] * (h.dim() - 1)),),
                                   (q.reshape(k * b, *h.shape[1:]),))
    return out[:b], tangents.reshape(k, b, *out.shape[1:])


def _block_tangents(block: nn.Module, h: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(block(h), J q) for h: (B, N) and tangents q: (k, B, N) → (B, M), (k, B, M): the
    explicit rules of `lipcore.tangents`, dual numbers for modules without one."""
    return propagate(block, h, q, dual_tangents)


def jvp_block_tangents(block: nn.Module, h: torch.Tensor,
                       q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """As `_block_tangents` with `torch.func.jvp` for modules without a rule, so it composes
    with `vmap`: packed training takes this one."""
    return propagate(block, h, q, func_jvp_tangents)


Tangents = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def lyapunov_exponents(model: nn.Module, x: torch.Tensor, k: int,
                       generator: torch.Generator | None = None,
                       tangents: Tangents = _block_tangents) -> torch.Tensor:
    """The k largest finite-time Lyapunov exponents (descending), averaged over the batch x.

    x: (B, in_features); returns a (k,) tensor with gradients to the model's parameters.
    `tangents(block, h, q)` gives (block(h), J q), by dual numbers unless told otherwise.
    """
    blocks = getattr(model, "blocks", None)
    if blocks is None or len(blocks) == 0:
        raise ValueError("lyapunov_exponents: the model has no .blocks")
    h = x.flatten(1) if x.dim() > 2 else x
    q = None
    rs = []  # each block's R (B, k, k); their log-diagonals are taken at once at the end
    for block in blocks:
        if q is None:
            if h.shape[1] < k:
                h = block(h)
                continue
            g = generator or torch.Generator().manual_seed(0)
            q0, _ = torch.linalg.qr(torch.randn(h.shape[1], k, generator=g, dtype=h.dtype))
            q = q0.T.to(h.device)[:, None, :].expand(k, h.shape[0], h.shape[1])  # (k, B, N)
        out, jq = tangents(block, h, q)
        if out.shape[1] < k:
            break
        mat = jq.permute(1, 2, 0)  # (B, M, k): columns are the tangents
        qm, r = qr(mat)  # finite gradients when dead units leave the tangents rank-deficient
        rs.append(r)
        q = qm.permute(2, 0, 1)
        h = out
    if not rs:
        raise ValueError(f"lyapunov_exponents: no block keeps at least k={k} features")
    log_r = log_abs_diagonal(torch.stack(rs)).sum(0)  # (B, k)
    lam = (log_r / len(rs)).mean(0)  # (k,)
    return torch.sort(lam, descending=True).values


def flossing_loss(model: nn.Module, x: torch.Tensor, k: int,
                  generator: torch.Generator | None = None,
                  tangents: Tangents = _block_tangents) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean(λ²), λ): the penalty that drives the k exponents towards 0."""
    lam = lyapunov_exponents(model, x, k, generator, tangents)
    return (lam ** 2).mean(), lam
