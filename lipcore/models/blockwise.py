"""The block-wise family of seed 002: feed-forward, small CNN, ResNet-style and a small GPT.

Each model is a chain of `.blocks` (`nn.ModuleList`) applied in order, so a training engine
can train, copy or swap one block, and a probe can measure one. `model.blocks` (a list of
ints) gives the widths (feed-forward) or channels (CNN, ResNet); default [width] × depth.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lipcore.layers import ACTIVATIONS
from lipcore.models.base import MODELS, require
from lipcore.models.mlp import init_linear


class Chain(nn.Module):
    """Applies `.blocks` in order."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def widths(cfg: dict[str, Any]) -> list[int]:
    spec = cfg.get("blocks")
    if spec is None:
        depth, width = cfg.get("depth", 2), cfg.get("width", 32)
        spec = [width] * depth
    if not isinstance(spec, (list, tuple)) or not spec or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in spec):
        raise ValueError(f"model.blocks: must be a non-empty list of positive integers, got {spec!r}")
    return list(spec)


def image_shape(cfg: dict[str, Any]) -> tuple[int, int, int]:
    (shape,) = require(cfg, "input_shape")
    if len(shape) != 3:
        raise ValueError(f"model.input_shape: needs (C, H, W) images, got {tuple(shape)}")
    return tuple(shape)


@MODELS.register("feedforward")
def build_feedforward(cfg: dict[str, Any]) -> Chain:
    """(B, in) → (B, out); blocks = [Flatten?, Linear, act] per width + [Linear]."""
    n_in, n_out = require(cfg, "in_features", "out_features")
    act_name = cfg.get("activation", "relu")
    act = ACTIVATIONS.get(act_name, key="model.activation")
    sizes = [n_in] + widths(cfg)
    blocks: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        lin = nn.Linear(a, b)
        init_linear(lin, act_name)
        blocks.append(nn.Sequential(nn.Flatten(), lin, act()) if i == 0 else nn.Sequential(lin, act()))
    head = nn.Linear(sizes[-1], n_out)
    init_linear(head, "identity")
    blocks.append(nn.Sequential(nn.Flatten(), head) if len(sizes) == 1 else head)
    return Chain(blocks)


@MODELS.register("small_cnn")
def build_small_cnn(cfg: dict[str, Any]) -> Chain:
    """(B, C, H, W) → (B, out); blocks = [Conv3×3, act, MaxPool2 (while the image is even)]
    per channel count + [Flatten, Linear]."""
    c, h, w = image_shape(cfg)
    (n_out,) = require(cfg, "out_features")
    act = ACTIVATIONS.get(cfg.get("activation", "relu"), key="model.activation")
    blocks: list[nn.Module] = []
    for ch in widths(cfg) if cfg.get("blocks") is not None else [16, 32]:
        parts = [nn.Conv2d(c, ch, 3, padding=1), act()]
        if h % 2 == 0 and w % 2 == 0:
            parts.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        blocks.append(nn.Sequential(*parts))
        c = ch
    blocks.append(nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, n_out)))
    return Chain(blocks)


class BasicBlock(nn.Module):
    """ResNet basic block: relu(bn(conv(relu(bn(conv x)))) + shortcut x); stride 2 when `down`."""

    def __init__(self, c_in: int, c_out: int, down: bool):
        super().__init__()
        stride = 2 if down else 1
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity() if (c_in == c_out and not down) else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


@MODELS.register("resnet")
def build_resnet(cfg: dict[str, Any]) -> Chain:
    """(B, C, H, W) → (B, out); blocks = [stem] + one BasicBlock per stage (`model.blocks`
    channels, default [16, 32, 64], downsampling from the second stage) + [pool, Linear]."""
    c, h, w = image_shape(cfg)
    (n_out,) = require(cfg, "out_features")
    stages = widths(cfg) if cfg.get("blocks") is not None else [16, 32, 64]
    blocks: list[nn.Module] = [nn.Sequential(nn.Conv2d(c, stages[0], 3, padding=1, bias=False),
                                             nn.BatchNorm2d(stages[0]), nn.ReLU())]
    for i, ch in enumerate(stages):
        blocks.append(BasicBlock(stages[max(i - 1, 0)], ch, down=i > 0))
    blocks.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(stages[-1], n_out)))
    return Chain(blocks)


class CausalSelfAttention(nn.Module):
    """(B, T, C) → (B, T, C), multi-head, causal mask (nanoGPT's)."""

    def __init__(self, width: int, n_head: int):
        super().__init__()
        if width % n_head:
            raise ValueError(f"model.n_head: {n_head} must divide model.width {width}")
        self.n_head = n_head
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class TransformerBlock(nn.Module):
    """x + attn(ln(x)), then + mlp(ln(x)): (B, T, C) → (B, T, C)."""

    def __init__(self, width: int, n_head: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, n_head)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Embed(nn.Module):
    """Token ids (B, T) → token + position embeddings (B, T, C)."""

    def __init__(self, vocab: int, context: int, width: int):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(context, width)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.long()
        pos = torch.arange(idx.shape[1], device=idx.device)
        return self.tok(idx) + self.pos(pos)[None]


class LastTokenHead(nn.Module):
    """(B, T, C) → next-token logits of the last position (B, vocab)."""

    def __init__(self, width: int, vocab: int):
        super().__init__()
        self.ln, self.out = nn.LayerNorm(width), nn.Linear(width, vocab, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.ln(x[:, -1]))


@MODELS.register("gpt")
def build_gpt(cfg: dict[str, Any]) -> Chain:
    """Token ids (B, T ≤ in_features) → (B, vocab) logits of the next token; blocks =
    [Embed] + depth × TransformerBlock + [head]. vocab = `out_features` (the classes)."""
    context, vocab = require(cfg, "in_features", "out_features")
    width, depth, n_head = cfg.get("width", 32), cfg.get("depth", 2), cfg.get("n_head") or 2
    model = Chain([Embed(vocab, context, width)]
                  + [TransformerBlock(width, n_head) for _ in range(depth)]
                  + [LastTokenHead(width, vocab)])
    for name, p in model.named_parameters():  # nanoGPT's init: N(0, 0.02), scaled residual projections
        if p.dim() >= 2:
            std = 0.02 / math.sqrt(2 * depth) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
            nn.init.normal_(p, 0.0, std)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
    return model
