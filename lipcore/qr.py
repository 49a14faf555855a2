"""A reduced QR whose gradient stays finite when the input loses rank.

`torch.linalg.qr`'s backward for A = QR (A: (..., m, n), m ≥ n) is

    M  = R ḡ_Rᵀ − ḡ_Qᵀ Q,     ḡ_A = (ḡ_Q + Q·copyltu(M)) R⁻ᵀ,

copyltu(M) = tril(M, −1) + tril(M, −1)ᵀ + diag(M) (Walter & Lehmann 2018; Liao et al. 2019).
R⁻ᵀ is undefined when a diagonal entry of R is 0, i.e. when A's columns are linearly
dependent, and torch then returns inf/NaN. A flossing tangent block J·Q loses rank whenever
fewer units than tangents are alive (a ReLU block of width 8 with five dead units for an
example, and k = 4 tangents), so this is an everyday event, not a corner case.

`qr` returns torch's Q and R unchanged and uses the same formula backwards, with R's
diagonal floored at `rank_floor(R)` in magnitude (sign kept, 0 counted as +) inside R⁻ᵀ. Where
every |R_ii| is above the floor the gradient is torch's exactly; below it the direction is
numerically dead (its size is round-off), its Q column is arbitrary, and the floored solve
gives a finite gradient for it instead of inf/NaN.
"""
from __future__ import annotations

import torch


def rank_floor(r: torch.Tensor) -> torch.Tensor:
    """(..., 1): the size below which |R_ii| is round-off, eps · max(max_j |R_jj|, 1) per matrix.

    The 1 keeps the floor positive for an all-zero A; tangent blocks have unit-norm inputs
    (Q's columns), so their R entries are O(1) and the floor is about the dtype's eps."""
    diag = torch.diagonal(r, dim1=-2, dim2=-1).abs()
    scale = diag.amax(-1, keepdim=True).clamp_min(1.0)
    return torch.finfo(r.dtype).eps * scale


def floored_diagonal(r: torch.Tensor) -> torch.Tensor:
    """R with each |R_ii| raised to at least `rank_floor(R)` (sign kept, 0 → +floor)."""
    diag = torch.diagonal(r, dim1=-2, dim2=-1)
    floor = rank_floor(r)
    floored = torch.where(diag.abs() >= floor, diag, torch.where(diag < 0, -floor, floor))
    out = r.clone()
    torch.diagonal(out, dim1=-2, dim2=-1).copy_(floored)
    return out


def _qr_backward(q: torch.Tensor, r: torch.Tensor, g_q: torch.Tensor | None,
                 g_r: torch.Tensor | None) -> torch.Tensor | None:
    """ḡ_A from Q, R and their gradients (None where absent), the module docstring's formula."""
    if g_q is None and g_r is None:
        return None
    # M = R ḡ_Rᵀ − ḡ_Qᵀ Q and b = ḡ_Q + Q·copyltu(M), a term left out where its gradient
    # is absent (flossing's last Q has none): fewer small ops, the same values.
    if g_r is None:
        m = -(g_q.mT @ q)
    elif g_q is None:
        m = r @ g_r.mT
    else:
        m = r @ g_r.mT - g_q.mT @ q
    copyltu = m.tril() + m.tril(-1).mT
    b = q @ copyltu if g_q is None else g_q + q @ copyltu
    # b R⁻ᵀ: solve X Rᵀ = b, Rᵀ lower triangular
    return torch.linalg.solve_triangular(floored_diagonal(r).mT, b, upper=False, left=False)


class _QR(torch.autograd.Function):
    """Under `torch.func` transforms: packed training takes the exponents of stacked members
    under vmap, and this form (forward without ctx, `setup_context`) has a generated vmap rule."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, r = torch.linalg.qr(a)
        return q, r  # a plain tuple: vmap's generated rule cannot flatten torch's result type

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*output)
        ctx.set_materialize_grads(False)  # an absent gradient stays None, not a zero tensor

    @staticmethod
    def backward(ctx, g_q: torch.Tensor | None, g_r: torch.Tensor | None) -> torch.Tensor | None:
        return _qr_backward(*ctx.saved_tensors, g_q, g_r)


class _EagerQR(torch.autograd.Function):
    """The same Function in the classic form, for plain eager autograd: its `apply` costs about
    half of `_QR`'s (~50 µs vs ~100 µs a call on the CPU), which the flossing chain pays per block."""

    @staticmethod
    def forward(ctx, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, r = torch.linalg.qr(a)
        ctx.save_for_backward(q, r)
        ctx.set_materialize_grads(False)
        return q, r

    @staticmethod
    def backward(ctx, g_q: torch.Tensor | None, g_r: torch.Tensor | None) -> torch.Tensor | None:
        return _qr_backward(*ctx.saved_tensors, g_q, g_r)


def qr(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reduced QR of a: (..., m, n) with m ≥ n → Q (..., m, n), R (..., n, n), as
    `torch.linalg.qr`, with a backward that is finite for rank-deficient a (module docstring)."""
    if a.shape[-2] < a.shape[-1]:
        raise ValueError(f"qr: needs at least as many rows as columns, got {tuple(a.shape[-2:])}")
    if torch._C._functorch.peek_interpreter_stack() is None:  # no vmap/grad/jvp transform active
        return _EagerQR.apply(a)
    return _QR.apply(a)


def log_abs_diagonal(r: torch.Tensor) -> torch.Tensor:
    """log max(|R_ii|, `rank_floor(R)`): (..., n). A numerically dead direction counts as a
    contraction to round-off (log eps, ≈ −15.9 in float32) and passes no gradient."""
    diag = torch.diagonal(r, dim1=-2, dim2=-1).abs()
    return torch.log(torch.maximum(diag, rank_floor(r.detach())))
