"""SLL, SDP-based Lipschitz layers (Araujo et al. 2023): y = x − Wᵀ(t ⊙ ReLU(Wx + b)),

t_i = 2 / (Σ_j |WWᵀ|_ij q_j/q_i + ε), q > 0 learnt. By the weighted Schur test
‖T^½WWᵀT^½‖ ≤ 2, so the Jacobian I − WᵀT^½DT^½W (D diagonal in [0, 1]) has eigenvalues in
[−1, 1]; the conv form uses the Gram WWᵀ over all shifts (zero padding, any size). Sizes
differ → pad, then cut.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.layers import functional as LF
from lipcore.layers.base import CONV_LAYERS, LAYERS, ConvLayer, LinearLayer, pad_features

EPS = 1e-6


@LAYERS.register("sll")
class SLLLinear(LinearLayer):
    """x: (..., in) → (..., out); W: (n, n), n = max(in, out); bound 1."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        n = max(in_features, out_features)
        super().__init__(in_features, out_features, bias, weight_shape=(n, n), bias_size=n, init="xavier")
        self.log_q = nn.Parameter(torch.zeros(n))

    def scales(self) -> torch.Tensor:
        w = self.weight
        return 2.0 / (LF.gram_row_sums(w @ w.t(), self.log_q.exp()) + EPS)  # (n,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_features(x, self.weight.shape[1])
        h = F.relu(F.linear(x, self.weight, self.bias)) * self.cached(self.scales)
        return (x - h @ self.weight)[..., : self.out_features]


@CONV_LAYERS.register("sll")
class SLLConv2d(ConvLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), zero 'same' padding; bound 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        n = max(in_channels, out_channels)
        super().__init__(in_channels, out_channels, kernel_size, bias, bias_size=n)
        self.log_q = nn.Parameter(torch.zeros(n))

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
