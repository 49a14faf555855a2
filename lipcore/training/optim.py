"""Optimizers and learning-rate schedules by name (losses: `lipcore.training.losses`).

A schedule is a pure function `factor(step, total, **params) -> float` multiplying
`training.lr`: the loop sets each step's lr from it, so resuming needs no scheduler state.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from lipcore.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
SCHEDULES: Registry[Callable[..., float]] = Registry("schedule")


@OPTIMIZERS.register("sgd")
def sgd(params, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"],
                           weight_decay=cfg["weight_decay"])


@OPTIMIZERS.register("adam")
def adam(params, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


@OPTIMIZERS.register("adamw")
def adamw(params, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


@SCHEDULES.register("step")
def step_schedule(step: int, total: int, step_size: int | None = None,
                  gamma: float = 0.1) -> float:
    """gamma^⌊step / step_size⌋ (torch's StepLR); step_size defaults to a third of the run."""
    size = step_size or max(1, total // 3)
    return gamma ** (step // size)


@SCHEDULES.register("cosine")
def cosine_schedule(step: int, total: int, min_factor: float = 0.0) -> float:
    """Cosine annealing from 1 to `min_factor` over `total` steps (CosineAnnealingLR)."""
    t = min(step, total) / max(total, 1)
    return min_factor + (1 - min_factor) * (1 + math.cos(math.pi * t)) / 2


@SCHEDULES.register("one_cycle")
def one_cycle_schedule(step: int, total: int, pct_start: float = 0.3, div_factor: float = 25.0,
                       final_div_factor: float = 1e4) -> float:
    """Smith's one-cycle with cosine phases, as torch's OneCycleLR (max lr = training.lr):
    from 1/div_factor up to 1 over pct_start of the run, then down to 1/(div·final_div)."""
    start, low = 1 / div_factor, 1 / (div_factor * final_div_factor)
    up_end = float(pct_start * total) - 1
    down_end = float(total - 1)

    def anneal(a: float, b: float, pct: float) -> float:
        return b + (a - b) / 2 * (1 + math.cos(math.pi * pct))

    if step <= up_end:
        return anneal(start, 1.0, step / up_end if up_end > 0 else 1.0)
    return anneal(1.0, low, min(1.0, (step - up_end) / max(down_end - up_end, 1e-12)))


def lr_factor(cfg: dict[str, Any], step: int, total: int) -> float:
    """The schedule factor of `training.schedule` at `step` (1 without a schedule)."""
    if not cfg.get("schedule"):
        return 1.0
    fn = SCHEDULES.get(cfg["schedule"], key="training.schedule")
    try:
        return fn(step, total, **(cfg.get("schedule_params") or {}))
    except TypeError as e:
        raise ValueError(f"training.schedule_params: {e}") from None

