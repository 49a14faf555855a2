"""Enqueueing by task name: the API never imports worker code (or torch)."""
from __future__ import annotations

from celery import Celery

from server.settings import Settings

RUN_TASK = "liplab.run"


def make_client(settings: Settings) -> Celery:
    app = Celery("liplab-api")
    app.conf.update(settings.celery_config())
    app.conf.task_default_queue = "gpu"
    return app


class Queue:
    """Sends runs to the workers; a thin wrapper so routes don't know Celery."""

    def __init__(self, settings: Settings):
        self.client = make_client(settings)

    def enqueue_run(self, run_id: int, queue: str = "gpu") -> None:
        self.client.send_task(RUN_TASK, args=[run_id], queue=queue)

    def ping(self) -> str:
        try:
            with self.client.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            return "ok"
        except Exception as e:  # noqa: BLE001 - any broker failure is reported, not raised
            return f"error: {type(e).__name__}: {e}"
