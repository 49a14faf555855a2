"""Spectral normalisation: W / σ_max(W), with σ_max exact (SVD), never a power-iteration
estimate (an estimate is low, so W/σ̂ can exceed 1)."""
from __future__ import annotations

import torch

from lipcore.layers import functional as LF
from lipcore.layers.base import LAYERS, AffineLinear


@LAYERS.register("spectral")
class SpectralLinear(AffineLinear):
    """x: (..., in) → (..., out) = x·(W/‖W‖₂)ᵀ + b; bound 1."""

    def effective_weight(self) -> torch.Tensor:
        w = self.weight
        return w / LF.spectral_norm(w).clamp_min(1e-12)

    def applied_weight(self) -> torch.Tensor:
        return self.cached(self.effective_weight)
