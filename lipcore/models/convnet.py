"""ConvNet XS/S/M/L over any conv layer (seed 004, Prach et al. 2024, "1-Lipschitz Layers Compared").

Width w = 16/32/64/128. Five stages; each: 5 convs (k = 3, k = 1 in the last stage) each
followed by MaxMin, then keep the first half of the channels and PixelUnshuffle(2), so the
channels double and the image halves. The head is one linear layer d → d on the flattened
map, cut to the first `n_classes` outputs. On 32×32×3 inputs with 10 classes: ≈1.57M / 6.28M /
25.1M / 100.5M parameters. Every piece is 1-Lipschitz (channel cuts and padding are
projections/embeddings, PixelUnshuffle a permutation), so `lipschitz_bound` = 𝓛 × Π layer bounds.
The head takes the linear layer of the same name, or `orthogonal` where none exists (bcop, lot).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from lipcore.layers import ACTIVATION_LIPSCHITZ, ACTIVATIONS, CONV_LAYERS, LAYERS
from lipcore.layers.base import pad_features
from lipcore.models.base import MODELS, require
from lipcore.models.lipschitz import Scale

SIZES = {"XS": 16, "S": 32, "M": 64, "L": 128}
STAGES = 5
CONVS_PER_STAGE = 5


class ChannelPad(nn.Module):
    """(B, C, ...) → (B, n, ...): zero channels appended, or the first n kept."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pad_features(x, self.n, dim=1)[:, : self.n]


class ConvNet(nn.Module):
    """x: (B, C, H, W) → (B, n_classes); `.blocks` = the five stages and the head."""

    def __init__(self, in_channels: int, n_classes: int, image_size: tuple[int, int],
                 size: str = "XS", layer: str = "aol", kernel_size: int = 3,
                 activation: str = "maxmin", lipschitz: float = 1.0):
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"model.size: unknown {size!r}; choose one of {', '.join(SIZES)}")
        if layer not in CONV_LAYERS:
            raise ValueError(f"model.layer: unknown conv layer {layer!r}; choose one of "
                             f"{', '.join(CONV_LAYERS.names())}")
        if not lipschitz > 0:
            raise ValueError(f"model.lipschitz: must be > 0, got {lipschitz!r}")
        conv, act = CONV_LAYERS[layer], ACTIVATIONS.get(activation, key="model.activation")
        width, (h, w) = SIZES[size], image_size
        bounds = [float(lipschitz)]
        act_bound = ACTIVATION_LIPSCHITZ.get(activation, math.inf)
        self.blocks = nn.ModuleList()
        for stage in range(STAGES):
            k = 1 if stage == STAGES - 1 else kernel_size
            parts: list[nn.Module] = [Scale(lipschitz), ChannelPad(width)] if stage == 0 else []
            for _ in range(CONVS_PER_STAGE):
                c = conv(width, width, k)
                parts += [c, act()]
                bounds += [c.lipschitz_bound, act_bound]
            if h % 2 == 0 and w % 2 == 0:
                parts += [ChannelPad(width // 2), nn.PixelUnshuffle(2)]
                width, h, w = width * 2, h // 2, w // 2
            self.blocks.append(nn.Sequential(*parts))
        d = width * h * w
        linear = LAYERS[layer] if layer in LAYERS else LAYERS["orthogonal"]
        head = linear(d, max(d, n_classes))
        bounds.append(head.lipschitz_bound)
        self.blocks.append(nn.Sequential(nn.Flatten(), head, ChannelPad(n_classes)))
        self.lipschitz_bound = math.prod(bounds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


@MODELS.register("convnet")
def build_convnet(cfg: dict[str, Any]) -> ConvNet:
    (shape,) = require(cfg, "input_shape")
    if len(shape) != 3:
        raise ValueError(f"model.input_shape: a conv net needs (C, H, W) images, got {tuple(shape)}")
    n_classes = cfg.get("n_classes") or cfg.get("out_features")
    if n_classes is None:
        raise ValueError("model.n_classes: not set and no dataset to take it from")
    return ConvNet(cfg.get("in_channels") or shape[0], n_classes, tuple(shape[1:]),
                   cfg.get("size") or "XS", cfg.get("layer") or "aol", cfg.get("kernel_size", 3),
                   cfg.get("activation") if cfg.get("activation") not in (None, "relu") else "maxmin",
                   cfg.get("lipschitz", 1.0))
