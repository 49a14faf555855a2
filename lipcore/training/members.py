"""What one training step works on, shared by the loop, block-wise rounds and measurements.

A `Member` is one trained model with its optimizer, loss and running train statistics; a
step that meets a non-finite objective raises `DivergedError`; `n_correct` counts a batch's
right answers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn


class DivergedError(RuntimeError):
    """The loss became non-finite; `.step` and `.value` say where."""

    def __init__(self, step: int, value: float):
        self.step, self.value = step, value
        super().__init__(f"loss became non-finite ({value}) at step {step}")


@dataclass
class Member:
    """One trained model with its own optimizer and training section; `prefix` labels its
    metrics ("" for a single run, "a/" / "b/" in comparative runs)."""

    model: nn.Module
    cfg: dict[str, Any]
    loss_fn: Callable
    optimizer: torch.optim.Optimizer
    prefix: str = ""
    loss_sum: float = 0.0
    correct: float = 0.0
    count: int = 0


def n_correct(out: torch.Tensor, y: torch.Tensor) -> float:
    """Right answers in a batch: argmax of out (N, C) or (N, T, C) against y (N,) or (N, T),
    a sequence counting 1/T per right token."""
    return float((out.argmax(-1) == y).float().sum()) / (y[0].numel() if y.dim() > 1 else 1)
