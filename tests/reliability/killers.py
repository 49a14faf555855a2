"""Threads that SIGKILL worker processes of a LiveSystem and start a fresh worker in place of
each, as `liplab up`'s supervisor does: at random, or when one's memory passes a limit (the
kernel's OOM killer)."""
from __future__ import annotations

import os
import random
import subprocess
import threading


class WorkerKiller:
    every_s = 1.0

    def __init__(self, system):  # noqa: ANN001
        self.system, self.kills, self.stop = system, 0, threading.Event()

    def workers(self) -> list[tuple[str, subprocess.Popen]]:
        return [(n, p) for n, p in list(self.system.procs.items())
                if n.startswith("w") and p.poll() is None]

    def victims(self) -> list[tuple[str, subprocess.Popen]]:
        raise NotImplementedError

    def loop(self) -> None:
        while not self.stop.wait(self.every_s):
            for _name, proc in self.victims():
                proc.kill()
                proc.wait()
                self.kills += 1
                self.system.start_worker(f"w-killed-{self.kills}")

    def __enter__(self) -> "WorkerKiller":
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


class RandomKiller(WorkerKiller):
    """One worker, picked at random, every `every_s` seconds."""

    def __init__(self, system, every_s: float, seed: int = 0):  # noqa: ANN001
        super().__init__(system)
        self.every_s, self.rng = every_s, random.Random(seed)

    def victims(self) -> list[tuple[str, subprocess.Popen]]:
        alive = self.workers()
        return [self.rng.choice(alive)] if alive else []


class OomKiller(WorkerKiller):
    """Every worker whose resident memory passes `limit_mb` (checked every 20 ms)."""

    every_s = 0.02

    def __init__(self, system, limit_mb: int):  # noqa: ANN001
        super().__init__(system)
        self.limit = limit_mb * 1024 * 1024

    def rss(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            return 0

    def victims(self) -> list[tuple[str, subprocess.Popen]]:
        return [(n, p) for n, p in self.workers() if self.rss(p.pid) > self.limit]
