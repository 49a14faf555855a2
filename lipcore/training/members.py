"""What one training step works on, shared by the loop, block-wise rounds and measurements.

A `Member` is one trained model with its optimizer, loss, numeric guard and running train
statistics; `n_correct` counts a batch's right answers on the device. `DivergedError` (from
`lipcore.training.guard`) is re-exported here for the modules that raise it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from lipcore.training.guard import DivergedError, NumericGuard

__all__ = ["DivergedError", "Member", "finite_metrics", "n_correct"]


@dataclass
class Member:
    """One trained model with its own optimizer and training section; `prefix` labels its
    metrics ("" for a single run, "a/" / "b/" in comparative runs). The running sums since the
    last evaluation stay on the device (tensors once a step has run) until it reads them."""

    model: nn.Module
    cfg: dict[str, Any]
    loss_fn: Callable
    optimizer: torch.optim.Optimizer
    guard: NumericGuard
    prefix: str = ""
    loss_sum: float | torch.Tensor = 0.0
    correct: float | torch.Tensor = 0.0
    count: int = 0


def n_correct(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Right answers in a batch as a 0-dim device tensor (no host sync): argmax of out (N, C)
    or (N, T, C) against y (N,) or (N, T), a sequence counting 1/T per right token."""
    return (out.argmax(-1) == y).float().sum() / (y[0].numel() if y.dim() > 1 else 1)


def finite_metrics(values: dict[str, float], step: int) -> dict[str, float]:
    """An evaluation's values without the non-finite ones; a non-finite loss is a divergence
    (`DivergedError` at `step`), any other non-finite value is only left out."""
    for key, v in values.items():
        if key.endswith("_loss") and not math.isfinite(v):
            raise DivergedError(step, key, f"became non-finite ({v})", v)
    return {k: v for k, v in values.items() if math.isfinite(v)}
