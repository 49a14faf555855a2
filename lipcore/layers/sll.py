"""SLL, SDP-based Lipschitz layers (Araujo et al. 2023): y = x − Wᵀ(t ⊙ ReLU(Wx + b)),

t_i = 2 / (Σ_j |WWᵀ|_ij q_j/q_i + ε), q > 0 learnt. The diagonal T = diag(t) satisfies the
Schur-type condition WᵀTW ⪯ 2·I·… that makes the residual map 1-Lipschitz; the conv form uses
the Gram WWᵀ over all shifts (zero padding, any size). Sizes differ → pad, then cut.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.layers import functional as LF
from lipcore.layers.base import CONV_LAYERS, LAYERS, LipschitzLayer, check_size, pad_features

EPS = 1e-6


@LAYERS.register("sll")
class SLLLinear(LipschitzLayer):
    """x: (..., in) → (..., out); W: (n, n), n = max(in, out); bound 1."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        n = max(in_features, out_features)
        self.weight = nn.Parameter(torch.empty(n, n))
        nn.init.xavier_normal_(self.weight)
        self.log_q = nn.Parameter(torch.zeros(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def scales(self) -> torch.Tensor:
        w = self.weight
        return 2.0 / (LF.gram_row_sums(w @ w.t(), self.log_q.exp()) + EPS)  # (n,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_features(x, self.weight.shape[1])
        h = F.relu(F.linear(x, self.weight, self.bias)) * self.cached(self.scales)
        return (x - h @ self.weight)[..., : self.out_features]


@CONV_LAYERS.register("sll")
class SLLConv2d(LipschitzLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), zero 'same' padding; bound 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: must be odd, got {kernel_size}")
        self.in_channels = check_size("in_channels", in_channels)
        self.out_channels = check_size("out_channels", out_channels)
        self.kernel_size = kernel_size
        n = max(in_channels, out_channels)
        self.weight = nn.Parameter(torch.randn(n, n, kernel_size, kernel_size) / (n * kernel_size ** 2) ** 0.5)
        self.log_q = nn.Parameter(torch.zeros(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def scales(self) -> torch.Tensor:
        k = self.weight
        gram = F.conv2d(k, k, padding=self.kernel_size - 1)  # WWᵀ over shifts: (n, n, 2k−1, 2k−1)
        return 2.0 / (LF.gram_row_sums(gram, self.log_q.exp()) + EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.kernel_size // 2
        x = pad_features(x, self.weight.shape[1], dim=1)
        h = F.relu(F.conv2d(x, self.weight, self.bias, padding=pad))
        h = h * self.cached(self.scales)[None, :, None, None]
        return (x - F.conv_transpose2d(h, self.weight, padding=pad))[:, : self.out_channels]
