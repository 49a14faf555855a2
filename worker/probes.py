"""`probe_saved_run`: the `liplab.probe` task's body: lipcore probes on a finished run's model.

Uses lipcore's saved-run entry point when it exists (`lipcore.probes.run_saved`, the probes
engineer's); until then it builds the `ProbeContext` from the run's config and its checkpoints
(`<run_dir>/checkpoints/*.pt`, oldest first; each a state dict or `{"model": state_dict,
"step": n}`) and calls `lipcore.probes.run_probes`. Results are JSON files in the run folder and
artifact rows in the store.
"""
from __future__ import annotations

from typing import Any

from server.models import Run
from server.settings import Settings
from worker.resume import run_dir
from worker.sink import DBReporter


def probe_saved_run(run_id: int, names: list[str], params: dict[str, dict], *, settings: Settings,
                    sessions: Any) -> dict:
    import lipcore.probes as probes

    with sessions() as db:
        run = db.get(Run, run_id)
        if run is None:
            raise ValueError(f"run_id: run {run_id} does not exist")
        config = run.config
    specs = [{"name": n, **params.get(n, {})} for n in names]
    workdir = run_dir(settings.artifacts, run_id)
    reporter = DBReporter(sessions, run_id)
    if hasattr(probes, "run_saved"):
        return probes.run_saved(config, specs, workdir=workdir, reporter=reporter)
    return probes.run_probes(specs, _context(config, workdir), reporter, workdir=workdir)


def _context(config: dict, workdir: Any) -> Any:
    import torch

    from lipcore.data import build_dataset
    from lipcore.models import build_model
    from lipcore.probes import ProbeContext
    from lipcore.training.optim import LOSSES, default_loss

    data = build_dataset(config["data"])
    model = build_model(config["model"], data)
    checkpoints = []
    for path in sorted((workdir / "checkpoints").glob("*.pt")):
        state = torch.load(path, map_location="cpu", weights_only=True)
        checkpoints.append((int(state.get("step", len(checkpoints))), state.get("model", state)))
    if not checkpoints:
        raise FileNotFoundError(f"run folder {workdir}: no checkpoints/*.pt to probe")
    model.load_state_dict(checkpoints[-1][1])
    loss_fn = LOSSES.get(config["training"]["loss"] or default_loss(data.task), key="training.loss")()
    return ProbeContext(model=model, data=data, loss_fn=loss_fn, checkpoints=checkpoints, config=config)
