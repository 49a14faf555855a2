"""CPL, convex potential layers (Meunier et al. 2022): y = x − (2/σ²)·Wᵀ ReLU(Wx + b).

The Jacobian I − (2/σ²)WᵀDW (D diagonal in [0, 1]) is symmetric with eigenvalues in
[−1, 1] as long as σ ≥ ‖W‖. σ must therefore be an upper bound: exact SVD for the linear
layer, the Schur bound over all shifts for the convolution (power iteration, as in the
paper, underestimates). Sizes differ → zero-pad the input to n = max(in, out), cut the output.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lipcore.layers import functional as LF
from lipcore.layers.aol import conv_gram
from lipcore.layers.base import CONV_LAYERS, LAYERS, ConvLayer, LinearLayer, pad_features


@LAYERS.register("cpl")
class CPLLinear(LinearLayer):
    """x: (..., in) → (..., out); W: (n, n), n = max(in, out); bound 1."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        n = max(in_features, out_features)
        super().__init__(in_features, out_features, bias, weight_shape=(n, n), bias_size=n, init="xavier")

    def step(self) -> torch.Tensor:
        return 2.0 / LF.spectral_norm(self.weight).clamp_min(1e-12) ** 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_features(x, self.weight.shape[0])
        h = F.relu(F.linear(x, self.weight, self.bias))
        y = x - self.cached(self.step) * (h @ self.weight)
        return y[..., : self.out_features]


@CONV_LAYERS.register("cpl")
class CPLConv2d(ConvLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), zero 'same' padding; bound 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, bias,
                         bias_size=max(in_channels, out_channels))

    def step(self) -> torch.Tensor:
        return 2.0 / LF.schur_norm_bound(conv_gram(self.weight)).clamp_min(1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.kernel_size // 2
        x = pad_features(x, self.weight.shape[0], dim=1)
        h = F.relu(F.conv2d(x, self.weight, self.bias, padding=pad))
        y = x - self.cached(self.step) * F.conv_transpose2d(h, self.weight, padding=pad)
        return y[:, : self.out_channels]
