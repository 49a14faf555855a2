"""Worker benchmark: queue latency, per-run overhead, metric ingest rate, live-event latency.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/worker.py [--overhead-runs 500] [--points 40000]

Needs PostgreSQL (LIPLAB_TEST_PG_URL) and `redis-server` on PATH; starts its own Redis, API and
worker processes and prints Markdown tables (figures recorded in docs/benchmarks.md "## Worker").

1. submit → running: `started_at − created_at` of runs submitted one at a time to an idle
   worker over Redis (API insert, commit, enqueue, delivery, claim).
2. per-run overhead: a sweep of tiny runs through one worker; wall time per run minus the same
   config's compute time measured in-process (`run_experiment`, warm).
3. metric points/s: four processes each streaming points through `DBReporter` into PostgreSQL
   (default batches, and the old 500-point batches), against four processes `COPY`ing the same
   rows (the raw ceiling), interleaved for `--repeats` rounds (medians), and, when an MLflow venv
   exists at /tmp/mlflow-venv, MLflow's `log_batch` into its SQLite and PostgreSQL stores.
4. live latency: `DBReporter.log` → the client, over the API's SSE route when the server has one,
   else over the Redis pub/sub channel that route relays (labelled as such).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402

from server.models import Run  # noqa: E402

TINY = {"name": "tiny", "data": {"name": "sine", "n_train": 32, "n_test": 16},
        "model": {"name": "mlp", "depth": 1, "width": 8}, "training": {"epochs": 1, "device": "cpu"}}
KEYS = 5


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


def _reporter_writer(url: str, run_id: int, points: int, start, out, max_points: int | None = None) -> None:
    from server.db import make_engine, make_sessionmaker
    from worker.sink import DBReporter

    extra = {} if max_points is None else {"max_points": max_points}
    rep = DBReporter(make_sessionmaker(make_engine(url)), run_id, **extra)
    start.wait()
    t = time.perf_counter()
    for step in range(points // KEYS):
        rep.log({f"k{j}": step * 0.5 + j for j in range(KEYS)}, step)
    rep.flush()
    out.put(time.perf_counter() - t)


def _copy_writer(url: str, run_id: int, points: int, start, out) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        start.wait()
        t = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY metric_points (run_id, key, step, value) FROM STDIN") as cp:
            for step in range(points // KEYS):
                for j in range(KEYS):
                    cp.write_row((run_id, f"k{j}", step, step * 0.5 + j))
        conn.commit()
        out.put(time.perf_counter() - t)


def parallel(target, url: str, run_ids: list[int], points: int) -> float:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, rid, points, start, out)) for rid in run_ids]
    for p in procs:
        p.start()
    time.sleep(3.0)  # let every process import and connect before the clock starts
    t = time.perf_counter()
    start.set()
    for _ in procs:
        out.get(timeout=600)
    wall = time.perf_counter() - t
    for p in procs:
        p.join()
    return len(run_ids) * points / wall


MLFLOW = """
import sys, time, multiprocessing as mp
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric
uri, points, writers, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def work(start, out):
    c = MlflowClient(tracking_uri=uri); exp = c.get_experiment_by_name("bench").experiment_id
    run = c.create_run(exp).info.run_id
    ms = [Metric(f"k{j}", s * 0.5 + j, 0, s) for s in range(points // keys) for j in range(keys)]
    start.wait(); t = time.perf_counter()
    for i in range(0, len(ms), 1000):
        c.log_batch(run, metrics=ms[i:i + 1000])
    out.put(time.perf_counter() - t)
if __name__ == "__main__":
    c = MlflowClient(tracking_uri=uri)
    if c.get_experiment_by_name("bench") is None: c.create_experiment("bench")
    ctx = mp.get_context("spawn"); start, out = ctx.Event(), ctx.Queue()
    ps = [ctx.Process(target=work, args=(start, out)) for _ in range(writers)]
    [p.start() for p in ps]; time.sleep(5); t = time.perf_counter(); start.set()
    [out.get(timeout=600) for _ in ps]; wall = time.perf_counter() - t; [p.join() for p in ps]
    print(writers * points / wall)
"""


def bench_mlflow(uri: str, points: int, writers: int) -> float | None:
    py = Path("/tmp/mlflow-venv/bin/python")
    if not py.exists():
        return None
    script = Path(tempfile.mkdtemp()) / "mlflow_ingest.py"  # spawned children re-import it
    script.write_text(MLFLOW)
    out = subprocess.run([str(py), str(script), uri, str(points), str(writers), str(KEYS)],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        print(f"mlflow ({uri.split(':')[0]}) failed: {out.stderr[-500:]}", file=sys.stderr)
        return None
    return float(out.stdout.strip().splitlines()[-1])


def running_runs(url: str, n: int) -> list[int]:
    """`n` runs marked running and never enqueued: targets the bench writes into by itself."""
    engine = create_engine(url)
    with engine.begin() as c:
        ids = [c.scalar(text("INSERT INTO runs (name, status, config, overrides, summary, attempts, "
                             "cancel_requested, created_at, heartbeat_at) VALUES ('bench', 'running', "
                             "'{}', '{}', '{}', 1, 0, now(), now() + interval '1 day') RETURNING id"))
               for _ in range(n)]
    engine.dispose()
    return ids


def bench_ingest(url: str, points: int, writers: int, mlflow_pg: str | None, tmp: Path,
                 mlflow_points: int, repeats: int = 3) -> dict:
    """Medians over `repeats` interleaved rounds (DBReporter, DBReporter with the old 500-point
    batches, COPY), so a burst of load from elsewhere hits all three alike; the ratio to COPY is
    the median of the per-round ratios."""
    rounds = []
    for _ in range(repeats):
        rounds.append((parallel(_reporter_writer, url, running_runs(url, writers), points),
                       parallel(partial(_reporter_writer, max_points=500), url,
                                running_runs(url, writers), points),
                       parallel(_copy_writer, url, running_runs(url, writers), points)))
    out = {"writers": writers, "points_per_writer": points, "repeats": repeats,
           "liplab_pg": statistics.median(r[0] for r in rounds),
           "liplab_pg_500": statistics.median(r[1] for r in rounds),
           "copy_pg": statistics.median(r[2] for r in rounds),
           "vs_copy": statistics.median(r[0] / r[2] for r in rounds),
           "vs_copy_500": statistics.median(r[1] / r[2] for r in rounds),
           "mlflow_sqlite": bench_mlflow(f"sqlite:///{tmp / 'mlflow.db'}", mlflow_points, writers),
           "mlflow_pg": bench_mlflow(mlflow_pg, mlflow_points, writers) if mlflow_pg else None}
    return out


def bench_live(system, url: str, broker: str, n: int) -> dict:
    import httpx

    from server.db import make_engine, make_sessionmaker
    from server.events import EventBus, run_channel
    from server.settings import Settings
    from worker.sink import DBReporter

    (run_id,) = running_runs(url, 1)  # stays running, so the stream stays open
    received: dict[int, float] = {}
    ready = threading.Event()
    via = "SSE (GET /runs/{id}/events)"

    def on_event(data: dict) -> None:
        if data.get("type") == "metrics":
            for _key, step, _value in data["points"]:
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
    rep = DBReporter(make_sessionmaker(make_engine(url)), run_id, bus=EventBus(settings))
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


def print_queue_table(lat: dict, over: dict, live: dict) -> None:
    print("| measure | value |\n| --- | --- |")
    print(f"| submit → running, p50 / p90 ({lat['n']} runs, Redis + PostgreSQL) | "
          f"{lat['p50_ms']:.1f} ms / {lat['p90_ms']:.1f} ms |")
    print(f"| wall time per tiny run ({over['n']} runs, one worker) | {over['wall_per_run_ms']:.1f} ms |")
    print(f"| compute of that run in-process (with its checkpoint written) | {over['compute_ms']:.1f} ms "
          f"({over['compute_ckpt_ms']:.1f} ms) |")
    print(f"| per-run overhead beyond compute (beyond compute + checkpoint) | {over['overhead_ms']:.1f} ms "
          f"({over['overhead_ckpt_ms']:.1f} ms) |")
    print(f"| claim → finish inside the worker, median | {over['claim_to_finish_ms']:.1f} ms |")
    print(f"| live point → client, p50 / p90, via {live['via']} | "
          f"{live['p50_ms']:.1f} ms / {live['p90_ms']:.1f} ms |", flush=True)


def main() -> None:
    from tests.live import LiveSystem
    from tests.services import pg_database
    from tests.worker.lab import RedisServer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency-runs", type=int, default=50)
    p.add_argument("--overhead-runs", type=int, default=500)
    p.add_argument("--points", type=int, default=40_000, help="points per writer")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3, help="interleaved ingest rounds (medians)")
    p.add_argument("--live-points", type=int, default=100)
    p.add_argument("--mlflow-points", type=int, default=None,
                   help="points per writer for MLflow (default: --points); its rate is per point")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="liplab-bench-"))
    redis_server = RedisServer(tmp)
    redis_server.start()
    try:
        with pg_database() as url, pg_database() as mlflow_url:
            system = LiveSystem(tmp, database_url=url, broker_url=redis_server.url, workers=1)
            system.env["LIPLAB_RUN_HEARTBEAT_S"] = "1"
            with system:
                engine = create_engine(url)
                lat = bench_latency(system, engine, args.latency_runs)
                over = bench_overhead(system, engine, args.overhead_runs)
                live = bench_live(system, url, redis_server.url, args.live_points)
                engine.dispose()
            print_queue_table(lat, over, live)
            ingest = bench_ingest(url, args.points, args.writers,
                                  mlflow_url.replace("postgresql+psycopg://", "postgresql+psycopg2://"), tmp,
                                  args.mlflow_points or args.points, args.repeats)
    finally:
        redis_server.kill()
    fmt = lambda v: "n/a" if v is None else f"{v:,.0f}"  # noqa: E731
    print(f"\n| metric points/s, {ingest['writers']} writers × {ingest['points_per_writer']:,} points "
          f"(median of {ingest['repeats']} rounds) | points/s | vs COPY |\n| --- | --- | --- |")
    print(f"| liplab DBReporter → PostgreSQL (upsert batches of up to 5,000, or 1 s) | "
          f"{fmt(ingest['liplab_pg'])} | {ingest['vs_copy']:.0%} |")
    print(f"| the same with the old 500-point batches | {fmt(ingest['liplab_pg_500'])} | "
          f"{ingest['vs_copy_500']:.0%} |")
    print(f"| raw COPY → PostgreSQL (ceiling) | {fmt(ingest['copy_pg'])} | |")
    print(f"| MLflow log_batch → SQLite store | {fmt(ingest['mlflow_sqlite'])} | |")
    print(f"| MLflow log_batch → PostgreSQL store | {fmt(ingest['mlflow_pg'])} | |")

if __name__ == "__main__":
    main()
