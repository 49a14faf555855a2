"""Store outages: telling "the database is away for a moment" from a real error, and waiting one out.

A PostgreSQL restart, a dropped connection or a SQLite file locked by another writer is a pause,
not a failure: the worker's claim and its last write wait for the store instead of throwing the
run away, and the API answers 503 with `Retry-After` instead of a traceback. Each outage is
logged once when it starts and once when it ends (`StoreOutage`), not once per attempt.
Torch-free: the API and the workers share it.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError

T = TypeVar("T")

#: words in a SQLite OperationalError that mean "try again later" rather than "bad statement"
SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


def store_unavailable(exc: BaseException) -> bool:
    """True for errors that mean the store cannot be reached right now (connection refused or
    dropped, server starting or shutting down, a SQLite file locked or gone), False for errors a
    retry would only repeat (a bad statement, a constraint violation)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, PendingRollbackError):
        return True
    if isinstance(exc, (OperationalError, InterfaceError)):
        if type(exc.orig).__module__.startswith("sqlite3"):
            return any(word in str(exc.orig).lower() for word in SQLITE_TRANSIENT)
        return True
    return False


class StoreOutage:
    """Logs one line when an outage starts (`failed`) and one when it ends (`ok`), whatever the
    number of attempts in between; thread-safe, one per process and purpose."""

    def __init__(self, log: logging.Logger, what: str):
        self.log, self.what = log, what
        self.since: float | None = None
        self.lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        with self.lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        self.log.warning("store unavailable (%s): %s: %s; retrying until it is back",
                         self.what, type(exc).__name__, first)

    def ok(self) -> None:
        with self.lock:
            since, self.since = self.since, None
        if since is not None:
            self.log.warning("store back (%s) after %.1f s", self.what, time.monotonic() - since)


class StoreAway(Exception):
    """Waiting for the store was given up (`stop()` turned true, or `give_up_s` passed)."""


def wait_for_store(fn: Callable[[], T], outage: StoreOutage, *, stop: Callable[[], bool] = lambda: False,
                   first_s: float = 0.1, cap_s: float = 1.0, give_up_s: float | None = None) -> T:
    """`fn()`, retried with exponential backoff (first_s, doubling, at most cap_s) for as long as
    it fails with `store_unavailable` errors. Any other error propagates at once. Raises
    `StoreAway` (from the last error) when `stop()` is true or `give_up_s` has passed."""
    start, delay = time.monotonic(), first_s
    while True:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - only outages are retried; the rest re-raised
            if not store_unavailable(exc):
                raise
            outage.failed(exc)
            if stop() or (give_up_s is not None and time.monotonic() - start + delay > give_up_s):
                raise StoreAway(outage.what) from exc
            time.sleep(delay)
            delay = min(cap_s, delay * 2)
            continue
        outage.ok()
        return result
