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

A store outage is a pause: the claim waits for the store (holding its message unacknowledged;
`StoreAway` if the worker is told to shut down meanwhile, and the task hands the message back),
so an outage never consumes a queued run; points wait in the reporter's buffer (`DBReporter`).
"""
from __future__ import annotations

import logging
import traceback
from contextlib import nullcontext
from typing import Any, Callable

from server import lifecycle
from server.artifact_store import mirror
from server.outage import StoreOutage, wait_for_store
from server.settings import Settings
from worker.failure import failure_reason
from worker.guard import SHUTDOWN, HardCancel, RunGuard
from worker.resume import forget_unstored_attempt, run_dir
from worker.sink import DBReporter


TASK_OUTAGE = StoreOutage(logging.getLogger("liplab.worker"), "starting or settling a task")


def short_traceback(limit: int = 8, max_chars: int = 4000) -> str:
    return traceback.format_exc(limit=limit)[-max_chars:]


def execute_run(run_id: int, *, worker: str, settings: Settings, sessions: Any, bus: Any,
                enqueue: Callable[[int], None]) -> str:
    """Returns what happened: the final status, "requeued", "lost" or "skipped"."""
    from lipcore.experiment import run_experiment

    def claim() -> lifecycle.Claimed | None:  # one statement: claim, config, sweep, last step
        with sessions() as db:
            return lifecycle.claim_run(db, run_id=run_id, worker=worker)

    claimed = wait_for_store(claim, TASK_OUTAGE, stop=SHUTDOWN.is_set)
    if claimed is None:
        return "skipped"
    config, sweep_id, done = claimed.config, claimed.sweep_id, claimed.last_step
    publish_status(bus, run_id, sweep_id, "running")
    guard = RunGuard(sessions, run_id, worker, heartbeat_s=settings.run_heartbeat_s,
                     cancel_grace_s=settings.cancel_grace_s)
    reporter = DBReporter(sessions, run_id, bus=bus, sweep_id=sweep_id, stop=guard.should_stop,
                          skip_until=done - 1, live_every_s=settings.live_every_s,
                          background=True)  # no store round trip in a step
    workdir = run_dir(settings.artifacts, run_id)
    try:
        with guard, (mirror(settings, workdir, run_id) or nullcontext()) as synced:
            forget_unstored_attempt(workdir, done, synced)  # after the mirror has brought the folder
            summary = run_experiment(config, reporter, workdir=workdir, resume_from="auto")
        status, error = summary["status"], summary.get("error")
    except HardCancel:
        status, error = "cancelled", "cancelled: stopped by force after the grace period"
    except Exception as exc:  # noqa: BLE001 - any failure of the experiment ends the run as failed
        reason = failure_reason(exc)
        status, error = "failed", (f"{reason}\n" if reason else "") + short_traceback()
    return settle(run_id, sweep_id, status, error, guard=guard, reporter=reporter, worker=worker,
                  sessions=sessions, bus=bus, enqueue=enqueue)


def settle(run_id: int, sweep_id: int | None, status: str, error: str | None, *, guard: RunGuard,
           reporter: DBReporter, worker: str, sessions: Any, bus: Any,
           enqueue: Callable[[int], None]) -> str:
    """After training: store the run's outcome (or hand it back, or walk away when lost)."""
    # The last points, the artifact rows and the outcome are one transaction; if the store is
    # away, `flush` waits for it.
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
        def settle() -> None:
            with sessions() as db:
                lifecycle.after_finish(db, run_id=run_id, status=status)
        wait_for_store(settle, TASK_OUTAGE)
    publish_status(bus, run_id, sweep_id, status, error)
    return status


def publish_status(bus: Any, run_id: int, sweep_id: int | None, status: str,
                   error: str | None = None) -> None:
    if bus is not None:
        bus.publish({"type": "status", "run_id": run_id, "status": status, "error": error},
                    run_id, sweep_id)
