"""API latency on a lab-sized store: prints a table for docs/benchmarks.md (## API).

    python bench/api.py [--db postgres|sqlite] [--runs 100000] [--points 1000000] [--grid-runs 10000]
                        [--clients 50] [--requests 2000] [--workers 2]

Builds the store by bulk load (PostgreSQL COPY, SQLite executemany) into a throwaway database,
serves it with uvicorn in a subprocess, and measures with concurrent keep-alive clients
(bench/http_load.py, light enough not to take the CPU it measures):
  * GET /runs?limit=50 (newest first, with total, exact up to 10,000 matches) at --clients concurrent clients;
  * GET /runs/1/metrics?max_points=1000 on a --points series (min-max by row from per-block summaries);
  * GET /sweeps/2/grid over a --grid-runs sweep;
  * the runs table's views (TABLE_VIEWS), one client.
Latencies are wall-clock per request as the client sees them (p50, p99).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lipcore.config import validate  # noqa: E402
from bench.http_load import load  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.timestamps import sqlite_text  # noqa: E402

# The dashboard's runs table: a page of a view filtered and sorted on a metric, a config key,
# tags or the note (each a scan of the runs: no index on summaries, tags or notes).
TABLE_VIEWS = ["/runs?limit=50&where=summary.train_loss.last<0.5&order_by=-train_loss&order_stat=last",
               "/runs?limit=50&offset=25000&where=summary.train_loss.last<0.5&order_by=-train_loss",
               "/runs?limit=50&order_by=training.lr", "/runs?limit=50&where=tags contains baseline",
               "/runs?limit=50&where=note~warm"]
WIDTHS, LRS = [8, 16, 32, 64, 128, 256, 512, 1024], [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]


def run_tuples(n_runs: int, grid_runs: int) -> list[tuple]:
    base = validate({})
    now = "2026-01-01 00:00:00+00"
    out = []
    for i in range(n_runs):
        sweep = 2 if i < grid_runs else 1
        cfg = {**base, "model": {**base["model"], "width": WIDTHS[i % 8]},
               "training": {**base["training"], "lr": LRS[(i // 8) % 5], "batch_seed": i}}
        loss = ((i * 7919) % 100_003) / 100_003
        out.append((i + 1, sweep, f"r{i}", "succeeded" if i % 10 else "failed", json.dumps(cfg), "{}",
                    now, 1, json.dumps({"train_loss": {"last": loss, "step": 9, "min": loss, "max": loss, "n": 10}}),
                    0))
    return out


def load_postgres(url: str, runs: list[tuple], values: np.ndarray) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO sweeps (id, name, config, params, created_at) VALUES "
                    "(1, 'all', '{}', '{}', now()), (2, 'grid', '{}', '{}', now())")
        with cur.copy("COPY runs (id, sweep_id, name, status, config, overrides, created_at, attempts, "
                      "summary, cancel_requested) FROM STDIN") as copy:
            for row in runs:
                copy.write_row(row)
        with cur.copy("COPY metric_points (run_id, key, step, value, seq) FROM STDIN") as copy:
            for i, v in enumerate(values):
                copy.write_row((1, "train_loss", i, float(v), i))
        cur.execute("SELECT setval('runs_id_seq', (SELECT max(id) FROM runs))")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # visibility map: count(*) can use an index-only scan


def load_sqlite(path: str, runs: list[tuple], values: np.ndarray) -> None:
    """Timestamps in the one text form the server writes and reads (server.timestamps): a bare
    date such as '2026-01-01' is not a timestamp to it, and reading that sweep answers 500."""
    import sqlite3

    now = sqlite_text(datetime(2026, 1, 1, tzinfo=timezone.utc))
    c = sqlite3.connect(path)
    c.executemany("INSERT INTO sweeps (id, name, config, params, created_at) VALUES (?, ?, '{}', '{}', ?)",
                  [(1, "all", now), (2, "grid", now)])
    c.executemany("INSERT INTO runs (id, sweep_id, name, status, config, overrides, created_at, attempts, "
                  "summary, cancel_requested) VALUES (?,?,?,?,?,?,?,?,?,?)",
                  [(*r[:6], now, *r[7:]) for r in runs])
    c.executemany("INSERT INTO metric_points (run_id, key, step, value, seq) VALUES (1, 'train_loss', ?, ?, ?)",
                  ((i, float(v), i) for i, v in enumerate(values)))
    c.commit()
    c.execute("ANALYZE")
    c.close()


#: Bulk loader per --db: (database URL, run_tuples rows, the series' values) → None.
LOADERS = {"postgres": load_postgres,
           "sqlite": lambda url, runs, values: load_sqlite(url.split("///", 1)[1], runs, values)}


def build_blocks(url: str) -> None:
    """The bulk load bypassed write_points: summarise the series' blocks (server.blocks)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from server import blocks

    engine = create_engine(url)
    with Session(engine) as session:
        blocks.rebuild(session, 1, "train_loss")
        session.commit()
    engine.dispose()


