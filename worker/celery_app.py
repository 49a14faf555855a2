"""The Celery app the workers run (`celery -A worker.celery_app worker`).

Long tasks: acknowledged late and rejected (requeued) if the worker process is lost, one
message prefetched at a time. The DB engine is created lazily in `worker.store`, never at import.
"""
from __future__ import annotations

from celery import Celery

from server.settings import get_settings


def make_celery() -> Celery:
    app = Celery("liplab", include=["worker.tasks", "worker.heartbeat"])
    app.conf.update(get_settings().celery_config())
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        task_ignore_result=True,
        task_default_queue="gpu",
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


app = make_celery()
