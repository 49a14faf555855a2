"""`execute_run`: one attempt at one run, from claim to final status, whatever happens meanwhile.

The steps, each safe to repeat: claim (compare-and-set, so a redelivered message is a no-op),
find how far an earlier attempt got, train under a `RunGuard` (lipcore resumes from the newest
checkpoint in the run's folder, `resume_from="auto"`), then either finish (final
status), hand the run back to the queue (the worker is shutting down), or walk away (the run was
reaped from under us). Training itself is lipcore's `run_experiment`; nothing here knows torch.

Round trips of a run, kept few because a tiny run is dominated by them: the claim returns the
config, the sweep and the last stored step in one `UPDATE … RETURNING`; the last points, the
artifact rows and the final status (or the requeue) are one transaction. A tiny run costs
three commits: the claim, the points flushed before its checkpoint, the outcome.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable

from server import lifecycle
from server.settings import Settings
from worker.failure import failure_reason
from worker.guard import HardCancel, RunGuard
from worker.resume import run_dir
from worker.sink import DBReporter


def short_traceback(limit: int = 8, max_chars: int = 4000) -> str:
    return traceback.format_exc(limit=limit)[-max_chars:]


def execute_run(run_id: int, *, worker: str, settings: Settings, sessions: Any, bus: Any,
                enqueue: Callable[[int], None]) -> str:
    """Returns what happened: the final status, "requeued", "lost" or "skipped"."""
    from lipcore.experiment import run_experiment

    with sessions() as db:  # one statement: claim, config, sweep and last stored step
        claimed = lifecycle.claim_run(db, run_id=run_id, worker=worker)
    if claimed is None:
        return "skipped"
    config, sweep_id, done = claimed.config, claimed.sweep_id, claimed.last_step
    publish_status(bus, run_id, sweep_id, "running")
    guard = RunGuard(sessions, run_id, worker, heartbeat_s=settings.run_heartbeat_s,
                     cancel_grace_s=settings.cancel_grace_s)
    reporter = DBReporter(sessions, run_id, bus=bus, sweep_id=sweep_id, stop=guard.should_stop,
                          skip_until=done - 1)
    try:
        with guard:
            summary = run_experiment(config, reporter, workdir=run_dir(settings.artifacts, run_id),
                                     resume_from="auto")
        status, error = summary["status"], summary.get("error")
    except HardCancel:
        status, error = "cancelled", "cancelled: stopped by force after the grace period"
    except Exception as exc:  # noqa: BLE001 - any failure of the experiment ends the run as failed
        reason = failure_reason(exc)
        status, error = "failed", (f"{reason}\n" if reason else "") + short_traceback()
    # The last points, the artifact rows and the outcome are one transaction; if the store is
    # away this raises and the reaper requeues the run later.
    if guard.reason == "lost":
        reporter.flush()
        return "lost"
    if status == "cancelled" and guard.reason == "shutdown":
        if reporter.flush(lambda db: lifecycle.mark_requeued(db, run_id=run_id, worker=worker,
                                                             reason="requeued: worker shut down")):
            enqueue(run_id)
        publish_status(bus, run_id, sweep_id, "queued")
        return "requeued"
    if not reporter.flush(lambda db: lifecycle.mark_finished(db, run_id=run_id, worker=worker,
                                                            status=status, error=error)):
        return "lost"
    if status in ("failed", "diverged"):
        with sessions() as db:
            lifecycle.after_finish(db, run_id=run_id, status=status)
    publish_status(bus, run_id, sweep_id, status, error)
    return status


def publish_status(bus: Any, run_id: int, sweep_id: int | None, status: str,
                   error: str | None = None) -> None:
    if bus is not None:
        bus.publish({"type": "status", "run_id": run_id, "status": status, "error": error},
                    run_id, sweep_id)
