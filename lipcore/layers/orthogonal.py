"""Orthogonal linear layers: W = Q[:out, :in] with Q an exactly orthogonal n×n matrix,
n = max(in, out), so W is semi-orthogonal (every singular value 1).

`orthogonal` takes Q = exp(A − Aᵀ) (matrix exponential, the trivialisation of
Lezcano-Casado & Martínez-Rubio); `cayley.py` takes the Cayley transform instead.
"""
from __future__ import annotations

import torch

from lipcore.layers import functional as LF
from lipcore.layers.base import LAYERS, AffineLinear


class SemiOrthogonalLinear(AffineLinear):
    """x: (..., in) → (..., out) = x·Wᵀ + b with W = Q[:out, :in]; bound 1, isometry."""

    isometry = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        n = max(in_features, out_features)  # free (n, n); only its skew part acts
        super().__init__(in_features, out_features, bias, weight_shape=(n, n), init="small")

    def orthogonal(self, a: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def effective_weight(self) -> torch.Tensor:
        q = self.orthogonal(LF.skew(self.weight))
        return q[: self.out_features, : self.in_features]

    def applied_weight(self) -> torch.Tensor:
        return self.cached(self.effective_weight)


@LAYERS.register("orthogonal")
class OrthogonalLinear(SemiOrthogonalLinear):
    """Q = exp(A − Aᵀ)."""

    def orthogonal(self, a: torch.Tensor) -> torch.Tensor:
        return torch.linalg.matrix_exp(a)
