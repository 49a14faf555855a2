"""Deep linear networks (seed 001; Saxe et al.): y = W_{L+1} ⋯ W_1 x, no bias, no activation.

Each W_k is (n_k × n_{k−1}) drawn N(0, n_{k−1}^{−γ}) (`model.gamma` = γ): γ = 1 is the
variance-preserving scale, γ > 1 a small initialisation (the rich, saddle-to-saddle regime),
γ < 1 a large one. `.blocks` holds the depth + 1 linear maps.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lipcore.models.base import MODELS, require


class DeepLinear(nn.Module):
    """x: (B, in_features) → (B, out_features); blocks = depth + 1 bias-free `nn.Linear`."""

    chain_forward = True  # forward = blocks in order on x.flatten(1) (lipcore.flossing)

    def __init__(self, in_features: int, out_features: int, width: int, depth: int, gamma: float = 1.0):
        super().__init__()
        if not isinstance(depth, int) or depth < 0:
            raise ValueError(f"model.depth: must be a non-negative integer, got {depth!r}")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"model.width: must be a positive integer, got {width!r}")
        if not gamma > 0:
            raise ValueError(f"model.gamma: must be > 0, got {gamma!r}")
        self.gamma = float(gamma)
        sizes = [in_features] + [width] * depth + [out_features]
        self.blocks = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes, sizes[1:]))
        with torch.no_grad():
            for lin in self.blocks:
                lin.weight.normal_(0.0, lin.in_features ** (-self.gamma / 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for block in self.blocks:
            x = block(x)
        return x

    def end_to_end(self) -> torch.Tensor:
        """The product W_{L+1}⋯W_1: (out_features, in_features)."""
        w = self.blocks[0].weight
        for lin in self.blocks[1:]:
            w = lin.weight @ w
        return w


@MODELS.register("deep_linear")
def build_deep_linear(cfg: dict[str, Any]) -> DeepLinear:
    n_in, n_out = require(cfg, "in_features", "out_features")
    return DeepLinear(n_in, n_out, cfg.get("width", 32), cfg.get("depth", 2), cfg.get("gamma", 1.0))
