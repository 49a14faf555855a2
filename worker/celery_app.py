"""The Celery app the workers run (`celery -A worker.celery_app worker`).

Long tasks: acknowledged late and rejected (requeued) if the worker process is lost, one message
prefetched at a time, a broker visibility timeout (settings: 7 days) above the longest run so
Redis does not hand a running task to a second worker. None of this is what makes a run happen
exactly once: `server.lifecycle.claim_run` is (a compare-and-set in the store), with the reaper for
workers that vanish. Queues: `gpu` (runs) and `cpu` (runs that need no accelerator, probes, when
the server routes them there). The DB engine is created lazily in `worker.store`, never at import.
"""
from __future__ import annotations

import warnings

from celery import Celery
from celery.exceptions import CPendingDeprecationWarning
from celery.signals import worker_init
from kombu import Exchange, Queue

from server.settings import get_settings


# Celery repeats a paragraph about a future default at every broker reconnect; keeping tasks
# running through a reconnect is what liplab wants, so a reconnect stays the one line it logs.
warnings.filterwarnings("ignore", message=".*on connection loss cancels all currently executed",
                        category=CPendingDeprecationWarning)


def make_celery() -> Celery:
    app = Celery("liplab", include=["worker.tasks", "worker.heartbeat", "worker.guard"])
    app.conf.update(get_settings().celery_config())
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        task_ignore_result=True,
        # each queue its own exchange and key, as the API's send_task(queue=...) declares them
        task_queues=[Queue(q, Exchange(q), routing_key=q) for q in ("gpu", "cpu")],
        task_default_queue="gpu",
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a restarting broker is waited for, not fatal
        worker_hijack_root_logger=False,
    )
    return app


@worker_init.connect
def set_torch_threads(**_: object) -> None:
    """Settings.torch_threads intra-op threads for the runs this worker trains (0: torch's own
    default)."""
    threads = get_settings().torch_threads
    if threads:
        import torch

        torch.set_num_threads(threads)


app = make_celery()
