"""The unconstrained baseline: plain `nn.Linear` / `nn.Conv2d`, bound ∞ (nothing promised)."""
from __future__ import annotations

import math

from torch import nn

from lipcore.layers.base import CONV_LAYERS, LAYERS, check_size


@LAYERS.register("unconstrained")
class UnconstrainedLinear(nn.Linear):
    """x: (..., in) → (..., out); `lipschitz_bound` = inf."""

    lipschitz_bound = math.inf
    isometry = False

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(check_size("in_features", in_features),
                         check_size("out_features", out_features), bias=bias)


@CONV_LAYERS.register("unconstrained")
class UnconstrainedConv2d(nn.Conv2d):
    """(B, C, H, W) → (B, C', H, W), zero 'same' padding; `lipschitz_bound` = inf."""

    lipschitz_bound = math.inf
    isometry = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: must be odd for 'same' padding, got {kernel_size}")
        super().__init__(check_size("in_channels", in_channels),
                         check_size("out_channels", out_channels), kernel_size,
                         padding=kernel_size // 2, bias=bias)
