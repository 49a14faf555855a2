"""Worker heartbeats into the `workers` table, so /health knows who is alive on any broker."""
from __future__ import annotations

import os
import socket
import threading

from celery.signals import worker_ready, worker_shutdown

from server.models import Worker, utcnow
from worker.store import sessions

_stop = threading.Event()


def _beat(name: str, queues: str, every_s: float) -> None:
    while not _stop.is_set():
        try:
            with sessions()() as db:
                row = db.get(Worker, name)
                if row is None:
                    db.add(Worker(name=name, queues=queues, started_at=utcnow(), last_seen=utcnow()))
                else:
                    row.last_seen = utcnow()
                db.commit()
        except Exception:  # noqa: BLE001 - a missed beat is not fatal; the next one retries
            pass
        _stop.wait(every_s)


@worker_ready.connect
def start_heartbeat(sender=None, **_kw) -> None:  # noqa: ANN001
    name = getattr(sender, "hostname", None) or f"{socket.gethostname()}-{os.getpid()}"
    queues = ",".join(sorted(q.name for q in sender.app.amqp.queues.values())) if sender else ""
    threading.Thread(target=_beat, args=(name, queues, 5.0), daemon=True).start()


@worker_shutdown.connect
def stop_heartbeat(**_kw) -> None:
    _stop.set()
