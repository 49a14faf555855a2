"""Lipschitz networks over any registered linear layer or `ldlt` (seed 000).

- `lipschitz_sequential`: in → width (× depth hidden maps) → out.
- `lipschitz_residual`: embed, depth × z ↦ (1−t)z + t·g(z) with g 1-Lipschitz and t ∈ (0, 1)
  learnt (a convex combination of 1-Lipschitz maps is 1-Lipschitz), head.
- `lipschitz_stacked`: embed, depth outer blocks of `interior` maps each, head (seed 000's
  "stacked" form, L outer × L_int interior).

Every block's constant is ≤ 1 except the first, which carries 𝓛 = `model.lipschitz`, so the
network's `lipschitz_bound` is 𝓛 for every parameter value (∞ for `unconstrained`).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from lipcore.layers import ACTIVATION_LIPSCHITZ, ACTIVATIONS, CONV_LAYERS, LAYERS
from lipcore.models.base import MODELS, require
from lipcore.models.ldlt import LDLTChain


class Scale(nn.Module):
    """x ↦ c·x (carries 𝓛 into the first block)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = float(factor)
        self.lipschitz_bound = abs(self.factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class Residual(nn.Module):
    """z ↦ (1−t)·z + t·g(z), t = sigmoid(θ); Lip ≤ max(1, Lip(g)). (..., n) → (..., n)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.theta = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.theta)
        return (1 - t) * z + t * self.inner(z)


class LipschitzNet(nn.Module):
    """Blocks applied in order: x (B, in_features) → (B, out_features)."""

    chain_forward = True  # forward = blocks in order on x.flatten(1) (lipcore.flossing)

    def __init__(self, blocks: list[nn.Module], lipschitz_bound: float):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.lipschitz_bound = float(lipschitz_bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for block in self.blocks:
            x = block(x)
        return x


def check_lipschitz_cfg(cfg: dict[str, Any]) -> tuple[str, float, int, int, str]:
    """(layer, 𝓛, width, depth, activation) from the model section, or a ValueError naming the key."""
    layer = cfg.get("layer") or "ldlt"
    allowed = ["ldlt"] + LAYERS.names()
    if layer not in allowed:
        if layer in CONV_LAYERS:
            raise ValueError(f"model.layer: {layer!r} is a convolution layer; a linear model takes "
                             f"one of {', '.join(allowed)}")
        raise ValueError(f"model.layer: unknown layer {layer!r}; choose one of {', '.join(allowed)}")
    lip = cfg.get("lipschitz", 1.0)
    if not isinstance(lip, (int, float)) or not lip > 0 or not math.isfinite(lip):
        raise ValueError(f"model.lipschitz: must be a positive number, got {lip!r}")
    width, depth = cfg.get("width", 32), cfg.get("depth", 2)
    for key, v in (("model.width", width), ("model.depth", depth)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{key}: must be a positive integer, got {v!r}")
    act = cfg.get("activation", "relu")
    ok = sorted(a for a, c in ACTIVATION_LIPSCHITZ.items() if c <= 1.0)
    if layer == "ldlt" and act != "relu":
        raise ValueError(f"model.activation: LDLT's certificate holds for relu only, got {act!r}")
    if act not in ok:
        raise ValueError(f"model.activation: {act!r} is not 1-Lipschitz; a Lipschitz model "
                         f"takes one of {', '.join(ok)}")
    return layer, float(lip), width, depth, act


def _layer_block(layer: str, a: int, b: int, act: str | None) -> tuple[nn.Module, float]:
    lin = LAYERS[layer](a, b)
    if act is None:
        return lin, lin.lipschitz_bound
    return nn.Sequential(lin, ACTIVATIONS[act]()), lin.lipschitz_bound


@MODELS.register("lipschitz_sequential")
def build_sequential(cfg: dict[str, Any]) -> LipschitzNet:
    n_in, n_out = require(cfg, "in_features", "out_features")
    layer, lip, width, depth, act = check_lipschitz_cfg(cfg)
    sizes = [n_in] + [width] * depth + [n_out]
    if layer == "ldlt":
        chain = LDLTChain(sizes, lip)
        return LipschitzNet(list(chain.layers), lip)
    blocks, bounds = [], [lip]
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        block, bound = _layer_block(layer, a, b, act if i < len(sizes) - 2 else None)
        blocks.append(nn.Sequential(Scale(lip), block) if i == 0 else block)
        bounds.append(bound)
    return LipschitzNet(blocks, math.prod(bounds))


def _embed_head(cfg: dict[str, Any], layer: str, lip: float, width: int):
    n_in, n_out = require(cfg, "in_features", "out_features")
    if layer == "ldlt":
        return LDLTChain([n_in, width], lip), LDLTChain([width, n_out], 1.0), [lip]
    embed, head = LAYERS[layer](n_in, width), LAYERS[layer](width, n_out)
    return (nn.Sequential(Scale(lip), embed), head,
            [lip, embed.lipschitz_bound, head.lipschitz_bound])


@MODELS.register("lipschitz_residual")
def build_residual(cfg: dict[str, Any]) -> LipschitzNet:
    layer, lip, width, depth, act = check_lipschitz_cfg(cfg)
    embed, head, bounds = _embed_head(cfg, layer, lip, width)
    blocks: list[nn.Module] = [embed]
    for _ in range(depth):
        if layer == "ldlt":
            inner = LDLTChain([width, width, width], 1.0)
        else:
            first, second = LAYERS[layer](width, width), LAYERS[layer](width, width)
            inner = nn.Sequential(first, ACTIVATIONS[act](), second)
            bounds.append(max(1.0, first.lipschitz_bound * second.lipschitz_bound))
        blocks.append(Residual(inner))
    return LipschitzNet(blocks + [head], math.prod(bounds))


@MODELS.register("lipschitz_stacked")
def build_stacked(cfg: dict[str, Any]) -> LipschitzNet:
    layer, lip, width, depth, act = check_lipschitz_cfg(cfg)
    interior = cfg.get("interior", 5)
    if not isinstance(interior, int) or interior < 1:
        raise ValueError(f"model.interior: must be a positive integer, got {interior!r}")
    embed, head, bounds = _embed_head(cfg, layer, lip, width)
    blocks: list[nn.Module] = [embed]
    for _ in range(depth):
        if layer == "ldlt":
            blocks.append(nn.Sequential(LDLTChain([width] * (interior + 1), 1.0), nn.ReLU()))
        else:
            parts = [_layer_block(layer, width, width, act) for _ in range(interior)]
            blocks.append(nn.Sequential(*(p for p, _ in parts)))
            bounds += [b for _, b in parts]
    return LipschitzNet(blocks + [head], math.prod(bounds))
