"""Generated regression and 2-D classification sets (no download ever), offline or online.

Each builder draws `n_train + n_test` examples with a generator seeded by `data.data_seed`;
the online `sampler` draws more from the same distribution with the loop's generator, scaled
by the same training statistics as the offline sets.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from lipcore.data.base import DATASETS, Dataset, train_stats

Draw = Callable[[int, torch.Generator], "tuple[torch.Tensor, torch.Tensor]"]


def _make(cfg: dict[str, Any], draw: Draw, task: str, n_classes: int | None = None,
          scale: bool = True) -> Dataset:
    """Split one draw into train/test, standardise x by training statistics, attach a sampler."""
    g = torch.Generator().manual_seed(cfg["data_seed"])
    n_train = cfg["n_train"]
    x, y = draw(n_train + cfg["n_test"], g)
    mean = torch.zeros(1, x.shape[1])
    std = torch.ones(1, x.shape[1])
    if scale and cfg.get("normalize", True):
        mean, std = train_stats(x[:n_train])
    x = (x - mean) / std

    def sampler(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = draw(n, gen)
        return (xs - mean) / std, ys

    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], task, n_classes, sampler)


@DATASETS.register("sine")
def sine(cfg: dict[str, Any]) -> Dataset:
    """sin(x) for x uniform on [−10, 10] (seed 000's benchmark); x: (N, 1), y: (N, 1).

    Inputs stay unscaled (the benchmark's domain); `data.noise` adds label noise to training
    targets only, so test loss measures the distance to sin itself.
    """
    noise = cfg.get("noise") or 0.0

    def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(n, 1, generator=g) * 20.0 - 10.0
        return x, torch.sin(x) + noise * torch.randn(n, 1, generator=g)

    data = _make(cfg, draw, "regression", scale=False)
    data.y_test = torch.sin(data.x_test)
    return data


@DATASETS.register("moons")
def moons(cfg: dict[str, Any]) -> Dataset:
    """Two interleaved half circles (as scikit-learn's make_moons), x: (N, 2), labels 0/1."""
    noise = 0.1 if cfg.get("noise") is None else cfg["noise"]

    def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 2, (n,), generator=g)
        t = torch.rand(n, generator=g) * math.pi
        x = torch.stack([torch.cos(t), torch.sin(t)], 1)
        x = torch.where(y[:, None] == 1, torch.stack([1 - x[:, 0], 0.5 - x[:, 1]], 1), x)
        return x + noise * torch.randn(n, 2, generator=g), y

    return _make(cfg, draw, "classification", 2)


@DATASETS.register("circles")
def circles(cfg: dict[str, Any]) -> Dataset:
    """A circle of radius 0.5 (label 1) inside one of radius 1 (label 0), x: (N, 2)."""
    noise = 0.05 if cfg.get("noise") is None else cfg["noise"]

    def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 2, (n,), generator=g)
        t = torch.rand(n, generator=g) * 2 * math.pi
        r = torch.where(y == 1, 0.5, 1.0)
        x = torch.stack([r * torch.cos(t), r * torch.sin(t)], 1)
        return x + noise * torch.randn(n, 2, generator=g), y

    return _make(cfg, draw, "classification", 2)


@DATASETS.register("gaussians")
def gaussians(cfg: dict[str, Any]) -> Dataset:
    """`data.n_classes` unit Gaussian clusters in `data.in_dim` dims, centres 3 apart on a ring."""
    k, d = cfg["n_classes"], max(cfg["in_dim"], 2)
    angles = torch.arange(k) * 2 * math.pi / k
    centres = torch.zeros(k, d)
    radius = 3.0 / (2 * math.sin(math.pi / k))
    centres[:, 0], centres[:, 1] = radius * torch.cos(angles), radius * torch.sin(angles)
    noise = 1.0 if cfg.get("noise") is None else cfg["noise"]

    def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, k, (n,), generator=g)
        return centres[y] + noise * torch.randn(n, d, generator=g), y

    return _make(cfg, draw, "classification", k)


@DATASETS.register("xor")
def xor(cfg: dict[str, Any]) -> Dataset:
    """Label (x₀·x₁ > 0) for x uniform on [−1, 1]² (seed 003), normalised by train stats."""
    d = 2

    def draw(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(n, d, generator=g) * 2 - 1
        return x, ((x[:, 0] * x[:, 1]) > 0).long()

    return _make(cfg, draw, "classification", 2)
