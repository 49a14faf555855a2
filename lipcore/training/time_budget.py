"""Epoch budgets from a time budget (`training.time_budget_s`), as 1-Lipschitz Layers Compared
gives every layer family the same wall-clock time: before training, the run's own training step
(forward, backward, clipping and optimizer update on one batch, on the run's device) is timed
on a copy of the model, and the run gets epochs = ⌊budget / (step time · batches per epoch)⌋.
When not even one epoch fits it gets `max_steps` = ⌊budget / step time⌋ (at least one) instead,
so a slow layer still trains for its share of the time rather than for a whole epoch.

The step time is the mean of the timed steps after two warm-up steps (the seed: the last 50 of
100); timing stops after 20 steps or a tenth of the budget, whichever comes first, so measuring
a slow layer does not eat its budget.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Any

import torch

from lipcore.budget import batches_per_epoch, epoch_budget, steady_step_time

WARMUP, MAX_TIMED, MIN_TIMED = 2, 20, 3


def time_step(engine: Any) -> float:
    """Seconds per training step of `engine`'s first member, timed on a deep copy."""
    member = copy.deepcopy(engine.members[0])
    n = engine.cfg["batch_size"] or len(engine.data_dev.x_train)
    x, y = engine.data_dev.x_train[:n], engine.data_dev.y_train[:n]
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    budget = engine.cfg["time_budget_s"]
    times: list[float] = []
    for i in range(WARMUP + MAX_TIMED):
        sync()
        t0 = time.perf_counter()
        engine._sgd_step(member, x, y)
        sync()
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
            if len(times) >= MIN_TIMED and sum(times) > budget / 10:
                break
    return steady_step_time(times)


def apply_time_budget(engine: Any) -> dict[str, float]:
    """Set the engine's epochs (or max_steps) from `training.time_budget_s`; returns the
    metrics to log: budget/step_s, budget/epochs, budget/max_steps (0 when epochs decide)."""
    cfg = engine.cfg
    step_s = time_step(engine)
    n_batches = batches_per_epoch(len(engine.data_dev.x_train), cfg["batch_size"])
    epochs, max_steps = epoch_budget(cfg["time_budget_s"], step_s, n_batches), 0
    if epochs < 1:
        epochs, max_steps = 1, max(1, math.floor(cfg["time_budget_s"] / step_s))
        cfg["max_steps"] = max_steps
    cfg["epochs"] = epochs
    engine.total = engine._total_steps()
    engine.checkpoint_every = engine.next_checkpoint = cfg["checkpoint_every"] or max(1, engine.total // 10)
    return {"budget/step_s": step_s, "budget/epochs": float(epochs),
            "budget/max_steps": float(max_steps)}
