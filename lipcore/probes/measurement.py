"""`measurement`: time per batch (forward, backward, optimizer step) and peak memory.

`n_warmup` batches dropped, then `n_steps` timed batches on a *copy* of the model (the run's
weights are untouched) with the run's optimizer (`training.optimizer`, its lr, momentum and
weight decay; the probe's `optimizer` / `lr` replace the first two when given), each phase
bracketed by a device synchronize on CUDA; reported as median and inter-quartile range.
Memory, over 2–5 further steps (kept apart so the sampler cannot perturb the timings): on
CUDA the `max_memory_allocated` delta; on the CPU the sampled peak resident-set growth
(labelled `cpu_rss_sampled`); on every device the bytes autograd saves for the backward pass.
Timing and memory are `lipcore.measure`'s (`time_phases`, `peak_memory`,
`saved_activation_bytes`), the same as the layer-cost measurement's.
"""
from __future__ import annotations

import copy
import statistics
from typing import Any, Callable

import torch
from torch import nn

from lipcore.budget import batches_per_epoch, epoch_budget, steady_step_time
from lipcore.measure import peak_memory, saved_activation_bytes, tensor_bytes, time_phases, train_step
from lipcore.probes.base import PROBES, ProbeContext


def _summary(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "iqr": q[2] - q[0],
            "mean": statistics.fmean(values), "all": values}


def measure(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
            make_optimizer: Callable, n_steps: int = 20, n_warmup: int = 2) -> dict:
    """Times and memory of `n_steps` training steps on a copy of `model` (see module doc)."""
    model = copy.deepcopy(model).train()
    opt = make_optimizer(model.parameters())
    phases = time_phases(model, x, y, loss_fn, opt, n_steps, n_warmup)
    n_mem = max(2, min(n_steps, 5))
    peak, method = peak_memory(lambda: train_step(model, x, y, loss_fn, opt), x.device, n_mem)
    return {"device": str(x.device), "batch_size": int(x.shape[0]),
            "time_s": {k: _summary(v) for k, v in phases.items()},
            "memory": {"peak_bytes": int(peak), "method": method,
                       "param_bytes": tensor_bytes(model.parameters()),
                       "activation_bytes": saved_activation_bytes(model, x, y, loss_fn)}}


def run_optimizer_config(ctx: ProbeContext, optimizer: str | None, lr: float | None) -> dict[str, Any]:
    """The run's `training` section (defaults where the context has no config), with the
    probe's `optimizer` and `lr` in place of the run's when given."""
    from lipcore.config.training import TRAINING

    cfg = {k: f.default for k, f in TRAINING.items()}
    cfg.update(ctx.config.get("training") or {})
    if optimizer is not None:
        cfg["optimizer"] = optimizer
    if lr is not None:
        cfg["lr"] = lr
    return cfg


@PROBES.register("measurement")
def measurement_probe(ctx: ProbeContext, *, batch_size, n_steps, n_warmup, optimizer, lr,
                      budget_s) -> dict:
    """Batch time and memory of the run's model; with `budget_s`, the epoch budget too."""
    from lipcore.training.optim import OPTIMIZERS

    cfg = run_optimizer_config(ctx, optimizer, lr)
    make = OPTIMIZERS.get(cfg["optimizer"], key="measurement.optimizer")
    x, y = ctx.train_xy(batch_size)
    out = measure(ctx.model, ctx.loss_fn, x, y, lambda p: make(p, cfg), n_steps, n_warmup)
    out["optimizer"] = {"name": cfg["optimizer"], "lr": cfg["lr"], "momentum": cfg["momentum"],
                        "weight_decay": cfg["weight_decay"]}
    out["metrics"] = {"time/batch_s": out["time_s"]["batch"]["median"],
                      "memory/peak_bytes": float(out["memory"]["peak_bytes"])}
    if budget_s is not None:
        step = steady_step_time(out["time_s"]["batch"]["all"], last=max(n_steps // 2, 1))
        n_batches = batches_per_epoch(int(ctx.data.x_train.shape[0]), batch_size)
        out["budget"] = {"budget_s": budget_s, "step_time_s": step,
                         "batches_per_epoch": n_batches,
                         "epochs": epoch_budget(budget_s, step, n_batches)}
    return out
