"""Sandwich layer (Wang & Manchester 2023): y = √2·AᵀΨ ReLU(√2·Ψ⁻¹Bx + b) + c.

[A B] (m × (out + in)) has orthonormal rows (the first m rows of a Cayley-orthogonal
matrix), Ψ = diag(e^d). The Jacobian is 2AᵀDB with D diagonal in [0, 1], and
2uᵀAᵀDBv ≤ ½‖Au + Bv‖² ≤ ‖[A B]‖²·½(‖u‖² + ‖v‖²), so ‖J‖ ≤ 1. Hidden width m = out.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.layers import functional as LF
from lipcore.layers.base import LAYERS, LinearLayer


@LAYERS.register("sandwich")
class SandwichLinear(LinearLayer):
    """x: (..., in) → (..., out); bound 1."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        n = in_features + out_features
        super().__init__(in_features, out_features, bias, weight_shape=(n, n), init="small")
        self.log_psi = nn.Parameter(torch.zeros(out_features))
        self.inner_bias = nn.Parameter(torch.zeros(out_features))

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        q = LF.cayley(LF.skew(self.weight))[: self.out_features]  # (m, out + in), rows orthonormal
        return q[:, : self.out_features], q[:, self.out_features:]  # A (m, out), B (m, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cached(self.factors)
        psi = self.log_psi.exp()
        h = F.relu(math.sqrt(2.0) * F.linear(x, b) / psi + self.inner_bias)
        return F.linear(math.sqrt(2.0) * h * psi, a.t(), self.bias)
