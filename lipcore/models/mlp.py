"""A plain multilayer perceptron whose hidden layers and head are its `.blocks` (seed 003).

Presets (seed 003's variants, depth × width): shallow-small 1×50, shallow-wide 1×500,
deep-small 4×100, deep-large 4×250, medium 2×100. Initialisation follows the activation:
He (Kaiming) for relu/gelu, Xavier for tanh/identity, unless `model.init` says otherwise;
the linear head is Xavier (gain 1).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lipcore.layers import ACTIVATIONS
from lipcore.models.base import MODELS, require

PRESETS = {
    "shallow-small": (1, 50),
    "shallow-wide": (1, 500),
    "deep-small": (4, 100),
    "deep-large": (4, 250),
    "medium": (2, 100),
}
INITS = ("auto", "he", "xavier")


def init_linear(linear: nn.Linear, activation: str, init: str = "auto") -> None:
    """He for ReLU-like activations, Xavier (with the activation's gain) otherwise."""
    if init not in INITS:
        raise ValueError(f"model.init: unknown {init!r}; choose one of {', '.join(INITS)}")
    if init == "auto":
        init = "he" if activation in ("relu", "gelu", "maxmin", "groupsort") else "xavier"
    if init == "he":
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
    else:
        gain = nn.init.calculate_gain("tanh" if activation == "tanh" else "linear")
        nn.init.xavier_normal_(linear.weight, gain=gain)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


class MLP(nn.Module):
    """x: (B, in_features) → (B, out_features); blocks = depth × [Linear, act] + [Linear]."""

    chain_forward = True  # forward = blocks in order on x.flatten(1) (lipcore.flossing)

    def __init__(self, in_features: int, out_features: int, width: int, depth: int,
                 activation: str = "relu", init: str = "auto"):
        super().__init__()
        act = ACTIVATIONS.get(activation, key="model.activation")
        for key, v in (("model.width", width), ("model.depth", depth)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{key}: must be a positive integer, got {v!r}")
        sizes = [in_features] + [width] * depth
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(a, b), act()) for a, b in zip(sizes, sizes[1:])
        )
        self.blocks.append(nn.Linear(sizes[-1], out_features))
        for block in self.blocks[:-1]:
            init_linear(block[0], activation, init)
        init_linear(self.blocks[-1], "identity", "xavier" if init == "auto" else init)  # linear head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for block in self.blocks:
            x = block(x)
        return x


def resolve_preset(cfg: dict[str, Any]) -> tuple[int, int]:
    """(depth, width): the preset's when `model.preset` is set, else the section's own."""
    preset = cfg.get("preset")
    if preset is None:
        return cfg.get("depth", 2), cfg.get("width", 32)
    if preset not in PRESETS:
        raise ValueError(f"model.preset: unknown {preset!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[preset]


@MODELS.register("mlp")
def build_mlp(cfg: dict[str, Any]) -> MLP:
    n_in, n_out = require(cfg, "in_features", "out_features")
    depth, width = resolve_preset(cfg)
    return MLP(n_in, n_out, width, depth, cfg.get("activation", "relu"), cfg.get("init", "auto"))
