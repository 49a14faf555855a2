"""Spectral normalisation: W / σ_max(W), with σ_max exact (SVD), never a power-iteration
estimate (an estimate is low, so W/σ̂ can exceed 1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.layers import functional as LF
from lipcore.layers.base import LAYERS, LipschitzLayer, check_size


@LAYERS.register("spectral")
class SpectralLinear(LipschitzLayer):
    """x: (..., in) → (..., out) = x·(W/‖W‖₂)ᵀ + b; bound 1."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.orthogonal_(self.weight)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def effective_weight(self) -> torch.Tensor:
        w = self.weight
        return w / LF.spectral_norm(w).clamp_min(1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.cached(self.effective_weight), self.bias)
