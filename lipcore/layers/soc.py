"""SOC, skew-orthogonal convolutions (Singla & Feizi 2021): y = exp(A)x by a Taylor series.

A truncated series T_m(A) is not orthogonal: REFERENCES.md measured 1.00025 for SOC's 5
training terms. Here A is scaled to ‖A‖ ≤ r with a guaranteed upper bound on ‖A‖, and the
output is divided by 1 + (e^r − Σ_{i≤m} rⁱ/i!) ≥ ‖T_m(A)‖, so the bound 1 holds with any m.
Train uses 6 terms, eval 12. Linear: A = W − Wᵀ (n×n). Conv: A = conv(K) − conv(K*), K* the
transposed, flipped kernel; with zero 'same' padding that operator is exactly skew.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lipcore.layers import functional as LF
from lipcore.layers.aol import conv_gram
from lipcore.layers.base import CONV_LAYERS, LAYERS, AffineLinear, ConvLayer, LipschitzLayer, pad_features

RADIUS = 1.0  # ‖A‖ is kept ≤ this, so the series converges fast


class _SOCBase(LipschitzLayer):
    isometry = True
    train_terms = 6
    eval_terms = 12

    @property
    def terms(self) -> int:
        return self.train_terms if self.training else self.eval_terms

    def scaled(self, a: torch.Tensor, norm_bound: torch.Tensor) -> tuple[torch.Tensor, float]:
        """A·min(1, r/‖A‖) and r' = min(‖A‖, r), the radius the series is certified on."""
        nb = norm_bound.detach().clamp_min(1e-12)
        factor = torch.clamp(RADIUS / nb, max=1.0)
        return a * factor, float(torch.clamp(nb, max=RADIUS))


@LAYERS.register("soc")
class SOCLinear(_SOCBase, AffineLinear):
    """x: (..., in) → (..., out); W = T_m(A)/c sliced to (out, in); bound 1."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        n = max(in_features, out_features)
        super().__init__(in_features, out_features, bias, weight_shape=(n, n), init="small")

    def effective_weight(self, terms: int) -> torch.Tensor:
        a = LF.skew(self.weight)
        a, r = self.scaled(a, LF.spectral_norm(a))
        eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
        q = LF.taylor_exp(lambda m: a @ m, eye, terms) / (1.0 + LF.exp_tail(r, terms))
        return q[: self.out_features, : self.in_features]

    def applied_weight(self) -> torch.Tensor:
        m = self.terms
        return self.cached(lambda: self.effective_weight(m), key=m)


@CONV_LAYERS.register("soc")
class SOCConv2d(_SOCBase, ConvLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), zero 'same' padding; bound 1, isometry."""

    def skew_kernel(self) -> tuple[torch.Tensor, float]:
        k = self.weight
        a = k - k.transpose(0, 1).flip(-1, -2)
        norm_bound = LF.schur_norm_bound(conv_gram(a)).sqrt()
        return self.scaled(a, norm_bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.terms
        a, r = self.cached(self.skew_kernel)
        pad = self.kernel_size // 2
        x = pad_features(x, a.shape[0], dim=1)
        y = LF.taylor_exp(lambda t: F.conv2d(t, a, padding=pad), x, m) / (1.0 + LF.exp_tail(r, m))
        return self.add_bias(y[:, : self.out_channels])
