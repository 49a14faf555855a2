"""The probe registry, the context a probe receives, and `run_probes`."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from lipcore.registry import Registry

PROBES: Registry[Callable[..., dict]] = Registry("probe")


@dataclass
class ProbeContext:
    """What a probe may look at.

    model: the trained model (eval mode is the probe's business); data: the run's `Dataset`;
    loss_fn: `loss_fn(model(x), y)` → mean loss; checkpoints: [(step, state_dict)] oldest first,
    the last being the final model; config: the validated run config; metrics: the run's logged
    series {key: {"step": [...], "value": [...]}}; peers: other trained models of the same
    architecture (connectivity's second endpoint); lyapunov_fn: `(model, x, k) -> Tensor[k]`
    (defaults to `lipcore.flossing.lyapunov_exponents` when that module exists).
    """

    model: nn.Module
    data: Any
    loss_fn: Callable
    checkpoints: list[tuple[int, dict]] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    device: str = "cpu"
    metrics: dict[str, dict[str, list]] = field(default_factory=dict)
    peers: list[nn.Module] = field(default_factory=list)
    lyapunov_fn: Callable | None = None

    def train_xy(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `n` training examples (all when None), on the context's device."""
        return _take(self.data.x_train, self.data.y_train, n, self.device)

    def test_xy(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `n` test examples (all when None), on the context's device."""
        return _take(self.data.x_test, self.data.y_test, n, self.device)

    def require_checkpoints(self, probe: str, at_least: int = 1) -> list[tuple[int, dict]]:
        """The checkpoints, or a ValueError saying the probe needs (more of) them."""
        have = len(self.checkpoints)
        if have < at_least:
            what = "no checkpoint" if have == 0 else f"only {have} checkpoint(s)"
            raise ValueError(f"probe {probe}: the run has {what}; it needs at least {at_least} "
                             "(enable checkpoints in training, or pick a run that saved them)")
        return self.checkpoints

    def trajectory(self, probe: str, at_least: int = 1) -> list[tuple[int, dict]]:
        """The checkpoints, with θ_init (rebuilt from the config) first when the run saved no
        step-0 checkpoint; a ValueError when fewer than `at_least` states result."""
        rebuilt = self._rebuilt_init()
        states = ([(0, rebuilt)] if rebuilt is not None else []) + list(self.checkpoints)
        if len(states) < at_least:
            self.require_checkpoints(probe, at_least)
        return states

    def _rebuilt_init(self) -> dict | None:
        """θ_init rebuilt from `config["model"]` (seeded by model_seed) when the earliest
        checkpoint is later than step 0; None when there is a step-0 checkpoint or no config."""
        if not self.checkpoints or self.checkpoints[0][0] == 0 or "model" not in self.config:
            return None
        if not hasattr(self, "_init_state"):
            from lipcore.models import build_model

            model = build_model(self.config["model"], self.data)
            self._init_state = {k: v.to(self.device) for k, v in model.state_dict().items()}
        return self._init_state

    def step_of(self, which: str) -> int | None:
        """The training step of "init", "final" or a step given as text (None if unknown)."""
        if which == "init" and self._rebuilt_init() is not None:
            return 0
        if not self.checkpoints:
            return None
        if which in ("init", "final"):
            return int(self.checkpoints[0 if which == "init" else -1][0])
        return int(which)

    def params_at(self, which: str, probe: str):
        """θ at `which`: "final" (the trained model), "init" (the earliest checkpoint, step 0
        when the run saved one) or a checkpoint step given as text."""
        from lipcore.probes.params import get_params, params_from_state

        if which == "final" and not self.checkpoints:
            return get_params(self.model)
        ckpts = self.require_checkpoints(probe)
        if which == "init":
            rebuilt = self._rebuilt_init()
            return params_from_state(self.model, rebuilt if rebuilt is not None else ckpts[0][1])
        if which == "final":
            return params_from_state(self.model, ckpts[-1][1])
        steps = {str(s): state for s, state in ckpts}
        if str(which) not in steps:
            raise ValueError(f"probe {probe}: no checkpoint at step {which!r}; the run has "
                             f"init, final, {', '.join(steps)}")
        return params_from_state(self.model, steps[str(which)])


def _take(x: torch.Tensor, y: torch.Tensor, n: int | None, device: str):
    if n is not None:
        x, y = x[:n], y[:n]
    return x.to(device), y.to(device)


def run_probes(specs: list[dict], ctx: ProbeContext, reporter: Any = None,
               workdir: str | Path | None = None, skip_existing: bool = True,
               step: int | None = None) -> dict[str, dict]:
    """Run each `{name: ..., **params}` in `specs`; results by name (JSON files in workdir).

    Idempotent: with `skip_existing`, a probe whose `<workdir>/probes/<name>.json` already exists
    is read back instead of recomputed, so an interrupted analysis resumes where it stopped. Each
    file is written atomically. A result's optional `metrics` ({key: float}) are also logged to
    the reporter at `step` (default: the newest checkpoint's step, i.e. the trained model's; e.g.
    `certified_acc/<eps>`, `time/batch_s`). A failing probe raises a ValueError naming it and
    writes nothing.
    """
    if step is None:
        step = ctx.checkpoints[-1][0] if ctx.checkpoints else 0
    results = {}
    for spec in specs:
        params = dict(spec)
        name = params.pop("name")
        label = params.pop("label", name)
        fn = PROBES.get(name, key="probes.name")
        params = _checked(name, params)
        path = Path(workdir) / "probes" / f"{label}.json" if workdir is not None else None
        if path is not None and skip_existing and path.exists():
            results[label] = json.loads(path.read_text())
            continue
        result = fn(ctx, **params)
        json.dumps(result)  # fail here, not in the server, if a probe returns non-JSON data
        results[label] = result
        if reporter is not None and result.get("metrics"):
            reporter.log(result["metrics"], step)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(result))
            os.replace(tmp, path)
            if reporter is not None:
                reporter.artifact(label, str(path), "probe")
    return results


def run_probe(name: str, ctx: ProbeContext, **params: Any) -> dict:
    """One probe by name, its parameters checked and defaults filled from `PROBE_PARAMS`."""
    fn = PROBES.get(name, key="probes.name")
    return fn(ctx, **_checked(name, params))


def _checked(name: str, params: dict) -> dict:
    """Declared probes get checked params with defaults; a plug-in probe registered at run
    time without a `PROBE_PARAMS` entry gets its params as given."""
    from lipcore.config.probes import PROBE_PARAMS, check_probe_params

    return check_probe_params(name, params) if name in PROBE_PARAMS else dict(params)