@contextlib.contextmanager
def database(kind: str):
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite:///{d}/bench.db"
        return
    from tests.services import pg_database  # the tests' throwaway database (LIPLAB_TEST_PG_URL)

    with pg_database() as url:
        yield url


@contextlib.contextmanager
def serve(url: str, workers: int):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LIPLAB_DATABASE_URL": url, "PYTHONPATH": str(ROOT),
           "LIPLAB_HOME": tempfile.mkdtemp()}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "server.main:create_app", "--factory",
                             "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                             "--timeout-keep-alive", "120"],
                            env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/runs?limit=1", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def main() -> None:
    from bench.harness import Aim, Table, emit, parser, size

    p = parser(__doc__)
    p.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--runs", type=int, default=None, help="100,000 (quick 10,000)")
    p.add_argument("--points", type=int, default=None, help="1,000,000 (quick 100,000)")
    p.add_argument("--grid-runs", type=int, default=None, help="10,000 (quick 1,000)")
    p.add_argument("--clients", type=int, default=None, help="50 (quick 10)")
    p.add_argument("--requests", type=int, default=None, help="2,000 (quick 200)")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    a.runs = a.runs or size(a, 100_000, 10_000, 500)
    a.points = a.points or size(a, 1_000_000, 100_000, 20_000)
    a.grid_runs = a.grid_runs or size(a, 10_000, 1_000, 100)
    a.clients = a.clients or size(a, 50, 10, 2)
    a.requests = a.requests or size(a, 2000, 200, 10)
    few = size(a, 20, 10, 3)
    values = np.cumsum(np.random.default_rng(0).normal(size=a.points))
    with database(a.db) as url:
        upgrade(url)
        t = time.perf_counter()
        runs = run_tuples(a.runs, a.grid_runs)
        LOADERS[a.db](url, runs, values)
        build_blocks(url)
        load_s = time.perf_counter() - t
        with serve(url, a.workers) as base:
            rows = []
            cases = [
                (f"GET /runs?limit=50 ({a.runs:,} runs)", "/runs?limit=50", 1, 5 * few),
                (f"GET /runs?limit=50 ({a.runs:,} runs)", "/runs?limit=50", a.clients, a.requests),
                ("GET /runs?limit=50&where=model.width==64&order_by=train_loss",
                 "/runs?limit=50&where=model.width==64&order_by=train_loss", a.clients, max(a.clients, a.requests // 4)),
                *((f"GET {path}", path, 1, few) for path in TABLE_VIEWS),
                (f"GET /runs/1/metrics?max_points=1000 ({a.points:,} points)",
                 "/runs/1/metrics?keys=train_loss&max_points=1000", 1, few),
                (f"GET /sweeps/2/grid ({a.grid_runs:,} runs)",
                 "/sweeps/2/grid?x=model.width&y=training.lr&metric=train_loss&agg=mean", 1, few),
            ]
            for label, path, clients, n in cases:
                # warm-up at the timed concurrency: each uvicorn worker then holds the threads and
                # pooled connections the timed requests need (opening them cost the p99 at 10 clients)
                asyncio.run(load(base + path, clients, max(2 * clients, min(n, 8))))
                t = time.perf_counter()
                lat = asyncio.run(load(base + path, clients, n))
                wall = time.perf_counter() - t
                rows.append((label, clients, n, pct(lat, 50), pct(lat, 99), n / wall))
    table = Table("queries", f"API queries ({a.db}, {a.runs:,} runs, a {a.points:,}-point series, a "
                  f"{a.grid_runs:,}-run sweep; loaded in {load_s:.0f} s; uvicorn workers {a.workers}; "
                  "client-side wall time per request)",
                  ["request", "clients", "requests", "p50 ms", "p99 ms", "req/s"], plot_unit="p50 ms")
    for label, clients, n, p50, p99, rps in rows:
        table.rows.append([f"`{label}`", str(clients), str(n), f"{p50:.1f}", f"{p99:.1f}", f"{rps:.0f}"])
    listing, many, metrics_row, grid = rows[0], rows[1], rows[-2], rows[-1]
    table.plot = {"list, 1 client": (listing[3],) * 3, f"list, {a.clients} clients": (many[3],) * 3,
                  "1M-point read" if a.points >= 1_000_000 else "series read": (metrics_row[3],) * 3,
                  "sweep grid": (grid[3],) * 3}
    table.aims += [Aim(f"`GET /runs?limit=50` at {a.clients} clients, p99", "≤ 50 ms", f"{many[4]:.0f} ms", many[4] <= 50),
                   Aim("downsampled series read, p50", "≤ 50 ms", f"{metrics_row[3]:.0f} ms", metrics_row[3] <= 50),
                   Aim("sweep grid, p50", "≤ 200 ms", f"{grid[3]:.0f} ms", grid[3] <= 200)]
    table.notes.append("No peer: MLflow's tracking server has no equivalent of these queries (a filtered, "
                       "metric-ordered page of runs; a downsampled series; a sweep grid).")
    emit([table], a.json)


if __name__ == "__main__":
    main()
