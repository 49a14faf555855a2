"""AOL (Prach & Lampert 2022): rescale the columns of W so the Schur test certifies ‖·‖ ≤ 1.

Linear: Ŵ = W·diag(d)^-½, d_i = Σ_j |WᵀW|_ij + ε. Conv: the same with the Gram over all
kernel shifts (KᵀK is a (C, C, 2k−1, 2k−1) kernel), valid for zero padding and any size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lipcore.layers import functional as LF
from lipcore.layers.base import CONV_LAYERS, LAYERS, AffineLinear, ConvLayer

EPS = 1e-10


def conv_gram(kernel: torch.Tensor) -> torch.Tensor:
    """KᵀK over all shifts: kernel (C_out, C_in, k, k) → (C_in, C_in, 2k−1, 2k−1)."""
    kt = kernel.transpose(0, 1)  # (C_in, C_out, k, k)
    k = kernel.shape[-1]
    return F.conv2d(kt, kt, padding=k - 1)


@LAYERS.register("aol")
class AOLLinear(AffineLinear):
    """x: (..., in) → (..., out); bound 1."""

    def effective_weight(self) -> torch.Tensor:
        w = self.weight
        d = LF.gram_row_sums(w.t() @ w) + EPS  # (in,)
        return w * d.rsqrt()[None, :]

    def applied_weight(self) -> torch.Tensor:
        return self.cached(self.effective_weight)


@CONV_LAYERS.register("aol")
class AOLConv2d(ConvLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), zero 'same' padding; bound 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, bias,
                         weight_shape=(out_channels, in_channels, kernel_size, kernel_size))
        with torch.no_grad():  # identity-like start, as AOL's authors initialise
            c = kernel_size // 2
            n = min(in_channels, out_channels)
            self.weight[range(n), range(n), c, c] += 1.0

    def effective_weight(self) -> torch.Tensor:
        k = self.weight
        d = LF.gram_row_sums(conv_gram(k)) + EPS  # (C_in,)
        return k * d.rsqrt()[None, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.cached(self.effective_weight), self.bias,
                        padding=self.kernel_size // 2)
