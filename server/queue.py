"""Enqueueing by task name: the API never imports worker code (or torch).

Tasks: `liplab.run(run_id)`, `liplab.pack(run_ids)` (members of a sweep trained together) and `liplab.probe(run_id, probe_names, params)`. Queues: `gpu` and
`cpu`; `server.crud.queue_for(config)` picks `cpu` for `training.device: cpu`, else `gpu`.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import Celery

from server.settings import Settings

log = logging.getLogger("liplab.queue")

RUN_TASK = "liplab.run"
PACK_TASK = "liplab.pack"
PROBE_TASK = "liplab.probe"
QUEUES = ("gpu", "cpu")


def make_client(settings: Settings) -> Celery:
    app = Celery("liplab-api")
    app.conf.update(settings.celery_config())
    app.conf.task_default_queue = "gpu"
    return app


class Queue:
    """Sends runs and probe jobs to the workers; a thin wrapper so routes don't know Celery."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = make_client(settings)

    def enqueue_run(self, run_id: int, queue: str = "gpu") -> None:
        """Send the run's message. The run is already stored as queued, so a broker that cannot
        be reached is not the submitter's error: the run stays queued and a worker re-sends it
        when it reconnects to the broker (`worker.resend`), or the reaper does later."""
        from kombu.exceptions import OperationalError

        try:
            self.client.send_task(RUN_TASK, args=[run_id], queue=queue)
        except OperationalError as exc:
            log.warning("broker unavailable, run %d stays queued until a worker re-sends it: %s",
                        run_id, exc)

    def enqueue_pack(self, run_ids: list[int], queue: str = "gpu") -> None:
        """One job for a pack of runs; a pack of one is an ordinary run."""
        if len(run_ids) == 1:
            self.enqueue_run(run_ids[0], queue)
            return
        self.client.send_task(PACK_TASK, args=[list(run_ids)], queue=queue)

    def enqueue_probe(self, run_id: int, probes: list[str], params: dict[str, Any],
                      queue: str = "gpu") -> None:
        self.client.send_task(PROBE_TASK, args=[run_id, probes, params], queue=queue)

    def ping(self) -> str:
        try:
            with self.client.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            return "ok"
        except Exception as e:  # noqa: BLE001 - any broker failure is reported, not raised
            return f"error: {type(e).__name__}: {e}"

    def lengths(self) -> dict[str, int | None]:
        """Messages waiting per queue (None where the broker cannot say)."""
        url = self.settings.broker_url or ""
        try:
            if url.startswith(("redis://", "rediss://")):
                import redis

                r = redis.Redis.from_url(url, socket_timeout=2)
                return {q: int(r.llen(q)) for q in QUEUES}
            if not url:
                folder = Path(self.settings.celery_config()["broker_transport_options"]["data_folder_in"])
                names = [p.name for p in folder.iterdir()]
                return {q: sum(n.partition(".")[2] == f"{q}.msg" for n in names) for q in QUEUES}
        except Exception:  # noqa: BLE001 - health reports, never raises
            pass
        return {q: None for q in QUEUES}
