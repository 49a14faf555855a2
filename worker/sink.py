"""`DBReporter`: the lipcore reporter a worker passes in.

Metric points are buffered and written to the store in batches (every `max_points` points or
`max_wait_s` seconds), each batch one idempotent upsert keyed by (run, key, step), so writing a
point twice keeps one. Live events go out sooner (every `live_every_s`) over the event bus, so a
browser sees a point long before its batch is due. On a resumed run every step up to `skip_until`
is already stored and is not logged again.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.metrics import write_points
from server.models import Artifact

Point = tuple[str, int, float]


class DBReporter:
    """Batches points into the store, publishes them live, answers `should_stop()` from `stop`.

    sessions: the worker's session factory; bus: a `server.events.EventBus` (or None);
    stop: a cheap flag reader (the run guard's), called every training step.
    """

    def __init__(self, sessions: sessionmaker[Session], run_id: int, *, bus: Any = None,
                 sweep_id: int | None = None, stop: Callable[[], bool] | None = None,
                 skip_until: int = -1, max_points: int = 500, max_wait_s: float = 1.0,
                 live_every_s: float = 0.05):
        self.sessions, self.run_id, self.bus, self.sweep_id = sessions, run_id, bus, sweep_id
        self.stop = stop or (lambda: False)
        self.skip_until = skip_until
        self.max_points, self.max_wait_s, self.live_every_s = max_points, max_wait_s, live_every_s
        self.buffer: list[Point] = []  # not yet in the store
        self.live: list[Point] = []  # not yet published
        self.last_flush = self.last_live = time.monotonic()
        self.lock = threading.Lock()  # log() runs in the task thread, flush() also at the end
        self.written = 0

    def log(self, values: dict[str, float], step: int) -> None:
        if step <= self.skip_until:
            return  # stored by an earlier attempt of this run
        points = [(k, int(step), float(v)) for k, v in values.items()]
        with self.lock:
            self.buffer += points
            self.live += points
        now = time.monotonic()
        if len(self.buffer) >= self.max_points or now - self.last_flush >= self.max_wait_s:
            self.flush()
        elif now - self.last_live >= self.live_every_s:
            self.publish()

    def resumed(self, step: int) -> None:
        """Told by lipcore that training resumes after `step`: nothing up to it is logged again."""
        self.skip_until = max(self.skip_until, int(step))

    def flush(self) -> None:
        """Write the buffered points (one transaction), then publish what is still unpublished."""
        with self.lock:
            batch, self.buffer = self.buffer, []
        if batch:
            try:
                with self.sessions() as db:
                    write_points(db, self.run_id, batch)
            except BaseException:
                with self.lock:
                    self.buffer = batch + self.buffer  # keep them for the next try
                raise
            self.written += len(batch)
        self.last_flush = time.monotonic()
        self.publish()

    def publish(self) -> None:
        with self.lock:
            points, self.live = self.live, []
        self.last_live = time.monotonic()
        if points and self.bus is not None:
            event = {"type": "metrics", "run_id": self.run_id,
                     "points": [[k, s, v if math.isfinite(v) else None] for k, s, v in points]}
            self.bus.publish(event, self.run_id, self.sweep_id)

    def artifact(self, name: str, path: str, kind: str = "file") -> None:
        """One row per (run, name, path): a resumed or re-probed run does not duplicate it."""
        with self.sessions() as db:
            if db.scalar(select(Artifact.id).where(Artifact.run_id == self.run_id,
                                                   Artifact.name == name, Artifact.path == path)):
                return
            db.add(Artifact(run_id=self.run_id, name=name, path=path, kind=kind))
            db.commit()

    def should_stop(self) -> bool:
        return self.stop()
