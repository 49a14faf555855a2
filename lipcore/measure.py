"""Cost of a layer or model: parameters, time per batch by phase, peak memory.

The one implementation behind `measure` (layer and model cost), the `measurement` probe and
the training run's `memory` unit. Returns dicts and prints nothing. Timing (`time_phases`):
`warmup` batches dropped, then each batch is timed alone, phase by phase (forward, backward,
and the optimizer step when an optimizer is given), with `torch.cuda.synchronize()` around
each phase on CUDA so no GPU work leaks from one batch or phase into the next (seed 004's
protocol timed without synchronising); `measure` reports the median and spread. Memory:

- CUDA: `max_memory_allocated` after `reset_peak_memory_stats`, minus the memory allocated
  before, over ≥ 2 forward+backward steps (`memory/method` = "cuda_max_memory_allocated").
- CPU: there is no allocator counter, so freed heap pages are first returned to the OS
  (glibc `malloc_trim`), then the process RSS is sampled every 0.5 ms from a thread during
  those steps and the peak minus the baseline reported (`memory/method` =
  "cpu_rss_sampled": coarse, can miss short peaks and count allocator slack).
- Any device: `memory/saved_activations_bytes`, the exact size of the tensors autograd keeps
  for backward (parameters excluded, shared storage counted once).
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from typing import Any, Callable, Iterable

import torch
from torch import nn

MIN_BATCHES = 20


def parameter_count(module: nn.Module) -> dict[str, int]:
    params = list(module.parameters())
    return {"params": sum(p.numel() for p in params),
            "params_trainable": sum(p.numel() for p in params if p.requires_grad)}


def _default_loss(out: torch.Tensor, _y: Any) -> torch.Tensor:
    return out.float().pow(2).mean()


def tensor_bytes(tensors: Iterable[Any]) -> int:
    """Bytes of the tensors among `tensors` (other items, e.g. an optimizer's step count, skipped)."""
    return sum(t.numel() * t.element_size() for t in tensors if torch.is_tensor(t))


PHASES = ("forward", "backward", "step", "batch")


def train_step(module: nn.Module, x: torch.Tensor, y: Any, loss_fn: Callable,
               optimizer: torch.optim.Optimizer | None = None,
               clock: Callable[[], float] | None = None) -> dict[str, float] | None:
    """One training step: forward, backward, and `optimizer.step()` when one is given.
    With `clock` (a synchronising timer), the seconds of each of `PHASES` ("step" is 0
    without an optimizer; "batch" is the three together)."""
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
    else:
        module.zero_grad(set_to_none=True)
    t0 = clock() if clock else 0.0
    loss = loss_fn(module(x), y)
    t1 = clock() if clock else 0.0
    loss.backward()
    t2 = clock() if clock else 0.0
    if optimizer is not None:
        optimizer.step()
    t3 = clock() if clock else 0.0
    if clock is None:
        return None
    return dict(zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)))


def time_phases(module: nn.Module, x: torch.Tensor, y: Any = None, loss_fn: Callable | None = None,
                optimizer: torch.optim.Optimizer | None = None, n_batches: int = MIN_BATCHES,
                warmup: int = 3) -> dict[str, list[float]]:
    """{phase: [seconds per timed batch]} for each of `PHASES` over `n_batches` training steps
    of `module` on the batch `x` (after `warmup` untimed ones), synchronised on CUDA. With an
    `optimizer` its steps update `module`: pass a copy to keep the original."""
    loss_fn = loss_fn or _default_loss
    sync = (lambda: torch.cuda.synchronize(x.device)) if x.is_cuda else (lambda: None)

    def clock() -> float:
        sync()
        return time.perf_counter()

    for _ in range(warmup):
        train_step(module, x, y, loss_fn, optimizer)
    times: dict[str, list[float]] = {p: [] for p in PHASES}
    for _ in range(n_batches):
        for phase, seconds in train_step(module, x, y, loss_fn, optimizer, clock).items():
            times[phase].append(seconds)
    return times


def _byte_span(t: torch.Tensor) -> tuple[int, int]:
    """[start, end) bytes of `t`'s storage that the view reaches."""
    es = t.element_size()
    extent = 1 + sum((n - 1) * abs(s) for n, s in zip(t.shape, t.stride())) if t.numel() else 0
    return t.storage_offset() * es, (t.storage_offset() + extent) * es


