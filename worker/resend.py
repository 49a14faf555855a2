"""Re-sending queued runs whose messages a broker restart lost, as soon as a worker (re)connects.

A Redis restarted without persistence comes back empty: every queued run's message is gone while
the store still says `queued`. Celery restarts a worker's consumer each time it (re)connects to
the broker; `ResendOnConnect` is a consumer step, so it runs then, in a side thread (the store may
be away too). If the broker holds fewer messages than the store has queued runs (less one per
live worker, which may hold a message it has not claimed yet), the queued runs are sent again at
once instead of waiting for the reaper's stale-run timer. A duplicate message is harmless: the
claim is a compare-and-set, so the second delivery is a no-op.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from celery import bootsteps

from server import lifecycle
from server.outage import StoreAway, StoreOutage, wait_for_store
from server.settings import Settings

log = logging.getLogger("liplab.resend")
OUTAGE = StoreOutage(log, "re-sending lost messages")

#: runs created or touched this recently are left alone (their message may be in flight, or a
#: second worker reconnecting at the same moment has just re-sent them)
RECENT_S = 2.0


def resend_missing(sessions: Any, settings: Settings, enqueue: Callable[[int], None],
                   backlog: Callable[[], int | None]) -> list[int]:
    """Compare the broker's backlog with the store's queued runs; re-send them if messages are
    missing. Returns the ids sent again."""
    waiting = backlog()
    if waiting is None:
        return []
    with sessions() as db:
        queued, holders = lifecycle.queued_and_holders(db, alive_s=settings.worker_stale_s)
    if queued - waiting <= max(holders, 1):
        return []
    with sessions() as db:
        ids = lifecycle.orphans(db, older_than_s=RECENT_S)
    for run_id in ids:
        enqueue(run_id)
    if ids:
        log.warning("broker holds %d messages for %d queued runs: re-sent %d runs", waiting, queued,
                    len(ids))
    return ids


def resend_when_store_allows(*args: Any) -> None:
    try:
        wait_for_store(lambda: resend_missing(*args), OUTAGE, give_up_s=args[1].run_stale_s)
    except StoreAway:
        pass  # the reaper's orphan pass covers what this one could not
    except Exception:  # noqa: BLE001 - a broker gone again: the next reconnect tries again
        log.exception("re-sending queued runs after a broker reconnect failed")


class ResendOnConnect(bootsteps.StartStopStep):
    """Consumer step: on every (re)connection to the broker, re-send queued runs it lost."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, c: Any) -> None:  # noqa: ANN401 - Celery's Consumer
        from worker.reaper import broker_backlog
        from worker.store import sessions
        from worker.tasks import enqueue
        from server.settings import get_settings

        queues = [q.name for q in c.app.amqp.queues.values()]
        args = (sessions(), get_settings(), enqueue, lambda: broker_backlog(c.app, queues))
        threading.Thread(target=resend_when_store_allows, args=args, name="liplab-resend",
                         daemon=True).start()
