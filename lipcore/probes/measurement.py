"""`measurement`: time per batch (forward, backward, optimizer step) and peak memory.

Protocol (better than the seed's, see REFERENCES.md): `n_warmup` batches dropped, then
`n_steps` timed batches on a *copy* of the model (the run's weights are untouched), each phase
bracketed by a device synchronize on CUDA; reported as median and inter-quartile range. Memory,
over 2–5 further steps (kept apart so the sampler cannot perturb the timings): on CUDA the
`max_memory_allocated` delta after `reset_peak_memory_stats`; on
the CPU, where torch keeps no such counter, the peak resident-set growth sampled every 0.5 ms
from /proc (labelled `cpu_rss_sampled`), and on every device the bytes autograd saves for the
backward pass (counted exactly with saved-tensor hooks). The memory part is
`lipcore.measure.peak_memory` (the layer-cost measurement's); this probe adds the
forward / backward / optimizer-step split.
"""
from __future__ import annotations

import copy
import statistics
import time
from typing import Callable

import torch
from torch import nn

from lipcore.budget import batches_per_epoch, epoch_budget, steady_step_time
from lipcore.measure import peak_memory, saved_activation_bytes
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
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    phases = {"forward": [], "backward": [], "step": [], "batch": []}

    def one_step(record: bool):
        sync()
        t0 = time.perf_counter()
        loss = loss_fn(model(x), y)
        sync()
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t2 = time.perf_counter()
        opt.step()
        sync()
        t3 = time.perf_counter()
        if record:
            for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                phases[k].append(v)

    for _ in range(n_warmup):
        one_step(False)
    for _ in range(n_steps):  # timed alone: the memory sampler below would perturb the clock
        one_step(True)
    n_mem = max(2, min(n_steps, 5))
    peak, method = peak_memory(lambda: one_step(False), x.device, n_mem)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return {"device": str(x.device), "batch_size": int(x.shape[0]),
            "time_s": {k: _summary(v) for k, v in phases.items()},
            "memory": {"peak_bytes": int(peak), "method": method, "param_bytes": params,
                       "activation_bytes": saved_activation_bytes(model, x, y, loss_fn)}}


@PROBES.register("measurement")
def measurement_probe(ctx: ProbeContext, *, batch_size, n_steps, n_warmup, optimizer, lr,
                      budget_s) -> dict:
    """Batch time and memory of the run's model; with `budget_s`, the epoch budget too."""
    from lipcore.training.optim import OPTIMIZERS

    make = OPTIMIZERS.get(optimizer, key="measurement.optimizer")
    cfg = {"lr": lr, "momentum": 0.9, "weight_decay": 0.0}
    x, y = ctx.train_xy(batch_size)
    out = measure(ctx.model, ctx.loss_fn, x, y, lambda p: make(p, cfg), n_steps, n_warmup)
    out["metrics"] = {"time/batch_s": out["time_s"]["batch"]["median"],
                      "memory/peak_bytes": float(out["memory"]["peak_bytes"])}
    if budget_s is not None:
        step = steady_step_time(out["time_s"]["batch"]["all"], last=max(n_steps // 2, 1))
        n_batches = batches_per_epoch(int(ctx.data.x_train.shape[0]), batch_size)
        out["budget"] = {"budget_s": budget_s, "step_time_s": step,
                         "batches_per_epoch": n_batches,
                         "epochs": epoch_budget(budget_s, step, n_batches)}
    return out
