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


class SweepKiller(RandomKiller):
    """A random worker each time another tenth of the sweep's runs has finished (nine kills):
    spread over the whole course of the sweep however fast the machine or the packs run, and
    never faster than the sweep progresses, so a loaded machine whose workers take long to
    start is not kept from finishing."""

    every_s = 0.25  # how often progress is read

    def __init__(self, system, run_ids: list[int], seed: int = 0):  # noqa: ANN001
        super().__init__(system, self.every_s, seed)
        self.run_ids, self.next_tenth = run_ids, 1

    def finished(self) -> int:
        from sqlalchemy import func, select

        from server.models import Run

        with self.system.db.connect() as c:
            return c.scalar(select(func.count()).select_from(Run).where(
                Run.id.in_(self.run_ids), Run.status.in_(("succeeded", "failed", "diverged"))))

    def victims(self) -> list[tuple[str, subprocess.Popen]]:
        done = self.finished()
        if self.next_tenth >= 10 or done * 10 < self.next_tenth * len(self.run_ids):
            return []
        self.next_tenth = done * 10 // len(self.run_ids) + 1
        return super().victims()


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
