"""The reaper: a thread in every worker process that settles runs whose worker vanished.

Every `run_stale_s / 4` seconds it (1) reaps running runs with a stale heartbeat (a SIGKILLed or
OOM-killed worker, a lost machine): requeue and re-enqueue, or `failed` after `max_retries`;
and (2) when the broker holds no waiting message, re-enqueues queued runs nobody touched for
`3 × run_stale_s` (their message died with a broker that restarted without persistence; the
margin lets a worker that has just reserved a message claim it first). Several
workers reaping at once is safe: each row moves by compare-and-set, and a duplicate message
is a no-op at `claim`.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from server import lifecycle
from server.outage import StoreOutage, store_unavailable
from server.settings import Settings

log = logging.getLogger("liplab.reaper")
OUTAGE = StoreOutage(log, "reaper")


def broker_backlog(app: Any, queues: list[str]) -> int | None:
    """Messages waiting in `queues` (None when the broker cannot say)."""
    from kombu.exceptions import ChannelError

    total = 0
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            for name in queues:
                try:
                    total += channel.queue_declare(queue=name, passive=True).message_count
                except ChannelError:
                    pass  # the queue does not exist (yet): nothing waits in it
    except Exception:  # noqa: BLE001 - broker away: try again next pass
        return None
    return total


def reap_once(sessions: Any, settings: Settings, enqueue: Callable[[int], None],
              backlog: Callable[[], int | None]) -> lifecycle.Reaped:
    """One pass; returns what it did (runs re-enqueued: `requeued`, including orphans)."""
    with sessions() as db:
        done = lifecycle.reap(db, stale_s=settings.run_stale_s, max_retries=settings.max_retries)
    if backlog() == 0:
        with sessions() as db:
            done.requeued += lifecycle.orphans(db, older_than_s=3 * settings.run_stale_s)
    for run_id in done.requeued:
        enqueue(run_id)
    if done.requeued or done.failed or done.cancelled:
        log.warning("reaper: requeued %s, failed %s, cancelled %s", done.requeued, done.failed,
                    done.cancelled)
    return done


class Reaper:
    def __init__(self, sessions: Any, settings: Settings, enqueue: Callable[[int], None],
                 backlog: Callable[[], int | None]):
        self.args = (sessions, settings, enqueue, backlog)
        self.every = max(0.25, settings.run_stale_s / 4)
        self.stop = threading.Event()

    def start(self) -> "Reaper":
        threading.Thread(target=self._loop, name="liplab-reaper", daemon=True).start()
        return self

    def _loop(self) -> None:
        while not self.stop.wait(self.every):
            try:
                reap_once(*self.args)
            except Exception as exc:  # noqa: BLE001 - store or broker away: the next pass retries
                if store_unavailable(exc):
                    OUTAGE.failed(exc)  # one line per outage, not a traceback per pass
                else:
                    log.exception("reaper pass failed")
                continue
            OUTAGE.ok()