def _union_length(spans: list[tuple[int, int]]) -> int:
    total, reach = 0, None
    for start, end in sorted(spans):
        if reach is not None and start < reach:
            start = reach
        if end > start:
            total += end - start
        reach = end if reach is None else max(reach, end)
    return total


def saved_activation_bytes(module: nn.Module, x: torch.Tensor, y: Any = None,
                           loss_fn: Callable = _default_loss) -> int:
    """Bytes autograd saves for backward in one forward pass and `loss_fn`: inputs and
    intermediate results, each byte once however many views save it (a batch sliced from a
    larger tensor counts as the slice); parameters excluded (counted as parameters, not as
    activations)."""
    param_storage = {p.untyped_storage().data_ptr() for p in module.parameters()}
    spans: dict[int, list[tuple[int, int]]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in param_storage:
            spans.setdefault(ptr, []).append(_byte_span(t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(module(x), y)  # the graph is dropped unused: no gradient is touched
    return sum(_union_length(s) for s in spans.values())


def _release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc), so the RSS baseline is not inflated by
    memory the allocator keeps from earlier steps; a no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RSSSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_bytes()
        self._stop_flag = threading.Event()

    def run(self) -> None:
        while not self._stop_flag.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.0005)

    def stop(self) -> int:
        self._stop_flag.set()
        self.join()
        return self.peak


def peak_memory(step: Callable[[], Any], device: torch.device, n_steps: int) -> tuple[int, str]:
    """(peak bytes above the baseline, method) over `n_steps` calls of `step` on `device`:
    the CUDA allocator's peak, or the sampled RSS peak on the CPU (see the module doc)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(n_steps):
            step()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base), "cuda_max_memory_allocated"
    _release_free_memory()
    base = rss_bytes()
    sampler = RSSSampler()
    sampler.start()
    for _ in range(n_steps):
        step()
    return int(max(sampler.stop() - base, 0)), "cpu_rss_sampled"


def measure(module: nn.Module, x: torch.Tensor, y: Any = None, loss_fn: Callable | None = None,
            n_batches: int = MIN_BATCHES, warmup: int = 3, memory_steps: int = 3) -> dict[str, Any]:
    """Measure `module` on the batch `x` (and targets `y` for `loss_fn(out, y)`, default mean
    squared output) on the device `x` lives on; forward and backward, no optimizer step.
    Returns {params, params_trainable, device, batch_size, n_batches, time/batch_s (median),
    time/batch_s_iqr, time/batch_s_min, time/batch_s_max, time/forward_s, time/backward_s
    (medians), memory/peak_bytes, memory/method, memory/saved_activations_bytes}."""
    if n_batches < MIN_BATCHES:
        raise ValueError(f"n_batches: at least {MIN_BATCHES} for a median and a spread, got {n_batches}")
    if memory_steps < 2:
        raise ValueError(f"memory_steps: at least 2, got {memory_steps}")
    loss_fn = loss_fn or _default_loss
    was_training = module.training
    module.train()
    phases = time_phases(module, x, y, loss_fn, None, n_batches, warmup)
    times = phases["batch"]
    q = statistics.quantiles(times, n=4)
    result: dict[str, Any] = {**parameter_count(module), "device": str(x.device),
                              "batch_size": int(x.shape[0]), "n_batches": n_batches,
                              "time/batch_s": statistics.median(times), "time/batch_s_iqr": q[2] - q[0],
                              "time/batch_s_min": min(times), "time/batch_s_max": max(times),
                              "time/forward_s": statistics.median(phases["forward"]),
                              "time/backward_s": statistics.median(phases["backward"])}
    module.zero_grad(set_to_none=True)  # the baseline holds no gradients of the timed steps
    peak, method = peak_memory(lambda: train_step(module, x, y, loss_fn), x.device, memory_steps)
    result["memory/peak_bytes"] = peak
    result["memory/method"] = method
    result["memory/saved_activations_bytes"] = saved_activation_bytes(module, x, y, loss_fn)
    module.train(was_training)
    module.zero_grad(set_to_none=True)
    return result
