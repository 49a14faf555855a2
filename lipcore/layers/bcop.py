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

from lipcore.layers import functional as LF
from lipcore.layers.base import CONV_LAYERS, ConvLayer, pad_features
from lipcore.layers.cayley import apply_per_frequency, fft_kernel


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
class BCOPConv2d(ConvLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), circular padding; bound 1, isometry."""

    isometry = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        n = max(in_channels, out_channels)
        # [0]: H; then for each of the k−1 factors one matrix for P (rows) and one for R (cols).
        super().__init__(in_channels, out_channels, kernel_size, bias,
                         weight_shape=(1 + 2 * (kernel_size - 1), n, n))
        self.rank = max(1, n // 2)

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
        h, w = x.shape[-2:]
        if pad <= min(h, w):
            y = F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="circular"), k)[:, : self.out_channels]
        else:  # an image smaller than the padding: the same circular convolution by FFT
            y = apply_per_frequency(x, fft_kernel(k, h, w), self.out_channels)
        return self.add_bias(y)
