"""The outage scenario, shared by the reliability tests and `bench/outages.py`.

A lab at default settings (heartbeat, stale threshold, retries) on a private PostgreSQL cluster
and a private redis-server, one worker. A sweep runs once undisturbed (the control) and once
with, mid-sweep, a 5 s PostgreSQL outage (immediate stop, then start) during which Redis is
killed and restarted empty (no persistence: every queued message is gone). Throughout, a reader
polls the API and counts its 5xx answers. The embedded mode's counterpart (`embedded_outage`):
the SQLite file locked for the same 5 s and the broker's message folder gone until the worker
has finished its run and polled the empty place.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx
from sqlalchemy import create_engine, func, select

from server.models import MetricPoint, Run
from tests.live import LiveSystem
from tests.reliability.stores import PostgresCluster
from tests.worker.lab import RedisServer

FINAL = ("succeeded", "failed", "diverged", "cancelled")
OUTAGE_S = 5.0


@dataclass
class Lab:
    system: LiveSystem
    pg: PostgresCluster
    redis: RedisServer

    def outage(self, seconds: float = OUTAGE_S) -> None:
        """PostgreSQL stopped immediately for `seconds`; meanwhile Redis restarts empty."""
        t0 = time.monotonic()
        self.pg.stop("immediate")
        self.redis.kill()
        time.sleep(1.0)
        self.redis.start()
        time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
        self.pg.start()


def finished_runs(db_file: Path) -> int:
    with contextlib.closing(sqlite3.connect(db_file, timeout=60)) as c:
        return c.execute("SELECT count(*) FROM runs WHERE status IN ('succeeded', 'failed', "
                         "'diverged', 'cancelled')").fetchone()[0]


def embedded_outage(home: Path, seconds: float = OUTAGE_S, timeout_s: float = 120.0) -> None:
    """The embedded mode's outage: another process's connection holds the SQLite file under an
    exclusive lock for `seconds` while the broker's message folder is moved away; the folder
    comes back only once the run in flight has finished and the worker has been polling the
    missing folder for a second."""
    db_file = home / "liplab.db"
    before = finished_runs(db_file)
    holder = sqlite3.connect(db_file, timeout=60, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # every other writer waits
    queue = home / "broker" / "queue"
    away = queue.with_name("queue-away")
    queue.rename(away)
    try:
        time.sleep(seconds)
        holder.rollback()
        deadline = time.monotonic() + timeout_s
        while finished_runs(db_file) <= before and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        away.rename(queue)
        holder.close()


@contextlib.contextmanager
def outage_lab(home: Path, workers: int = 1) -> Iterator[Lab]:
    pg = PostgresCluster().init()
    redis = RedisServer(home)
    redis.start()
    try:
        with LiveSystem(home, database_url=pg.url, broker_url=redis.url, workers=workers) as system:
            yield Lab(system, pg, redis)
    finally:
        redis.kill()
        pg.destroy()


class Reader(threading.Thread):
    """Polls the sweep through the API every 0.2 s; keeps the status codes it got and the last
    body. Connection errors (the API itself down) are counted apart from answers."""

    def __init__(self, url: str, sweep_id: int):
        super().__init__(daemon=True)
        self.url, self.sweep_id = url, sweep_id
        self.codes: list[int] = []
        self.errors: list[str] = []
        self.last: dict | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=f"{self.url}/api/v1", timeout=60) as client:
            while not self.stop.wait(0.2):
                try:
                    r = client.get(f"/sweeps/{self.sweep_id}")
                except httpx.HTTPError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.codes.append(r.status_code)
                if r.status_code == 200:
                    self.last = r.json()

    def done(self) -> int:
        """Finished runs in the last answer."""
        counts = (self.last or {}).get("counts", {})
        return sum(counts.get(s, 0) for s in FINAL)


@dataclass
class SweepResult:
    wall_s: float
    statuses: dict[str, int]
    attempts: dict[int, int]
    points: int
    answers: int
    server_errors: int
    connection_errors: list[str]
    fault_at_s: float | None = None
    extra: dict = field(default_factory=dict)


def run_sweep(system: LiveSystem, db_url: str, cfg: dict, n: int, timeout_s: float,
              fault: Callable[[], None] | None = None, fault_after_done: int = 1) -> SweepResult:
    """Submit a sweep of `n` runs (`training.batch_seed` 0..n-1); once `fault_after_done` of them
    have finished, call `fault`; return when all are finished (TimeoutError after timeout_s).
    Statuses, attempts and stored points are then read from the store at `db_url`."""
    cfg = {**cfg, "name": f"{cfg['name']}-{'faulted' if fault else 'control'}"}  # not a resubmission
    t0 = time.monotonic()
    r = system.client.post("/sweeps", json={"config": cfg, "params": {"training.batch_seed": f"0..{n}"}})
    assert r.status_code == 201, r.text
    sweep_id, run_ids = r.json()["id"], r.json()["run_ids"]
    reader = Reader(system.url, sweep_id)
    reader.start()
    fault_at = None
    try:
        while reader.done() < n:
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"sweep not finished after {timeout_s:.0f} s: {reader.last}\n"
                                   f"{system.logs()}")
            if fault is not None and fault_at is None and reader.done() >= fault_after_done:
                fault_at = time.monotonic() - t0
                fault()
            time.sleep(0.05)
        wall = time.monotonic() - t0
    finally:
        reader.stop.set()
        reader.join()
    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            rows = c.execute(select(Run.id, Run.status, Run.attempts).where(Run.id.in_(run_ids))).all()
            points = c.scalar(select(func.count()).select_from(MetricPoint)
                              .where(MetricPoint.run_id.in_(run_ids)))
    finally:
        engine.dispose()
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    return SweepResult(wall, statuses, {row.id: row.attempts for row in rows}, int(points),
                       len(reader.codes), sum(c >= 500 for c in reader.codes), reader.errors,
                       fault_at)
