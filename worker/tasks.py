"""The Celery tasks: thin adapters from a message to `execute_run` / lipcore's probe runner.

`liplab.run` (queue `gpu`, or `cpu`): run one experiment; redelivery-safe via the DB claim.
`liplab.pack` (same queues): train several runs of a sweep together (`worker.pack`).
`liplab.probe` (its own task, any queue): probes on a finished run's checkpoints.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

from celery.exceptions import Reject
from celery.signals import worker_ready

from server import crud
from server.models import Run
from server.outage import StoreAway
from server.queue import PACK_TASK, PROBE_TASK, RUN_TASK
from server.settings import get_settings
from worker.celery_app import app
from worker.reaper import Reaper, broker_backlog
from worker.resend import ResendOnConnect
from worker.runner import execute_run
from worker.store import bus, sessions


def worker_id(hostname: str | None) -> str:
    """Unique per process, so a restarted worker with the same name is a different owner."""
    return f"{hostname or 'worker'}:{os.getpid()}"


def enqueue(run_id: int, queue: str | None = None) -> None:
    """Send `run_id` again, to its queue (`server.crud.queue_for` its config) unless given."""
    if queue is None:
        with sessions()() as db:
            run = db.get(Run, run_id)
            queue = crud.queue_for(run.config) if run is not None else "gpu"
    app.send_task(RUN_TASK, args=[run_id], queue=queue)


app.steps["consumer"].add(ResendOnConnect)


@contextlib.contextmanager
def handed_back_if_store_away() -> Iterator[None]:
    """The worker is shutting down while the store is away: the task's message goes back to the
    queue unconsumed (rejected with requeue), for a worker that can reach the store."""
    try:
        yield
    except StoreAway:
        raise Reject("store unavailable while the worker shuts down", requeue=True) from None


@app.task(name=RUN_TASK, bind=True)
def run_job(self, run_id: int) -> str:  # noqa: ANN001
    """Run `run_id` once: a redelivered message for a claimed run is a no-op."""
    queue = (self.request.delivery_info or {}).get("routing_key") or "gpu"
    with handed_back_if_store_away():
        return execute_run(run_id, worker=worker_id(self.request.hostname), settings=get_settings(),
                           sessions=sessions(), bus=bus(), enqueue=lambda rid: enqueue(rid, queue))


def enqueue_pack(run_ids: list[int], queue: str) -> None:
    """Send a pack again (one run alone as an ordinary run)."""
    if len(run_ids) == 1:
        enqueue(run_ids[0], queue)
    else:
        app.send_task(PACK_TASK, args=[list(run_ids)], queue=queue)


@app.task(name=PACK_TASK, bind=True)
def pack_job(self, run_ids: list[int]) -> dict:  # noqa: ANN001
    """Train the runs `run_ids` as one pack; members already claimed elsewhere are skipped."""
    from worker.pack import execute_pack

    queue = (self.request.delivery_info or {}).get("routing_key") or "gpu"
    with handed_back_if_store_away():
        done = execute_pack(list(run_ids), worker=worker_id(self.request.hostname),
                            settings=get_settings(), sessions=sessions(), bus=bus(),
                            enqueue_pack=lambda ids: enqueue_pack(ids, queue))
    return {str(k): v for k, v in done.items()}


@app.task(name=PROBE_TASK, bind=True)
def probe_job(self, run_id: int, probes: list[str], params: dict | None = None) -> list[str]:  # noqa: ANN001
    """Run named probes on a finished run's saved model; results become the run's artifacts."""
    from worker.probes import probe_saved_run

    with handed_back_if_store_away():
        return sorted(probe_saved_run(run_id, probes, params or {}, settings=get_settings(),
                                      sessions=sessions()))


@worker_ready.connect
def start_reaper(sender=None, **_kw) -> None:  # noqa: ANN001
    """Preload lipcore (torch, but no CUDA context) so the first run is not slowed by imports,
    then start this process's reaper thread."""
    import lipcore.data  # noqa: F401
    import lipcore.experiment  # noqa: F401
    import lipcore.models  # noqa: F401
    import lipcore.pack_run  # noqa: F401
    import lipcore.training.loop  # noqa: F401
    import lipcore.training.pack  # noqa: F401

    queues = [q.name for q in sender.app.amqp.queues.values()] if sender else ["gpu", "cpu"]
    Reaper(sessions(), get_settings(), enqueue, lambda: broker_backlog(app, queues)).start()
