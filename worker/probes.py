"""`probe_saved_run`: the `liplab.probe` task's body: lipcore probes on a finished run's model.

The run's folder (`<artifacts>/runs/<id>/`, where the run task trained and checkpointed) gets
the run's `config.json` from the store, then `lipcore.saved.probe_saved_run` rebuilds model and
data and runs the probes. Each result is stored through `server.probes.store_probe_result`
(JSON under `probes/`, an artifact row, the probe job marked done); a failure marks the run's
open probe jobs failed with the traceback, then propagates. Reading the config and storing the
results wait out a store outage, as the run task's claim and last write do.
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any

from server.artifact_store import mirror
from server.models import Run
from server.outage import wait_for_store
from server.probes import fail_probe_jobs, store_probe_result
from server.settings import Settings
from worker.guard import SHUTDOWN
from worker.resume import run_dir
from worker.runner import TASK_OUTAGE, short_traceback


def probe_saved_run(run_id: int, names: list[str], params: dict[str, dict], *, settings: Settings,
                    sessions: Any) -> dict:
    """Run probes `names` (each with `params[name]`) on run `run_id`; results by name."""
    from lipcore.saved import probe_saved_run as probe_folder

    def read_config() -> dict | None:
        with sessions() as db:
            run = db.get(Run, run_id)
            return None if run is None else run.config

    config = wait_for_store(read_config, TASK_OUTAGE, stop=SHUTDOWN.is_set)
    if config is None:
        raise ValueError(f"run_id: run {run_id} does not exist")
    specs = [{"name": n, **params.get(n, {})} for n in names]
    workdir = run_dir(settings.artifacts, run_id)
    (workdir / "config.json").write_text(json.dumps(config))
    try:
        with mirror(settings, workdir, run_id) or nullcontext():
            results = probe_folder(workdir, specs, reporter=None, skip_existing=False)
    except Exception:
        with sessions() as db:
            fail_probe_jobs(db, run_id, short_traceback())
        raise
    def store() -> None:
        with sessions() as db:
            for name, result in results.items():
                store_probe_result(db, run_id, name, result, artifact_dir=settings.artifacts)

    wait_for_store(store, TASK_OUTAGE)
    if (m := mirror(settings, workdir, run_id)) is not None:
        m.push()  # the results JSON, for an API on another machine
    return results
