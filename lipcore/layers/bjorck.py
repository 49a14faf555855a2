"""Björck orthonormalisation (Anil et al. 2019, deel-torchlip's `SpectralLinear`+Björck).

W is first divided by a guaranteed upper bound of ‖W‖ (√ of the Schur bound on WᵀW), then
iterated W ← 1.5W − 0.5·WWᵀW; each iterate keeps ‖W‖ ≤ 1, so the bound holds after any
number of iterations (15 in training, 30 in eval) and tends to orthonormal.
"""
from __future__ import annotations

import torch

from lipcore.layers import functional as LF
from lipcore.layers.base import LAYERS, AffineLinear


@LAYERS.register("bjorck")
class BjorckLinear(AffineLinear):
    """x: (..., in) → (..., out); bound 1 (not an exact isometry after finitely many steps)."""

    train_iters = 15
    eval_iters = 30

    def effective_weight(self, iters: int) -> torch.Tensor:
        w = self.weight
        gram = w.t() @ w if w.shape[0] >= w.shape[1] else w @ w.t()
        w = w / LF.schur_norm_bound(gram).sqrt().clamp_min(1e-12)
        return LF.bjorck(w, iters)

    def applied_weight(self) -> torch.Tensor:
        it = self.train_iters if self.training else self.eval_iters
        return self.cached(lambda: self.effective_weight(it), key=it)
