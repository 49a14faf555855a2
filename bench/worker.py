"""Worker benchmark: queue latency (dispatch), per-run overhead, live-event latency.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/worker.py [--quick | --smoke] [--json PATH]
        [--latency-runs 50] [--overhead-runs 500] [--live-points 100]

Needs PostgreSQL (LIPLAB_TEST_PG_URL) and `redis-server` on PATH; starts its own Redis, API and
worker processes and prints Markdown tables (`make bench` records them in docs/benchmarks.md).

1. submit → running: `started_at − created_at` of runs submitted one at a time to an idle
   worker over Redis (API insert, commit, enqueue, delivery, claim).
2. per-run overhead: a sweep of tiny runs through one worker; wall time per run minus the same
   config's compute time measured in-process (`run_experiment`, warm).
3. live latency: `DBReporter.log` → the client, over the API's SSE route.

Metric ingest (points/s against COPY, MLflow and TensorBoard) is bench/ingest.py.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402

from server.models import Run  # noqa: E402

TINY = {"name": "tiny", "data": {"name": "sine", "n_train": 32, "n_test": 16},
        "model": {"name": "mlp", "depth": 1, "width": 8}, "training": {"epochs": 1, "device": "cpu"}}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def wait_done(engine, run_ids: list[int], timeout: float = 1800, poll_s: float = 0.05) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as c:
            rows = c.execute(select(Run.id, Run.status, Run.created_at, Run.started_at, Run.finished_at)
                             .where(Run.id.in_(run_ids))).all()
        if all(r.status in ("succeeded", "failed", "diverged", "cancelled") for r in rows):
            return rows
        time.sleep(poll_s)
    raise TimeoutError("runs did not finish")


def bench_latency(system, engine, n: int) -> dict:
    lat = []
    for _ in range(n):
        run_id = system.client.post("/runs", json={"config": TINY}).json()["id"]
        (r,) = wait_done(engine, [run_id])
        lat.append((r.started_at - r.created_at).total_seconds() * 1e3)
    return {"n": n, "p50_ms": statistics.median(lat), "p90_ms": pct(lat, 0.9)}


def compute_time(reps: int = 30, checkpoints: bool = False) -> float:
    """Median in-process `run_experiment(TINY)`; with `checkpoints`, writing them as a worker does."""
    from lipcore.experiment import run_experiment

    run_experiment(TINY)
    times = []
    for _ in range(reps):
        workdir = tempfile.mkdtemp() if checkpoints else None
        t = time.perf_counter()
        run_experiment(TINY, workdir=workdir)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_overhead(system, engine, n: int) -> dict:
    r = system.client.post("/sweeps", json={"config": TINY, "params": {"training.batch_seed": f"0..{n}"}})
    rows = wait_done(engine, r.json()["run_ids"], poll_s=1.0)  # the bench must not load the store
    assert all(x.status == "succeeded" for x in rows), "some tiny runs failed"
    wall = (max(x.finished_at for x in rows) - min(x.started_at for x in rows)).total_seconds()
    compute, with_ckpt = compute_time(), compute_time(checkpoints=True)
    in_task = statistics.median((x.finished_at - x.started_at).total_seconds() for x in rows)
    return {"n": n, "wall_per_run_ms": wall / n * 1e3, "compute_ms": compute * 1e3,
            "compute_ckpt_ms": with_ckpt * 1e3, "overhead_ms": (wall / n - compute) * 1e3,
            "overhead_ckpt_ms": (wall / n - with_ckpt) * 1e3, "claim_to_finish_ms": in_task * 1e3}


def bench_live(system, url: str, broker: str, n: int) -> dict:
    import httpx

    from server.db import make_engine, make_sessionmaker
    from server.events import EventBus, event_points, run_channel
    from server.settings import Settings
    from worker.sink import DBReporter

    from bench.ingest import running_runs

    (run_id,) = running_runs(url, 1)  # stays running, so the stream stays open
    received: dict[int, float] = {}
    ready = threading.Event()
    via = "SSE (GET /runs/{id}/events)"

    def on_event(data: dict) -> None:
        if data.get("type") == "metrics":
            for _key, step, _value in event_points(data):
                received.setdefault(step, time.time())

    def sse() -> None:
        with httpx.stream("GET", f"{system.url}/api/v1/runs/{run_id}/events", timeout=60) as r:
            ready.set()
            for line in r.iter_lines():
                if line.startswith("data:"):
                    on_event(json.loads(line[5:]))
                if len(received) >= n:
                    return

    def pubsub() -> None:
        import redis

        ps = redis.Redis.from_url(broker).pubsub()
        ps.subscribe(run_channel(run_id))
        ready.set()
        for msg in ps.listen():
            if msg["type"] == "message":
                on_event(json.loads(msg["data"]))
            if len(received) >= n:
                return

    has_sse = "/events" in httpx.get(f"{system.url}/openapi.json").text
    if not has_sse:
        via = "Redis pub/sub (no SSE route on this branch)"
    threading.Thread(target=sse if has_sse else pubsub, daemon=True).start()
    ready.wait(10)
    time.sleep(0.5)
    settings = Settings(database_url=url, broker_url=broker)
    rep = DBReporter(make_sessionmaker(make_engine(url)), run_id, bus=EventBus(settings),  # the worker's
                     live_every_s=settings.live_every_s, background=True)
    sent = {}
    for step in range(n):
        sent[step] = time.time()
        rep.log({"train_loss": 1.0}, step)
        time.sleep(0.02)
    rep.flush()
    deadline = time.monotonic() + 10
    while len(received) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    lat = [(received[s] - sent[s]) * 1e3 for s in sent if s in received]
    return {"via": via, "n": len(lat), "p50_ms": statistics.median(lat), "p90_ms": pct(lat, 0.9)}


def table(lat: dict, over: dict, live: dict) -> "Table":
    from bench.harness import Aim, Table

    t = Table("dispatch", f"Dispatch and live events (Redis + PostgreSQL, one worker; {lat['n']} runs "
              f"submitted one at a time, a sweep of {over['n']} tiny runs, {live['n']} live points)",
              ["measure", "value"], plot_unit="ms")
    t.rows += [["submit → running, p50 / p90", f"{lat['p50_ms']:.1f} / {lat['p90_ms']:.1f} ms"],
               ["wall time per tiny run, one worker", f"{over['wall_per_run_ms']:.1f} ms"],
               ["compute of that run in-process (with its checkpoints written)",
                f"{over['compute_ms']:.1f} ({over['compute_ckpt_ms']:.1f}) ms"],
               ["per-run overhead beyond compute", f"{over['overhead_ms']:.1f} ms"],
               ["claim → finish inside the worker, median", f"{over['claim_to_finish_ms']:.1f} ms"],
               [f"live point → client, p50 / p90, via {live['via']}", f"{live['p50_ms']:.1f} / {live['p90_ms']:.1f} ms"]]
    t.plot = {"submit → running p50": (lat["p50_ms"],) * 3, "per-run overhead": (over["overhead_ms"],) * 3,
              "live point p50": (live["p50_ms"],) * 3}
    t.aims += [Aim("submit → running, p50", "≤ 50 ms", f"{lat['p50_ms']:.1f} ms", lat["p50_ms"] <= 50),
               Aim("per-run overhead beyond compute", "≤ 30 ms", f"{over['overhead_ms']:.1f} ms", over["overhead_ms"] <= 30),
               Aim("live point → client, p50", "≤ 200 ms", f"{live['p50_ms']:.1f} ms", live["p50_ms"] <= 200)]
    t.notes.append("No peer: MLflow has no queue or workers; these are liplab's own aims.")
    return t


def main() -> None:
    from bench.harness import emit, parser, size
    from tests.live import LiveSystem
    from tests.services import pg_database
    from tests.worker.lab import RedisServer

    p = parser(__doc__)
    p.add_argument("--latency-runs", type=int, default=None)
    p.add_argument("--overhead-runs", type=int, default=None)
    p.add_argument("--live-points", type=int, default=None)
    args = p.parse_args()
    latency_runs = args.latency_runs or size(args, 50, 10, 3)
    overhead_runs = args.overhead_runs or size(args, 500, 40, 5)
    live_points = args.live_points or size(args, 100, 30, 5)
    tmp = Path(tempfile.mkdtemp(prefix="liplab-bench-"))
    redis_server = RedisServer(tmp)
    redis_server.start()
    try:
        with pg_database() as url:
            system = LiveSystem(tmp, database_url=url, broker_url=redis_server.url, workers=1)
            system.env["LIPLAB_RUN_HEARTBEAT_S"] = "1"
            with system:
                engine = create_engine(url)
                lat = bench_latency(system, engine, latency_runs)
                over = bench_overhead(system, engine, overhead_runs)
                live = bench_live(system, url, redis_server.url, live_points)
                engine.dispose()
    finally:
        redis_server.kill()
    emit([table(lat, over, live)], args.json)


if __name__ == "__main__":
    main()
