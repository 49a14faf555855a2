"""Run state transitions in the store, each one a compare-and-set so that no two workers own a run.

    queued ──claim──▶ running ──finish──▶ succeeded | failed | diverged | cancelled
       ▲                 │
       └──requeue/reap───┘   (worker stopped with SIGTERM, or silent for `stale_s`)

Every transition is a single `UPDATE … WHERE status = … [AND worker = …]`: the row count says
whether this caller won. A redelivered Celery message therefore finds the run no longer
`queued` and does nothing; a worker that lost its run (reaped while it was frozen) can neither
heartbeat nor finish it. `attempts` counts claims; the reaper gives up after `max_retries`
requeues and marks the run `failed` with the reason. Torch-free: the API may call it too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.models import FINISHED, MetricPoint, Run, Sweep, Worker, utcnow


@dataclass
class Claimed:
    """What a worker needs after winning a run: its config, its sweep, how far the store got
    (the highest step with stored points, -1 when none)."""

    config: dict
    sweep_id: int | None
    last_step: int


def claim_run(db: Session, *, run_id: int, worker: str) -> Claimed | None:
    """queued → running for exactly one caller, returning the run's config, sweep and last
    stored step in the same statement (`UPDATE … RETURNING`, one round trip, one commit);
    None if the run is not queued (any more)."""
    now = utcnow()
    last = select(func.max(MetricPoint.step)).where(MetricPoint.run_id == run_id).scalar_subquery()
    row = db.execute(
        update(Run).where(Run.id == run_id, Run.status == "queued")
        .values(status="running", started_at=now, heartbeat_at=now,
                worker=worker, attempts=Run.attempts + 1, error=None)
        .returning(Run.config, Run.sweep_id, last)
    ).first()
    db.commit()
    if row is None:
        return None
    return Claimed(row[0], row[1], -1 if row[2] is None else int(row[2]))


def claim_runs(db: Session, *, run_ids: list[int], worker: str) -> dict[int, Claimed]:
    """`claim_run` for the members of a pack in one statement and one commit: each row moves
    queued → running by the same compare-and-set (`WHERE status = 'queued'`, evaluated per
    row, so a member another worker holds or that ended is left out); returns the ones won."""
    if not run_ids:
        return {}
    now = utcnow()
    last = (select(func.max(MetricPoint.step)).where(MetricPoint.run_id == Run.id)
            .correlate(Run).scalar_subquery())
    rows = db.execute(
        update(Run).where(Run.id.in_(run_ids), Run.status == "queued")
        .values(status="running", started_at=now, heartbeat_at=now,
                worker=worker, attempts=Run.attempts + 1, error=None)
        .returning(Run.id, Run.config, Run.sweep_id, last)
    ).all()
    db.commit()
    return {int(r[0]): Claimed(r[1], r[2], -1 if r[3] is None else int(r[3])) for r in rows}


def claim(db: Session, *, run_id: int, worker: str) -> bool:
    """queued → running for exactly one caller; False if the run is not queued (any more)."""
    return claim_run(db, run_id=run_id, worker=worker) is not None


def heartbeat(db: Session, *, run_id: int, worker: str) -> bool | None:
    """Touch `heartbeat_at` of a run this worker owns.

    Returns None when the worker no longer owns the run (it was reaped or finished elsewhere),
    else whether a cancel was requested.
    """
    cancel = db.scalar(update(Run).where(Run.id == run_id, Run.status == "running", Run.worker == worker)
                       .values(heartbeat_at=utcnow()).returning(Run.cancel_requested))
    db.commit()  # one round trip: the touch and the cancel flag (`UPDATE … RETURNING`)
    return None if cancel is None else bool(cancel)


def heartbeat_runs(db: Session, *, run_ids: list[int], worker: str) -> dict[int, bool]:
    """`heartbeat` for the members of a pack in one statement: run id → whether a cancel was
    requested, for the runs this worker still owns (a missing id was lost)."""
    if not run_ids:
        return {}
    rows = db.execute(update(Run).where(Run.id.in_(run_ids), Run.status == "running",
                                        Run.worker == worker)
                      .values(heartbeat_at=utcnow()).returning(Run.id, Run.cancel_requested)).all()
    db.commit()
    return {int(run_id): bool(cancel) for run_id, cancel in rows}


def finish(db: Session, *, run_id: int, worker: str, status: str, error: str | None = None) -> bool:
    """running → a final status, only for the owning worker; then apply the sweep's fail_fast."""
    won = mark_finished(db, run_id=run_id, worker=worker, status=status, error=error)
    db.commit()
    if won:
        after_finish(db, run_id=run_id, status=status)
    return won


def mark_finished(db: Session, *, run_id: int, worker: str, status: str, error: str | None = None) -> bool:
    """`finish` without the commit, so a worker can settle a run in the transaction that
    writes its last points and artifact rows; the caller commits, then calls `after_finish`."""
    if status not in FINISHED:
        raise ValueError(f"status: {status!r} is not a final status; choose one of {', '.join(FINISHED)}")
    return db.execute(update(Run).where(Run.id == run_id, Run.status == "running", Run.worker == worker)
                      .values(status=status, error=error, finished_at=utcnow())).rowcount == 1


def after_finish(db: Session, *, run_id: int, status: str) -> None:
    """What follows a committed final status: a failed or diverged run stops a fail_fast sweep."""
    if status in ("failed", "diverged"):
        apply_fail_fast(db, run_id=run_id)


