"""`DBReporter`: the lipcore reporter a worker passes in; batches metric points into the store."""
from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from server import crud
from server.models import Artifact, Run


class DBReporter:
    """Buffers points and writes them (idempotent upserts) every `max_points` or `max_wait_s`.

    Also answers `should_stop()` from the run's cancel flag, read at most once per `poll_s`.
    """

    def __init__(self, sessions: sessionmaker[Session], run_id: int, max_points: int = 500,
                 max_wait_s: float = 1.0, poll_s: float = 1.0):
        self.sessions, self.run_id = sessions, run_id
        self.max_points, self.max_wait_s, self.poll_s = max_points, max_wait_s, poll_s
        self.buffer: list[tuple[str, int, float]] = []
        self.last_flush = time.monotonic()
        self.last_poll = 0.0
        self.cancelled = False

    def log(self, values: dict[str, float], step: int) -> None:
        self.buffer += [(k, int(step), float(v)) for k, v in values.items()]
        if len(self.buffer) >= self.max_points or time.monotonic() - self.last_flush >= self.max_wait_s:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            with self.sessions() as db:
                crud.write_points(db, run_id=self.run_id, points=self.buffer)
            self.buffer = []
        self.last_flush = time.monotonic()

    def artifact(self, name: str, path: str, kind: str = "file") -> None:
        with self.sessions() as db:
            db.add(Artifact(run_id=self.run_id, name=name, path=path, kind=kind))
            db.commit()

    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self.last_poll >= self.poll_s:
            self.last_poll = now
            with self.sessions() as db:
                run: Any = db.get(Run, self.run_id)
                self.cancelled = bool(run is None or run.cancel_requested)
        return self.cancelled
