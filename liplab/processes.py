"""Starting and stopping the system's processes as one group (`liplab up`, `liplab worker --gpus`)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Sequence


def worker_command(queues: str = "gpu,cpu", name: str | None = None, loglevel: str = "INFO") -> list[str]:
    """One Celery worker process running one task at a time in its main thread (`--pool solo -c 1`):
    the process that trains is the one that owns the GPU, gets SIGTERM and hands its run back;
    nothing forks after torch is loaded."""
    cmd = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool", "solo",
           "-c", "1", "-Q", queues, "--loglevel", loglevel, "--without-gossip", "--without-mingle"]
    if name:
        cmd += ["-n", name]
    return cmd


@dataclass
class Child:
    label: str
    cmd: list[str]
    env: dict[str, str]
    proc: subprocess.Popen
    starts: list[float] = field(default_factory=list)


class ProcessGroup:
    """Children started together; when one dies or Ctrl-C arrives, all are stopped cleanly.

    With `restart=True` (workers), a child that dies is started again instead, unless it died
    `max_restarts` times within `window_s` (a crash loop), which stops the group.
    """

    def __init__(self, restart: bool = False, max_restarts: int = 5, window_s: float = 60.0) -> None:
        self.children: list[Child] = []
        self.restart, self.max_restarts, self.window_s = restart, max_restarts, window_s

    def start(self, label: str, cmd: Sequence[str], env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, **(env or {})}
        child = Child(label, list(cmd), full_env, subprocess.Popen(list(cmd), env=full_env))
        child.starts.append(time.monotonic())
        self.children.append(child)

    def stop(self, timeout: float = 10.0) -> None:
        for c in self.children:
            if c.proc.poll() is None:
                c.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for c in self.children:
            try:
                c.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()

    def _respawn(self, child: Child) -> bool:
        now = time.monotonic()
        child.starts = [t for t in child.starts if now - t < self.window_s]
        if len(child.starts) >= self.max_restarts:
            return False
        print(f"liplab: {child.label} exited with code {child.proc.returncode}; restarting it",
              file=sys.stderr)
        child.proc = subprocess.Popen(child.cmd, env=child.env)
        child.starts.append(now)
        return True

    def wait(self) -> int:
        """Block until Ctrl-C/SIGTERM or a child exits (for good); returns the exit code to use."""
        stopping = {"flag": False}

        def handler(_sig, _frame):  # noqa: ANN001
            stopping["flag"] = True

        old_int = signal.signal(signal.SIGINT, handler)
        old_term = signal.signal(signal.SIGTERM, handler)
        code = 0
        try:
            while not stopping["flag"]:
                dead = [c for c in self.children if c.proc.poll() is not None]
                dead = [c for c in dead if not (self.restart and self._respawn(c))]
                if dead:
                    print(f"liplab: {dead[0].label} exited with code {dead[0].proc.returncode}; "
                          "stopping the rest", file=sys.stderr)
                    code = dead[0].proc.returncode or 1
                    break
                time.sleep(0.3)
        finally:
            print("liplab: stopping…", file=sys.stderr)
            self.stop(timeout=30.0 if self.restart else 10.0)
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        return code
