"""BCOP, block convolution orthogonal parameterisation (Li et al. 2019).

The k×k kernel is H ⊛ Π_i (P_i + (I−P_i)z₁)(R_i + (I−R_i)z₂): an orthogonal matrix H block-
convolved with k−1 pairs of 2-tap factors built from symmetric projectors P = QQᵀ. Each factor
is unitary at every frequency, so the circular convolution is exactly orthogonal on any size.
Orthonormal matrices come from the matrix exponential of a skew matrix (exact) instead of
Björck iterations (approximate), so no iteration count can break the bound.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.layers import functional as LF
from lipcore.layers.base import CONV_LAYERS, LipschitzLayer, check_size, pad_features


def compose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Kernel of x ↦ a ⋆ (b ⋆ x) (cross-correlations): (n,n,a1,a2), (n,n,b1,b2) → (n,n,a1+b1−1,a2+b2−1)."""
    n, _, a1, a2 = a.shape
    b1, b2 = b.shape[-2:]
    out = a.new_zeros(n, n, a1 + b1 - 1, a2 + b2 - 1)
    for i in range(a1):
        for j in range(a2):
            out[:, :, i:i + b1, j:j + b2] += torch.einsum("oc,cdxy->odxy", a[:, :, i, j], b)
    return out


@CONV_LAYERS.register("bcop")
class BCOPConv2d(LipschitzLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), circular padding; bound 1, isometry."""

    isometry = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: must be odd, got {kernel_size}")
        self.in_channels = check_size("in_channels", in_channels)
        self.out_channels = check_size("out_channels", out_channels)
        self.kernel_size = kernel_size
        n = max(in_channels, out_channels)
        self.rank = max(1, n // 2)
        # [0]: H; then for each of the k−1 factors one matrix for P (rows) and one for R (cols).
        self.weight = nn.Parameter(torch.randn(1 + 2 * (kernel_size - 1), n, n) * (0.5 / n ** 0.5))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def kernel(self) -> torch.Tensor:
        qs = torch.linalg.matrix_exp(LF.skew(self.weight))  # (1+2(k−1), n, n), orthogonal
        n = qs.shape[-1]
        eye = torch.eye(n, dtype=qs.dtype, device=qs.device)
        kern = qs[0][:, :, None, None]
        for f in range(self.kernel_size - 1):
            for q, axis in ((qs[1 + 2 * f], 2), (qs[2 + 2 * f], 3)):
                p = q[:, : self.rank] @ q[:, : self.rank].t()  # orthogonal projector
                taps = torch.stack([p, eye - p], dim=-1)  # (n, n, 2)
                factor = taps[:, :, :, None] if axis == 2 else taps[:, :, None, :]
                kern = compose(kern, factor)
        return kern  # (n, n, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.kernel_size // 2
        k = self.cached(self.kernel)
        x = pad_features(x, k.shape[0], dim=1)
        y = F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="circular"), k)[:, : self.out_channels]
        return y if self.bias is None else y + self.bias[:, None, None]
