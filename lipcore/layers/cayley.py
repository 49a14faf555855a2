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
from lipcore.layers.base import CONV_LAYERS, LAYERS, LipschitzLayer, check_size, pad_features
from lipcore.layers.orthogonal import SemiOrthogonalLinear


@LAYERS.register("cayley")
class CayleyLinear(SemiOrthogonalLinear):
    """Q = (I + A)⁻¹(I − A), A = W − Wᵀ."""

    def orthogonal(self, a: torch.Tensor) -> torch.Tensor:
        return LF.cayley(a)


def fft_kernel(kernel: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """K̂ at the rfft2 frequencies of an h×w circular convolution (cross-correlation, centred).

    kernel (C_out, C_in, k, k) → (h, w//2+1, C_out, C_in) complex.
    """
    k = kernel.shape[-1]
    if k > h or k > w:
        raise ValueError(f"kernel_size: {k} exceeds the image size {h}×{w}")
    # Cross-correlation y[u] = Σ_s K[s] x[u+s−c] is convolution with the flipped kernel,
    # placed so that its centre sits at index 0 (wrapping around).
    flipped = kernel.flip(-1, -2)
    grid = kernel.new_zeros(kernel.shape[:2] + (h, w))
    grid[..., :k, :k] = flipped
    grid = torch.roll(grid, shifts=(-(k // 2), -(k // 2)), dims=(-2, -1))
    return torch.fft.rfft2(grid).permute(2, 3, 0, 1)


def apply_per_frequency(x: torch.Tensor, q: torch.Tensor, out_channels: int) -> torch.Tensor:
    """Circular convolution given per-frequency matrices. x (B, n, H, W), q (H, W//2+1, n, n)."""
    h, w = x.shape[-2:]
    xf = torch.fft.rfft2(x).permute(2, 3, 1, 0)  # (H, W', n, B)
    yf = (q @ xf).permute(3, 2, 0, 1)  # (B, n, H, W')
    return torch.fft.irfft2(yf, s=(h, w))[:, :out_channels]


@CONV_LAYERS.register("cayley")
class CayleyConv2d(LipschitzLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), circular; bound 1, isometry (semi-orthogonal)."""

    isometry = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        self.in_channels = check_size("in_channels", in_channels)
        self.out_channels = check_size("out_channels", out_channels)
        self.kernel_size = kernel_size
        n = max(in_channels, out_channels)
        self.weight = nn.Parameter(torch.randn(n, n, kernel_size, kernel_size) / (n * kernel_size ** 2) ** 0.5)
        self.alpha = nn.Parameter(torch.ones(()))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def frequency_matrices(self, h: int, w: int) -> torch.Tensor:
        kf = fft_kernel(self.weight, h, w)
        return LF.cayley(self.alpha * LF.skew(kf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        n = self.weight.shape[0]
        q = self.cached(lambda: self.frequency_matrices(h, w), key=(h, w))
        y = apply_per_frequency(pad_features(x, n, dim=1), q, self.out_channels)
        return y if self.bias is None else y + self.bias[:, None, None]
