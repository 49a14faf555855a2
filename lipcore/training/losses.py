"""Losses by name (`training.loss`); each entry builds a module called as `loss_fn(out, y)` → mean.

Without `training.loss` a run takes `default_loss(task)`: mse for regression, cross-entropy
otherwise.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from lipcore.registry import Registry
from lipcore.robustness import OffsetCrossEntropy

LOSSES: Registry[Callable[[], Callable]] = Registry("loss")


@LOSSES.register("mse")
def mse() -> Callable:
    return nn.MSELoss()


class SequenceCrossEntropy(nn.Module):
    """Cross-entropy for logits (B, C) with labels (B,), or (B, T, C) with labels (B, T)."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


@LOSSES.register("cross_entropy")
def cross_entropy() -> Callable:
    return SequenceCrossEntropy()


@LOSSES.register("offset_cross_entropy")
def offset_cross_entropy() -> Callable:
    """The margin loss of Lipschitz classifiers (see `lipcore.robustness`)."""
    return OffsetCrossEntropy()


def default_loss(task: str) -> str:
    return "mse" if task == "regression" else "cross_entropy"
