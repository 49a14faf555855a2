"""Measurement units by name (seed 002), run every `training.measurement_every` steps.

A unit is `fn(engine) -> dict[str, float]` (engine: the running `lipcore.training.loop.Engine`);
it may also write files (JSON, PNG) under the run's checkpoint folder's parent and report them
as artifacts.

- `memory`: bytes of parameters, gradients, optimizer state and the activations autograd
  saves for one training batch (`lipcore.measure`: counted through saved-tensor hooks, so the
  number is exact on the CPU too; each storage once, parameters not counted again);
  `memory/peak_bytes` is the CUDA `max_memory_allocated` delta over a forward and backward on
  a GPU, and on the CPU the sum of those four (labelled `memory/peak_source` 0 = CPU sum,
  1 = CUDA measured).
- `hessian_block_interaction`: M[i, j] = ‖H_ij‖_F estimated by central finite differences of
  block gradients, M_ij² ≈ mean over Gaussian probes v_j (in block j) of ‖(∇_i f(θ + εv_j) −
  ∇_i f(θ − εv_j)) / 2ε‖² (E‖H_ij v‖² = ‖H_ij‖_F²); `exact=True` probes each coordinate
  instead. Logs the share of off-diagonal mass and writes the matrix as JSON and a heat map.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from lipcore.measure import peak_memory, saved_activation_bytes, tensor_bytes
from lipcore.registry import Registry

MEASUREMENTS: Registry[Callable[..., dict[str, float]]] = Registry("measurement")
PROBE_BATCH = 256


@MEASUREMENTS.register("memory")
def memory(engine: Any) -> dict[str, float]:
    """Bytes of parameters, gradients (one per trainable parameter), optimizer state and saved
    activations (`lipcore.measure.saved_activation_bytes`: parameters not counted again) for
    one training batch; the peak as described in the module docstring."""
    m = engine.members[0]
    n = engine.control.batch_size or len(engine.data_dev.x_train)
    x, y = engine.data_dev.x_train[:n], engine.data_dev.y_train[:n]
    params = list(m.model.parameters())
    opt_state = [v for s in m.optimizer.state.values() for v in s.values()]
    out = {"memory/params_bytes": float(tensor_bytes(params)),
           "memory/grads_bytes": float(tensor_bytes(p for p in params if p.requires_grad)),
           "memory/optimizer_bytes": float(tensor_bytes(opt_state)),
           "memory/activation_bytes": float(saved_activation_bytes(m.model, x, y, m.loss_fn))}
    if x.is_cuda:
        trainable = [p for p in params if p.requires_grad]
        peak, _ = peak_memory(lambda: torch.autograd.grad(m.loss_fn(m.model(x), y), trainable),
                              x.device, 1)
        out["memory/peak_bytes"] = float(peak)
        out["memory/peak_source"] = 1.0
    else:
        out["memory/peak_bytes"] = sum(out.values())
        out["memory/peak_source"] = 0.0
    return out


def block_gradient(model: nn.Module, loss_fn, x, y, params: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    flat = [p for group in params for p in group]
    grads = torch.autograd.grad(loss_fn(model(x), y), flat)
    out, i = [], 0
    for group in params:
        out.append(torch.cat([g.reshape(-1) for g in grads[i:i + len(group)]]))
        i += len(group)
    return out


def interaction_matrix(model: nn.Module, loss_fn, x, y, n_probes: int = 8, eps: float = 1e-3,
                       exact: bool = False, seed: int = 0) -> torch.Tensor:
    """(B, B) matrix of ‖H_ij‖_F between the model's blocks, by finite differences."""
    groups = [[p for p in b.parameters() if p.requires_grad] for b in model.blocks]
    groups = [g for g in groups if g]
    gen = torch.Generator().manual_seed(seed)
    n = len(groups)
    sq = torch.zeros(n, n, dtype=torch.float64)
    for j, group in enumerate(groups):
        size = sum(p.numel() for p in group)
        probes = torch.eye(size) if exact else torch.randn(n_probes, size, generator=gen)
        for v in probes:
            v = v.to(group[0].device, group[0].dtype)
            diffs = []
            for sign in (1.0, -1.0):
                _shift(group, sign * eps * v)
                diffs.append(block_gradient(model, loss_fn, x, y, groups))
                _shift(group, -sign * eps * v)
            for i in range(n):
                hv = (diffs[0][i] - diffs[1][i]) / (2 * eps)
                sq[i, j] += float((hv.double() ** 2).sum())
        if not exact:
            sq[:, j] /= len(probes)
    return sq.sqrt()


@torch.no_grad()
def _shift(params: list[torch.Tensor], delta: torch.Tensor) -> None:
    i = 0
    for p in params:
        p.add_(delta[i:i + p.numel()].view_as(p))
        i += p.numel()


@MEASUREMENTS.register("hessian_block_interaction")
def hessian_block_interaction(engine: Any) -> dict[str, float]:
    m = engine.members[0]
    x, y = engine.data_dev.x_train[:PROBE_BATCH], engine.data_dev.y_train[:PROBE_BATCH]
    mat = interaction_matrix(m.model, m.loss_fn, x, y, seed=engine.step)
    total = float(mat.pow(2).sum())
    off = total - float(mat.diag().pow(2).sum())
    if engine.checkpoint_dir is not None:
        folder = Path(engine.checkpoint_dir).parent / "measurements"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"hessian_block_interaction_{engine.step:08d}.json"
        path.write_text(json.dumps({"step": engine.step, "matrix": mat.tolist()}))
        engine.reporter.artifact(f"hessian_block_interaction/{engine.step}", str(path), "measurement")
    return {"hessian/offdiag_share": off / total if total > 0 else 0.0,
            "hessian/block_norm_max": float(mat.max())}


def run_measurements(engine: Any) -> dict[str, float]:
    out: dict[str, Any] = {}
    for name in engine.cfg["measurements"]:
        out.update(MEASUREMENTS.get(name, key="training.measurements")(engine))
    return out
