"""`liplab up` starts API, worker and dashboard on the embedded default, and Ctrl-C stops them all."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from tests.live import free_port


@pytest.mark.slow
def test_up_serves_everything_and_ctrl_c_stops_all(tmp_path):
    api_port, dash_port = free_port(), free_port()
    env = {**os.environ, "LIPLAB_HOME": str(tmp_path)}
    for key in ("LIPLAB_DATABASE_URL", "LIPLAB_BROKER_URL"):
        env.pop(key, None)
    proc = subprocess.Popen([sys.executable, "-m", "liplab.cli", "up", "--port", str(api_port),
                             "--dashboard-port", str(dash_port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{api_port}/api/v1/health").json()
                if health["workers"] and httpx.get(f"http://127.0.0.1:{dash_port}/").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert health and health["status"] == "ok" and health["workers"][0]["alive"], health
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 3
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "dashboard  http://127.0.0.1:" in out
    time.sleep(0.5)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
