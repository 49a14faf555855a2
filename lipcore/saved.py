"""Saved runs from disk: a run directory → model, data, checkpoints, metrics → probes.

A run directory is what `liplab run` (or a worker) writes: `config.yaml` (or `config.json`),
`metrics.jsonl` (one `{"step", key: value}` object a line), and `checkpoints/step_<n>.pt`, each
a dict with at least `"step"` and `"model"` (a state_dict); a bare state_dict file is accepted
too. `load_run` rebuilds everything from the config alone (datasets are generated from their
seeds), so probes can run "standalone on saved checkpoints", long after training:

    probe_saved_run("outputs/landscape_moons/20260101-120000", [{"name": "hessian"}])
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import yaml
from torch import nn

from lipcore.reporting import read_jsonl_metrics

_STEP = re.compile(r"(\d+)")


class NoCheckpointError(FileNotFoundError, ValueError):
    """A run folder without any checkpoint file: nothing trained to probe."""


@dataclass
class SavedRun:
    path: Path
    config: dict
    model: nn.Module
    data: Any
    loss_fn: Callable
    checkpoints: list[tuple[int, dict]]
    metrics: dict[str, dict[str, list]] = field(default_factory=dict)


def _load_file(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a checkpoint with numpy RNG state etc.: a trusted local file
        return torch.load(path, map_location="cpu", weights_only=False)


def model_state(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The model state_dict inside a checkpoint object (a payload dict or a bare state_dict)."""
    if isinstance(obj, dict):
        for key in ("model", "model_state", "model_state_dict", "state_dict"):
            if isinstance(obj.get(key), dict):
                return obj[key]
        if obj and all(torch.is_tensor(v) for v in obj.values()):
            return obj
    raise ValueError(f"checkpoint {path}: holds no model state_dict (expected a 'model' key)")


def read_checkpoints(path: str | Path) -> list[tuple[int, dict]]:
    """[(step, state_dict)] oldest first from a run directory, a checkpoints folder or a file."""
    p = Path(path)
    if p.is_file():
        files = [p]
    else:
        folder = p / "checkpoints" if (p / "checkpoints").is_dir() else p
        files = sorted(list(folder.glob("*.pt")) + list(folder.glob("*.pth")))
    out = []
    for i, f in enumerate(files):
        obj = _load_file(f)
        step = obj.get("step") if isinstance(obj, dict) else None
        if not isinstance(step, int):
            digits = _STEP.findall(f.stem)
            step = int(digits[-1]) if digits else i
        out.append((step, model_state(obj, f)))
    return sorted(out, key=lambda item: item[0])


def read_config(run_dir: Path) -> dict:
    for name in ("config.yaml", "config.yml", "config.json"):
        f = run_dir / name
        if f.is_file():
            return yaml.safe_load(f.read_text())
    raise ValueError(f"run {run_dir}: no config.yaml or config.json; is this a run directory?")


def load_run(path: str | Path, device: str = "cpu", config: dict | None = None) -> SavedRun:
    """Rebuild a saved run: the model holds the last checkpoint's weights.

    When the run saved no step-0 checkpoint, probes that ask for `init` get θ_init rebuilt
    from the config (`ProbeContext.params_at`; initialisation is seeded by `model.model_seed`).

    `path` is a run directory or a checkpoint file inside `<run>/checkpoints/`. ValueError when
    the run has no checkpoint (its trained weights were never saved) or no config; `config`
    stands in for a folder without a config file (the worker keeps configs in the database).
    """
    from lipcore.config import validate
    from lipcore.data import build_dataset
    from lipcore.models import build_model
    from lipcore.training.losses import LOSSES, default_loss

    p = Path(path)
    if not p.exists():
        raise ValueError(f"run {p}: no such file or directory")
    run_dir = p.parent.parent if p.is_file() and p.parent.name == "checkpoints" else p
    ckpts = read_checkpoints(p)
    if not ckpts:
        raise NoCheckpointError(f"run {run_dir}: has no checkpoint (no checkpoints/*.pt); probes need "
                         "the trained weights — re-run it with checkpoints enabled")
    cfg = validate(config if config is not None else read_config(run_dir))
    data = build_dataset(cfg["data"])
    model = build_model(cfg["model"], data)
    model.load_state_dict(ckpts[-1][1])
    loss_fn = LOSSES.get(cfg["training"].get("loss") or default_loss(data.task),
                         key="training.loss")()
    return SavedRun(run_dir, cfg, model.to(device), data, loss_fn, ckpts,
                    read_jsonl_metrics(run_dir / "metrics.jsonl"))


def context_for(run: SavedRun, device: str = "cpu", peers: list[nn.Module] | None = None):
    """The `ProbeContext` of a saved run."""
    from lipcore.probes.base import ProbeContext  # importing it registers every probe

    return ProbeContext(model=run.model, data=run.data, loss_fn=run.loss_fn,
                        checkpoints=run.checkpoints, config=run.config, device=device,
                        metrics=run.metrics, peers=list(peers or []))


def probe_saved_run(path: str | Path, specs: list[dict] | None = None, reporter: Any = None,
                    device: str = "cpu", skip_existing: bool = True,
                    config: dict | None = None) -> dict[str, dict]:
    """Run `specs` (default: the run config's `probes`) on a saved run; results land in
    `<run>/probes/<name>.json`, existing ones are kept (resumable)."""
    from lipcore.probes.base import run_probes

    run = load_run(path, device, config)
    specs = run.config.get("probes", []) if specs is None else specs
    return run_probes(specs, context_for(run, device), reporter, run.path, skip_existing)
