"""A private lab for the worker's fault tests: its own redis-server (so restarting it disturbs no
one else's tests), its own PostgreSQL database, the API and real worker processes with short
heartbeat and stale thresholds."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import redis

from tests.live import LiveSystem, free_port
from tests.services import need

FAST = {"LIPLAB_RUN_HEARTBEAT_S": "0.25", "LIPLAB_RUN_STALE_S": "3", "LIPLAB_CANCEL_GRACE_S": "3",
        "LIPLAB_MAX_RETRIES": "3"}


class RedisServer:
    """A redis-server child on a free port, without persistence: a restart loses every message."""

    def __init__(self, folder: Path):
        need(shutil.which("redis-server") is not None, "redis-server on PATH")
        self.folder, self.port, self.proc = folder, free_port(), None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def lab(home: Path, pg_url: str, workers: int = 2,
        limits: dict[int, int] | None = None) -> Iterator[tuple[LiveSystem, RedisServer]]:
    """`limits`: resource limits (RLIMIT_* → bytes) every worker process starts with."""
    server = RedisServer(home)
    server.start()
    system = LiveSystem(home, database_url=pg_url, broker_url=server.url, workers=workers)
    system.env.update(FAST)
    system.worker_limits = dict(limits or {})
    try:
        with system:
            yield system, server
    finally:
        server.kill()
