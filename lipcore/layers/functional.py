"""Pure tensor functions the layers are built from (tier 1: no modules, no state).

Each returns a tensor that keeps autograd, so a layer's constraint is a differentiable
function of its free parameters. Shapes: matrices are (..., m, n); batched over leading dims.
"""
from __future__ import annotations

import math

import torch


def skew(a: torch.Tensor) -> torch.Tensor:
    """A − Aᴴ: skew-symmetric (skew-Hermitian if complex). (..., n, n) → (..., n, n)."""
    return a - a.transpose(-2, -1).conj()


def eye_like(a: torch.Tensor) -> torch.Tensor:
    n = a.shape[-1]
    return torch.eye(n, dtype=a.dtype, device=a.device).expand_as(a)


def cayley(a: torch.Tensor) -> torch.Tensor:
    """(I + A)⁻¹(I − A) for skew A: orthogonal (unitary) whatever A is; I + A is never
    singular because A's eigenvalues are imaginary."""
    eye = eye_like(a)
    return torch.linalg.solve(eye + a, eye - a)


def spectral_norm(w: torch.Tensor) -> torch.Tensor:
    """Exact σ_max of each matrix (SVD); an upper bound from power iteration would be a
    *lower* estimate, which is how a bound silently fails. (..., m, n) → (...)."""
    return torch.linalg.matrix_norm(w, ord=2)


def gram_row_sums(gram: torch.Tensor, q: torch.Tensor | None = None) -> torch.Tensor:
    """d_i = Σ_j |G_ij| q_j / q_i over the last dim(s) beyond the first (Schur test).

    gram: (n, n) or (n, n, kh, kw) (a convolution's Gram over all shifts) → (n,).
    """
    g = gram.abs()
    if g.dim() > 2:
        g = g.sum(dim=tuple(range(2, g.dim())))
    if q is None:
        return g.sum(dim=1)
    return (g * q[None, :]).sum(dim=1) / q


def schur_norm_bound(gram: torch.Tensor) -> torch.Tensor:
    """An upper bound on ‖W‖² from its Gram WᵀW: max_i Σ_j |(WᵀW)_ij| (over all shifts
    for a convolution). Valid for every input size and zero padding."""
    return gram_row_sums(gram).max()


def bjorck(w: torch.Tensor, iters: int) -> torch.Tensor:
    """Björck–Bowie iterations W ← 1.5W − 0.5·WWᵀW toward the nearest orthonormal matrix.

    The caller scales W to ‖W‖ ≤ 1 first; f(s) = 1.5s − 0.5s³ maps [0, 1] into [0, 1], so
    every iterate keeps ‖W‖ ≤ 1 however few iterations are run.
    """
    for _ in range(iters):
        if w.shape[-2] <= w.shape[-1]:
            w = 1.5 * w - 0.5 * (w @ w.transpose(-2, -1)) @ w
        else:
            w = 1.5 * w - 0.5 * w @ (w.transpose(-2, -1) @ w)
    return w


def exp_tail(r: float, terms: int) -> float:
    """e^r − Σ_{i≤terms} rⁱ/i!: bounds ‖exp(A) − T_terms(A)‖ when ‖A‖ ≤ r."""
    partial = sum(r ** i / math.factorial(i) for i in range(terms + 1))
    return max(math.exp(r) - partial, 0.0) + 1e-15


def taylor_exp(apply, x: torch.Tensor, terms: int) -> torch.Tensor:
    """Σ_{i≤terms} Aⁱx/i! with `apply(x) = Ax` (SOC: exp of a skew operator applied to x)."""
    out = x
    term = x
    for i in range(1, terms + 1):
        term = apply(term) / i
        out = out + term
    return out


def newton_schulz_inv_sqrt(a: torch.Tensor, iters: int) -> torch.Tensor:
    """≈ A^-½ for Hermitian PSD A with ‖A‖ ≤ 1 (coupled Newton–Schulz, as LOT uses)."""
    y = a
    z = eye_like(a).clone()
    eye = eye_like(a)
    for _ in range(iters):
        t = 0.5 * (3.0 * eye - z @ y)
        y = y @ t
        z = t @ z
    return z
