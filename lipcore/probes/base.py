"""The probe registry, the context a probe receives, and `run_probes`."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import nn

from lipcore.registry import Registry

PROBES: Registry[Callable[..., dict]] = Registry("probe")


@dataclass
class ProbeContext:
    """What a probe may look at.

    model: the trained model (eval mode is the probe's business); data: the run's `Dataset`;
    loss_fn: `loss_fn(model(x), y)` → mean loss; checkpoints: [(step, state_dict)] oldest first,
    the last being the final model; config: the validated run config.
    """

    model: nn.Module
    data: Any
    loss_fn: Callable
    checkpoints: list[tuple[int, dict]] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    device: str = "cpu"


def run_probes(specs: list[dict], ctx: ProbeContext, reporter: Any = None,
               workdir: str | Path | None = None) -> dict[str, dict]:
    """Run each `{name: ..., **params}` in `specs`; results by name (JSON files in workdir)."""
    results = {}
    for spec in specs:
        params = dict(spec)
        name = params.pop("name")
        fn = PROBES.get(name, key="probes.name")
        result = fn(ctx, **params)
        results[name] = result
        if workdir is not None:
            path = Path(workdir) / "probes" / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result))
            if reporter is not None:
                reporter.artifact(name, str(path), "probe")
    return results
