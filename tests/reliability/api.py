"""`ApiProcess`: `liplab api` in a subprocess on a fixed port, which a test can stop and start
again (the port stays, so clients reconnect to the same address)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.live import free_port


class ApiProcess:
    def __init__(self, home: Path, **env: str):
        self.home = Path(home)
        self.env = {**os.environ, "LIPLAB_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        for key in [k for k in self.env if k.startswith("LIPLAB_") and k != "LIPLAB_HOME"]:
            self.env.pop(key)
        self.env.update(env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.proc: subprocess.Popen | None = None
        self.log = self.home / "api.log"

    def migrate(self) -> "ApiProcess":
        subprocess.run([sys.executable, "-m", "liplab.cli", "db", "upgrade"], env=self.env,
                       check=True, capture_output=True)
        return self

    def start(self, timeout: float = 60) -> "ApiProcess":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "liplab.cli", "api", "--port",
                                          str(self.port)], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code < 500:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"API did not start in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "ApiProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
