"""The run task: claim the row, call lipcore, store the outcome. A thin adapter, no training here."""
from __future__ import annotations

import socket
import traceback

from server import crud
from server.models import Run
from server.settings import get_settings
from worker.celery_app import app
from worker.sink import DBReporter
from worker.store import sessions

WORKER_NAME = f"{socket.gethostname()}"


@app.task(name="liplab.run", bind=True, acks_late=True)
def run_job(self, run_id: int) -> str:  # noqa: ANN001
    """Run `run_id` once: a redelivered message for a claimed run is a no-op."""
    from lipcore.experiment import run_experiment

    worker = self.request.hostname or WORKER_NAME
    with sessions()() as db:
        if not crud.claim_run(db, run_id=run_id, worker=worker):
            return "skipped"
        config = db.get(Run, run_id).config
    reporter = DBReporter(sessions(), run_id)
    workdir = get_settings().artifacts / "runs" / str(run_id)
    try:
        summary = run_experiment(config, reporter, workdir=workdir)
        reporter.flush()
        status, error = summary["status"], summary.get("error")
    except Exception:  # noqa: BLE001 - any failure ends the run as failed, with its traceback
        try:
            reporter.flush()
        finally:
            status, error = "failed", traceback.format_exc(limit=8)[-4000:]
    with sessions()() as db:
        crud.finish_run(db, run_id=run_id, status=status, error=error)
    return status
