"""Stoppers by name (seed 002): checked after each evaluation; a reason string means stop.

`training.stoppers: [{name: early_stopping, params: {patience: 5}}]`. Each stopper keeps its
state in plain attributes so checkpoints can save and restore it.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from lipcore.registry import Registry
from lipcore.training.callbacks import spec_params

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


@STOPPERS.register("target_loss")
class TargetLoss(Stopper):
    """Stop once `metric` (default test_loss) is at or below `target`."""

    def __init__(self, target: float, metric: str = "test_loss"):
        self.target, self.metric = target, metric

    def __call__(self, metrics: Mapping[str, float]) -> str | None:
        v = metrics.get(self.metric)
        return None if v is None or v > self.target else f"target_loss: {self.metric}={v:.4g}"


@STOPPERS.register("target_accuracy")
class TargetAccuracy(Stopper):
    """Stop once `metric` (default test_acc) is at or above `target`."""

    def __init__(self, target: float, metric: str = "test_acc"):
        self.target, self.metric = target, metric

    def __call__(self, metrics: Mapping[str, float]) -> str | None:
        v = metrics.get(self.metric)
        return None if v is None or v < self.target else f"target_accuracy: {self.metric}={v:.4g}"


def build_stoppers(specs: list, key: str = "training.stoppers") -> list[Stopper]:
    out = []
    for i, spec in enumerate(specs or []):
        name, params = spec_params(spec, key)
        try:
            out.append(STOPPERS.get(name, key=f"{key}.{i}.name")(**params))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{key}.{i}.params: {e}") from None
    return out