def requeue(db: Session, *, run_id: int, worker: str, reason: str, forgive: bool = True) -> bool:
    """running → queued (a worker shutting down hands its run back).

    `forgive` gives the attempt back: a pre-empted worker is not the run's fault.
    """
    won = mark_requeued(db, run_id=run_id, worker=worker, reason=reason, forgive=forgive)
    db.commit()
    return won


def mark_requeued(db: Session, *, run_id: int, worker: str, reason: str, forgive: bool = True) -> bool:
    """`requeue` without the commit (the caller's transaction also holds the last points)."""
    return db.execute(
        update(Run).where(Run.id == run_id, Run.status == "running", Run.worker == worker)
        .values(status="queued", worker=None, heartbeat_at=utcnow(), error=reason,
                attempts=Run.attempts - (1 if forgive else 0))
    ).rowcount == 1


@dataclass
class Reaped:
    """What one reaper pass did: runs to enqueue again, runs given up, runs cancelled."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)


def reap(db: Session, *, stale_s: float, max_retries: int, now: datetime | None = None) -> Reaped:
    """Settle every running run whose heartbeat is older than `stale_s` (its worker is gone).

    A run with a pending cancel becomes `cancelled`; one claimed more than `max_retries` times
    becomes `failed` with the reason; any other goes back to `queued` (the caller re-enqueues
    `Reaped.requeued`). Each row is moved by its own compare-and-set, so concurrent reapers in
    several workers never double-count.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=stale_s)
    stale = db.execute(select(Run.id, Run.heartbeat_at, Run.attempts, Run.worker, Run.cancel_requested)
                       .where(Run.status == "running", Run.heartbeat_at < cutoff)).all()
    out = Reaped()
    for run_id, beat, attempts, worker, cancel in stale:
        guard = (Run.id == run_id, Run.status == "running", Run.heartbeat_at == beat)
        lost = f"worker {worker} stopped sending heartbeats (attempt {attempts})"
        if cancel:
            values, bucket = {"status": "cancelled", "finished_at": now, "error": f"cancelled; {lost}"}, out.cancelled
        elif attempts > max_retries:
            values = {"status": "failed", "finished_at": now,
                      "error": f"{lost}; gave up after max_retries={max_retries} retries"}
            bucket = out.failed
        else:
            values, bucket = {"status": "queued", "worker": None, "heartbeat_at": now,
                              "error": f"requeued: {lost}"}, out.requeued
        if db.execute(update(Run).where(*guard).values(**values)).rowcount == 1:
            bucket.append(run_id)
    db.commit()
    for run_id in out.failed:
        apply_fail_fast(db, run_id=run_id)
    return out


def orphans(db: Session, *, older_than_s: float, now: datetime | None = None) -> list[int]:
    """Queued runs untouched for `older_than_s`, marked touched now (ids in order).

    When the broker has lost messages (it restarted without persistence), these are runs whose
    message may be gone; the caller sends them again. A duplicate message is harmless: `claim`
    lets only one through. One `UPDATE … RETURNING`, so two workers asking at once never both
    get the same run.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=older_than_s)
    last = func.coalesce(Run.heartbeat_at, Run.created_at)
    ids = sorted(db.scalars(update(Run).where(Run.status == "queued", last < cutoff)
                            .values(heartbeat_at=now).returning(Run.id)
                            .execution_options(synchronize_session=False)))
    db.commit()
    return ids


def queued_and_holders(db: Session, *, alive_s: float, now: datetime | None = None) -> tuple[int, int]:
    """(runs queued in the store, workers seen in the last `alive_s`): each live worker may hold
    one message it has received but not yet claimed, so a broker backlog shorter than
    `queued - holders` means messages were lost."""
    cutoff = (now or utcnow()) - timedelta(seconds=alive_s)
    queued = db.scalar(select(func.count()).select_from(Run).where(Run.status == "queued"))
    holders = db.scalar(select(func.count()).select_from(Worker).where(Worker.last_seen >= cutoff))
    return int(queued or 0), int(holders or 0)


def fail_fast_enabled(sweep: Sweep | None) -> bool:
    """A sweep's `fail_fast` option (`sweeps.fail_fast`, set at submission)."""
    return bool(sweep.fail_fast) if sweep is not None else False


def apply_fail_fast(db: Session, *, run_id: int) -> list[int]:
    """If `run_id` belongs to a fail_fast sweep, stop its siblings: queued ones are cancelled at
    once, running ones get a cancel request. Returns the ids touched; without fail_fast, none
    (a sweep goes on when one member fails)."""
    run = db.get(Run, run_id)
    if run is None or run.sweep_id is None or not fail_fast_enabled(db.get(Sweep, run.sweep_id)):
        return []
    reason = f"fail_fast: run {run_id} of this sweep ended {run.status}"
    siblings = (Run.sweep_id == run.sweep_id, Run.id != run_id)
    queued = list(db.scalars(update(Run).where(*siblings, Run.status == "queued")
                             .values(status="cancelled", finished_at=utcnow(), error=reason)
                             .returning(Run.id)))
    running = list(db.scalars(update(Run).where(*siblings, Run.status == "running")
                              .values(cancel_requested=1, error=reason).returning(Run.id)))
    db.commit()
    return queued + running
