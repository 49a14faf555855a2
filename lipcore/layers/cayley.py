"""Cayley layers (Trockman & Kolter 2021): Q = (I + A)⁻¹(I − A) for a skew A.

Linear: Q is n×n, n = max(in, out), sliced to (out, in). Conv: the circular convolution is
diagonalised by the 2-D FFT; per frequency ω, Â(ω) = α(K̂(ω) − K̂(ω)ᴴ) is skew-Hermitian and
its Cayley transform unitary, so the layer is exactly orthogonal on the input's size
(circular boundary). Channels are zero-padded to n = max(C_in, C_out) and cut to C_out.
"""
from __future__ import annotations

import torch
from torch import nn

from lipcore.layers import functional as LF
from lipcore.layers.base import CONV_LAYERS, LAYERS, ConvLayer, pad_features
from lipcore.layers.orthogonal import SemiOrthogonalLinear


@LAYERS.register("cayley")
class CayleyLinear(SemiOrthogonalLinear):
    """Q = (I + A)⁻¹(I − A), A = W − Wᵀ."""

    def orthogonal(self, a: torch.Tensor) -> torch.Tensor:
        return LF.cayley(a)


def fft_kernel(kernel: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """K̂ at the rfft2 frequencies of an h×w circular convolution (cross-correlation, centred).

    kernel (C_out, C_in, k, k) → (h, w//2+1, C_out, C_in) complex. Cross-correlation
    y[u] = Σ_s K[s]·x[u+s−c] is convolution with the flipped kernel, whose tap s lands at
    (s − c) mod size; on an image smaller than the kernel the taps wrap and add up, which is
    exactly what a circular convolution on that torus does.
    """
    c_out, c_in, k, _ = kernel.shape
    c = k // 2
    taps = torch.arange(k, device=kernel.device) - c
    index = ((taps % h)[:, None] * w + (taps % w)[None, :]).reshape(-1)
    grid = kernel.new_zeros(c_out, c_in, h * w)
    grid = grid.index_add(2, index, kernel.flip(-1, -2).reshape(c_out, c_in, k * k))
    return torch.fft.rfft2(grid.reshape(c_out, c_in, h, w)).permute(2, 3, 0, 1)


def apply_per_frequency(x: torch.Tensor, q: torch.Tensor, out_channels: int) -> torch.Tensor:
    """Circular convolution given per-frequency matrices. x (B, n, H, W), q (H, W//2+1, n, n)."""
    h, w = x.shape[-2:]
    xf = torch.fft.rfft2(x).permute(2, 3, 1, 0)  # (H, W', n, B)
    yf = (q @ xf).permute(3, 2, 0, 1)  # (B, n, H, W')
    return torch.fft.irfft2(yf, s=(h, w))[:, :out_channels]


@CONV_LAYERS.register("cayley")
class CayleyConv2d(ConvLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), circular; bound 1, isometry (semi-orthogonal)."""

    isometry = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, bias)
        self.alpha = nn.Parameter(torch.ones(()))

    def frequency_matrices(self, h: int, w: int) -> torch.Tensor:
        kf = fft_kernel(self.weight, h, w)
        return LF.cayley(self.alpha * LF.skew(kf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        q = self.cached(lambda: self.frequency_matrices(h, w), key=(h, w))
        return self.add_bias(apply_per_frequency(pad_features(x, self.n, dim=1), q, self.out_channels))
