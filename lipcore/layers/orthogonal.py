"""Orthogonal linear layers: W = Q[:out, :in] with Q an exactly orthogonal n×n matrix,
n = max(in, out), so W is semi-orthogonal (every singular value 1).

`orthogonal` takes Q = exp(A − Aᵀ) (matrix exponential, the trivialisation of
Lezcano-Casado & Martínez-Rubio); `cayley.py` takes the Cayley transform instead.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.layers import functional as LF
from lipcore.layers.base import LAYERS, LipschitzLayer, check_size


class SemiOrthogonalLinear(LipschitzLayer):
    """x: (..., in) → (..., out) = x·Wᵀ + b with W = Q[:out, :in]; bound 1, isometry."""

    isometry = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        n = max(in_features, out_features)
        self.weight = nn.Parameter(torch.randn(n, n) * (0.5 / n ** 0.5))  # free; only its skew part acts
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def orthogonal(self, a: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def effective_weight(self) -> torch.Tensor:
        q = self.orthogonal(LF.skew(self.weight))
        return q[: self.out_features, : self.in_features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.cached(self.effective_weight), self.bias)


@LAYERS.register("orthogonal")
class OrthogonalLinear(SemiOrthogonalLinear):
    """Q = exp(A − Aᵀ)."""

    def orthogonal(self, a: torch.Tensor) -> torch.Tensor:
        return torch.linalg.matrix_exp(a)
