"""`probe_saved_run`: the `liplab.probe` task's body: lipcore probes on a finished run's model.

The run's folder (`<artifacts>/runs/<id>/`) gets the run's `config.json` from the store, then
lipcore's saved-run entry point (`lipcore.saved.probe_saved_run`, the probes engineer's) does
the work. Until that module is on this branch, a fallback builds the `ProbeContext` from the
config and `checkpoints/*.pt` (each a `{"model": state_dict, "step": n}` dict or a bare state
dict) and calls `lipcore.probes.run_probes`. Results are JSON files in the run folder and
artifact rows in the store.
"""
from __future__ import annotations

import json
from typing import Any

from server.models import Run
from server.settings import Settings
from worker.resume import run_dir
from worker.sink import DBReporter


def probe_saved_run(run_id: int, names: list[str], params: dict[str, dict], *, settings: Settings,
                    sessions: Any) -> dict:
    with sessions() as db:
        run = db.get(Run, run_id)
        if run is None:
            raise ValueError(f"run_id: run {run_id} does not exist")
        config = run.config
    specs = [{"name": n, **params.get(n, {})} for n in names]
    workdir = run_dir(settings.artifacts, run_id)
    (workdir / "config.json").write_text(json.dumps(config))
    reporter = DBReporter(sessions, run_id)
    try:
        from lipcore.saved import probe_saved_run as run_saved
    except ImportError:
        from lipcore.probes import run_probes

        return run_probes(specs, _context(config, workdir), reporter, workdir=workdir)
    return run_saved(workdir, specs, reporter=reporter, skip_existing=False)


def _context(config: dict, workdir: Any) -> Any:
    import torch

    from lipcore.data import build_dataset
    from lipcore.models import build_model
    from lipcore.probes import ProbeContext
    from lipcore.training.optim import LOSSES, default_loss

    data = build_dataset(config["data"])
    model = build_model(config["model"], data)
    checkpoints = []
    for path in (workdir / "checkpoints").glob("*.pt"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        checkpoints.append((int(state.get("step", -1)), state.get("model", state)))
    if not checkpoints:
        raise FileNotFoundError(f"run folder {workdir}: no checkpoints/*.pt to probe")
    checkpoints.sort(key=lambda c: c[0])
    model.load_state_dict(checkpoints[-1][1])
    loss_fn = LOSSES.get(config["training"]["loss"] or default_loss(data.task), key="training.loss")()
    return ProbeContext(model=model, data=data, loss_fn=loss_fn, checkpoints=checkpoints, config=config)
