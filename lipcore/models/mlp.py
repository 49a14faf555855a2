"""A plain multilayer perceptron whose hidden layers and head are its `.blocks`."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lipcore.models.base import MODELS

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "identity": nn.Identity}


class MLP(nn.Module):
    """x: (B, in_features) → (B, out_features); blocks = depth × [Linear, act] + [Linear]."""

    def __init__(self, in_features: int, out_features: int, width: int, depth: int,
                 activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"model.activation: unknown {activation!r}; choose one of "
                             f"{', '.join(sorted(ACTIVATIONS))}")
        sizes = [in_features] + [width] * depth
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(a, b), ACTIVATIONS[activation]()) for a, b in zip(sizes, sizes[1:])
        )
        self.blocks.append(nn.Linear(sizes[-1], out_features))
        gain_name = "relu" if activation in ("relu", "gelu") else "tanh" if activation == "tanh" else "linear"
        for block in self.blocks:
            linear = block[0] if isinstance(block, nn.Sequential) else block
            if gain_name == "relu":
                nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            else:
                nn.init.xavier_normal_(linear.weight, gain=nn.init.calculate_gain(gain_name))
            nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for block in self.blocks:
            x = block(x)
        return x


@MODELS.register("mlp")
def build_mlp(cfg: dict[str, Any]) -> MLP:
    return MLP(cfg["in_features"], cfg["out_features"], cfg["width"], cfg["depth"],
               cfg.get("activation", "relu"))
