"""Optimizers and losses by name."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from lipcore.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
LOSSES: Registry[Callable[[], Callable]] = Registry("loss")


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


@LOSSES.register("mse")
def mse() -> Callable:
    return nn.MSELoss()


@LOSSES.register("cross_entropy")
def cross_entropy() -> Callable:
    return nn.CrossEntropyLoss()


def default_loss(task: str) -> str:
    return "cross_entropy" if task == "classification" else "mse"
from lipcore import robustness as _robustness  # noqa: E402,F401  (registers offset_cross_entropy)
