"""Cost of a layer or model: parameters, forward+backward time per batch, peak memory.

Returns dicts and prints nothing (STYLE.md). Timing: `warmup` batches dropped, then each of
`n_batches` (≥ 20) is timed alone, with `torch.cuda.synchronize()` before and after on CUDA so
no GPU work leaks between batches (the pitfall REFERENCES.md notes in seed 004's protocol);
median and spread are reported. Memory:

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
from typing import Any, Callable

import torch
from torch import nn

MIN_BATCHES = 20


def parameter_count(module: nn.Module) -> dict[str, int]:
    params = list(module.parameters())
    return {"params": sum(p.numel() for p in params),
            "params_trainable": sum(p.numel() for p in params if p.requires_grad)}


def _default_loss(out: torch.Tensor, _y: Any) -> torch.Tensor:
    return out.float().pow(2).mean()


def _step(module: nn.Module, x: torch.Tensor, y: Any, loss_fn: Callable) -> None:
    module.zero_grad(set_to_none=True)
    loss_fn(module(x), y).backward()


def saved_activation_bytes(module: nn.Module, x: torch.Tensor, y: Any = None,
                           loss_fn: Callable = _default_loss) -> int:
    """Bytes autograd saves for backward in one forward pass (parameters excluded)."""
    param_storage = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in param_storage and ptr not in seen:
            seen[ptr] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn(module(x), y)
    loss.backward()
    module.zero_grad(set_to_none=True)
    return sum(seen.values())


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
    squared output) on the device `x` lives on. Returns
    {params, params_trainable, device, batch_size, n_batches, time/batch_s (median),
    time/batch_s_iqr, time/batch_s_min, time/batch_s_max, memory/peak_bytes, memory/method,
    memory/saved_activations_bytes}."""
    if n_batches < MIN_BATCHES:
        raise ValueError(f"n_batches: at least {MIN_BATCHES} for a median and a spread, got {n_batches}")
    if memory_steps < 2:
        raise ValueError(f"memory_steps: at least 2, got {memory_steps}")
    loss_fn = loss_fn or _default_loss
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    was_training = module.training
    module.train()
    for _ in range(warmup):
        _step(module, x, y, loss_fn)
    times = []
    for _ in range(n_batches):
        sync()
        t0 = time.perf_counter()
        _step(module, x, y, loss_fn)
        sync()
        times.append(time.perf_counter() - t0)
    q = statistics.quantiles(times, n=4)
    result: dict[str, Any] = {**parameter_count(module), "device": str(x.device),
                              "batch_size": int(x.shape[0]), "n_batches": n_batches,
                              "time/batch_s": statistics.median(times), "time/batch_s_iqr": q[2] - q[0],
                              "time/batch_s_min": min(times), "time/batch_s_max": max(times)}
    module.zero_grad(set_to_none=True)
    peak, method = peak_memory(lambda: _step(module, x, y, loss_fn), x.device, memory_steps)
    result["memory/peak_bytes"] = peak
    result["memory/method"] = method
    result["memory/saved_activations_bytes"] = saved_activation_bytes(module, x, y, loss_fn)
    module.train(was_training)
    module.zero_grad(set_to_none=True)
    return result
