"""`LiveSystem`: a real API process and a real Celery worker process, for end-to-end tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveSystem:
    """Migrates the store, starts `liplab api` and a worker, and stops both on exit.

    `url` is the API base (http://127.0.0.1:PORT); `client` an httpx client on /api/v1.
    """

    def __init__(self, home: Path, database_url: str | None = None, broker_url: str | None = None,
                 workers: int = 1):
        self.home = Path(home)
        self.env = {**os.environ, "LIPLAB_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        for key in ("LIPLAB_DATABASE_URL", "LIPLAB_BROKER_URL"):
            self.env.pop(key, None)
        if database_url:
            self.env["LIPLAB_DATABASE_URL"] = database_url
        if broker_url:
            self.env["LIPLAB_BROKER_URL"] = broker_url
        self.n_workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.worker_limits: dict[int, int] = {}  # resource.RLIMIT_* → limit, for workers

    def _spawn(self, name: str, cmd: list[str], limits: dict[int, int] | None = None) -> subprocess.Popen:
        log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process

        def set_limits() -> None:
            import resource

            for which, value in (limits or {}).items():
                resource.setrlimit(which, (value, value))

        proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=set_limits if limits else None)
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str = "w0") -> subprocess.Popen:
        from liplab.processes import worker_command

        return self._spawn(name, worker_command("gpu,cpu", f"{name}@%h", "INFO"), self.worker_limits)

    def __enter__(self) -> "LiveSystem":
        py = sys.executable
        subprocess.run([py, "-m", "liplab.cli", "db", "upgrade"], env=self.env, check=True,
                       capture_output=True)
        self._spawn("api", [py, "-m", "liplab.cli", "api", "--port", str(self.port)])
        for i in range(self.n_workers):
            self.start_worker(f"w{i}")
        token = self.env.get("LIPLAB_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=f"{self.url}/api/v1", timeout=30, headers=headers)
        try:
            self.wait_healthy()
        except BaseException:
            self.__exit__()  # a system that never came up leaves no process behind
            raise
        return self

    def wait_healthy(self, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.client.get("/health").json()
                if last["database"] == "ok" and any(w["alive"] for w in last["workers"]):
                    return last
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"system not healthy after {timeout}s: {last}\n{self.logs()}")

    def wait_run(self, run_id: int, timeout: float = 120,
                 until: tuple[str, ...] = ("succeeded", "failed", "diverged", "cancelled")) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.client.get(f"/runs/{run_id}").json()
            if run["status"] in until:
                return run
            time.sleep(0.2)
        raise TimeoutError(f"run {run_id} still {run['status']} after {timeout}s\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.home.glob("*.log"))

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
