"""Stoppers by name (seed 002): checked after each evaluation; a reason string means stop.

`training.stoppers: [{name: early_stopping, params: {patience: 5}}]`. Each stopper keeps its
state in plain attributes so checkpoints can save and restore it.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from lipcore.registry import Registry
from lipcore.training.callbacks import build_plugins

STOPPERS: Registry[type] = Registry("stopper")


class Stopper:
    metric = "test_loss"

    def __call__(self, metrics: Mapping[str, float]) -> str | None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        vars(self).update(state)


@STOPPERS.register("early_stopping")
class EarlyStopping(Stopper):
    """Stop when `metric` has not improved by `min_delta` for `patience` evaluations
    (`mode` min for losses, max for accuracies)."""

    def __init__(self, patience: int = 5, metric: str = "test_loss", min_delta: float = 0.0,
                 mode: str = "min"):
        if mode not in ("min", "max"):
            raise ValueError(f"mode: must be min or max, got {mode!r}")
        self.patience, self.metric, self.min_delta, self.mode = patience, metric, min_delta, mode
        self.best, self.bad = math.inf if mode == "min" else -math.inf, 0

    def __call__(self, metrics: Mapping[str, float]) -> str | None:
        if self.metric not in metrics:
            return None
        v = metrics[self.metric]
        better = v < self.best - self.min_delta if self.mode == "min" else v > self.best + self.min_delta
        if better:
            self.best, self.bad = v, 0
            return None
        self.bad += 1
        if self.bad >= self.patience:
            return f"early_stopping: {self.metric} did not improve for {self.bad} evaluations"
        return None


class Target(Stopper):
    """Stop once `metric` reaches `target`: at or below it (`below`), or at or above it."""

    below = True
    label = "target"

    def __init__(self, target: float, metric: str | None = None):
        self.target, self.metric = target, metric or self.metric

    def __call__(self, metrics: Mapping[str, float]) -> str | None:
        v = metrics.get(self.metric)
        if v is None or (v > self.target if self.below else v < self.target):
            return None
        return f"{self.label}: {self.metric}={v:.4g}"


@STOPPERS.register("target_loss")
class TargetLoss(Target):
    """Stop once `metric` (default test_loss) is at or below `target`."""

    metric, below, label = "test_loss", True, "target_loss"


@STOPPERS.register("target_accuracy")
class TargetAccuracy(Target):
    """Stop once `metric` (default test_acc) is at or above `target`."""

    metric, below, label = "test_acc", False, "target_accuracy"


def build_stoppers(specs: list, key: str = "training.stoppers") -> list[Stopper]:
    return build_plugins(STOPPERS, specs, key)
