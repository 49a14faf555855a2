"""The API process killed and started again while a run is live and an SSE client watches it:
the client reconnects with `Last-Event-ID` and ends up with every point of the run exactly once
(compared with the store), and the final status. Real PostgreSQL, a private Redis, a worker."""
from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict

import httpx
import pytest

from tests.reliability.tally import record
from tests.services import pg_database
from tests.worker.lab import lab
from tests.worker.test_faults import config, submit, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
RESTARTS = 2


class SseClient:
    """Reads a run's event stream, reconnecting (with Last-Event-ID) whenever it breaks."""

    def __init__(self, url: str):
        self.url = url
        self.points: dict[str, list[int]] = defaultdict(list)  # key → steps, in arrival order
        self.metric_events = self.connects = self.five_xx = 0
        self.last_id: str | None = None
        self.status: str | None = None
        self.ended = threading.Event()

    def read_once(self) -> None:
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        with httpx.stream("GET", self.url, headers=headers, timeout=httpx.Timeout(30, read=60)) as r:
            self.connects += 1
            if r.status_code >= 500:
                self.five_xx += 1
                return
            event, data, event_id = None, None, None
            for line in r.iter_lines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line == "" and event:
                    self.handle(event, data)
                    if event_id is not None:
                        self.last_id = event_id
                    if event == "end":
                        self.ended.set()
                        return
                    event, data, event_id = None, None, None

    def handle(self, event: str, data: dict) -> None:
        if event == "metrics":
            self.metric_events += 1
            for key, step, _ in data["points"]:
                self.points[key].append(step)
        elif event == "status":
            self.status = data["status"]

    def run(self, deadline: float) -> None:
        while not self.ended.is_set() and time.monotonic() < deadline:
            try:
                self.read_once()
            except httpx.HTTPError:
                time.sleep(0.2)  # the API is away: try again (a browser waits `retry:` ms)


def restart_api(system) -> None:
    proc = system.procs["api"]
    proc.kill()
    proc.wait()
    time.sleep(0.5)
    system._spawn("api", [sys.executable, "-m", "liplab.cli", "api", "--port", str(system.port)])
    wait_for(lambda: _healthy(system), 60, "the API did not come back", system)


def _healthy(system) -> bool:
    try:
        return system.client.get("/health").status_code == 200
    except httpx.HTTPError:
        return False


def test_sse_clients_resume_after_the_api_restarts_with_every_point_once(tmp_path_factory):
    with pg_database() as url, lab(tmp_path_factory.mktemp("sse-lab"), url, workers=1) as (system, _r):
        cfg = config(epochs=1500, name="watched")  # ~1 min: long enough for both restarts
        run_id = submit(system, cfg)
        client = SseClient(f"{system.url}/api/v1/runs/{run_id}/events")
        reader = threading.Thread(target=client.run, args=(time.monotonic() + 240,), daemon=True)
        reader.start()
        for i in range(RESTARTS):
            seen = client.metric_events
            wait_for(lambda: client.metric_events >= seen + 3, 90, "no live points", system)
            restart_api(system)
        reader.join(240)
        run = system.wait_run(run_id, timeout=60)
        stored = system.client.get(f"/runs/{run_id}/metrics").json()
    got = {k: sorted(v) for k, v in client.points.items()}
    want = {k: sorted(v["step"]) for k, v in stored.items()}
    lost = sum(len(set(want[k]) - set(got.get(k, []))) for k in want)
    dup = sum(len(v) - len(set(v)) for v in client.points.values())
    record("Faults", "API process killed and restarted while an SSE client follows a live run",
           tried=RESTARTS, runs=1, lost=lost, duplicates=dup, five_xx=client.five_xx,
           sees="the stream breaks; the client reconnects with Last-Event-ID and gets the points "
                "after it, then the final status")
    assert client.ended.is_set() and client.status == run["status"] == "succeeded"
    assert client.connects >= RESTARTS + 1
    diff = {k: (sorted(set(want[k]) - set(got.get(k, []))), sorted(set(got.get(k, [])) - set(want[k])))
            for k in want if got.get(k) != want[k]}
    assert (lost, dup, client.five_xx) == (0, 0, 0) and got == want, (lost, dup, diff)
