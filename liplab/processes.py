"""Starting and stopping the system's processes as one group (`liplab up`, `liplab worker --gpus`)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Sequence


def worker_command(queues: str = "gpu,cpu", name: str | None = None, loglevel: str = "INFO") -> list[str]:
    cmd = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool", "solo",
           "-c", "1", "-Q", queues, "--loglevel", loglevel, "--without-gossip", "--without-mingle"]
    if name:
        cmd += ["-n", name]
    return cmd


class ProcessGroup:
    """Children started together; when one dies or Ctrl-C arrives, all are stopped cleanly."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, label: str, cmd: Sequence[str], env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, **(env or {})}
        self.children.append((label, subprocess.Popen(list(cmd), env=full_env)))

    def stop(self, timeout: float = 10.0) -> None:
        for _, p in self.children:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, p in self.children:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def wait(self) -> int:
        """Block until Ctrl-C/SIGTERM or a child exits; returns the exit code to use."""
        stopping = {"flag": False}

        def handler(_sig, _frame):  # noqa: ANN001
            stopping["flag"] = True

        old_int = signal.signal(signal.SIGINT, handler)
        old_term = signal.signal(signal.SIGTERM, handler)
        code = 0
        try:
            while not stopping["flag"]:
                dead = [(label, p.returncode) for label, p in self.children if p.poll() is not None]
                if dead:
                    label, rc = dead[0]
                    print(f"liplab: {label} exited with code {rc}; stopping the rest", file=sys.stderr)
                    code = rc or 1
                    break
                time.sleep(0.3)
        finally:
            print("liplab: stopping…", file=sys.stderr)
            self.stop()
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        return code
