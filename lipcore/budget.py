"""Epoch budgets from a time budget (1-Lipschitz Layers Compared): every method gets the same
wall-clock time, so epochs = ⌊budget / (step time · batches per epoch)⌋, with the step time the
mean of the last 50 of 100 measured steps (the first ones include warm-up)."""
from __future__ import annotations

import math


def steady_step_time(step_times: list[float], last: int = 50) -> float:
    """Mean of the last `last` step times (all of them when fewer were measured)."""
    if not step_times:
        raise ValueError("step_times: no measured steps")
    tail = step_times[-last:]
    return sum(tail) / len(tail)


def batches_per_epoch(n_train: int, batch_size: int | None) -> int:
    """⌈n_train / batch_size⌉; one batch for full-batch training (batch_size None)."""
    if n_train < 1:
        raise ValueError(f"n_train: must be >= 1, got {n_train}")
    if batch_size is None:
        return 1
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    return math.ceil(n_train / batch_size)


def epoch_budget(budget_s: float, step_time_s: float, n_batches: int) -> int:
    """⌊budget_s / (step_time_s · n_batches)⌋ epochs; ValueError naming a non-positive input."""
    for name, value in (("budget_s", budget_s), ("step_time_s", step_time_s),
                        ("batches_per_epoch", n_batches)):
        if not value > 0:
            raise ValueError(f"{name}: must be > 0, got {value}")
    return math.floor(budget_s / (step_time_s * n_batches))
