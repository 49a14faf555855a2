"""Metric ingest: the worker's reporter path against MLflow, TensorBoard and the raw ceilings.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/ingest.py [--quick | --smoke] [--json PATH]

Each writer is its own process streaming `--keys` metrics a step (points/s = all writers' points
over the wall time from a common start):

- liplab: `worker.sink.DBReporter.log` per step, as a training run logs (batches of up to 5,000
  points or 1 s, each one idempotent write through `server.metrics.write_points` with the run
  summary kept current), into PostgreSQL and into SQLite;
- the ceilings: raw `COPY` into `metric_points` (PostgreSQL) and one `executemany` INSERT
  transaction (SQLite, stdlib sqlite3): no upsert, no summary, no redelivery safety;
- MLflow `log_batch` (batches of 1,000) into its own PostgreSQL and SQLite stores, and
  TensorBoard's event writer (`SummaryWriter.add_scalar`), both from the peers' venv
  (`make bench` builds it; a peer that is not installed reads "not installed").

liplab and its ceilings run interleaved for `repeats` rounds (each round: liplab, ceiling, for 1
and 4 writers and both stores) and the share of the ceiling is the median of the per-round
ratios; MLflow and TensorBoard run once per round as well (first round only in quick sizes).
Needs PostgreSQL (LIPLAB_TEST_PG_URL).
"""
from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import Aim, Table, cell, emit, parser, peer_env, peer_python, ratio, size, spread  # noqa: E402

KEYS = 5
AIM_SHARE = 0.5


def _points(run_id: int, points: int):
    for step in range(points // KEYS):
        for j in range(KEYS):
            yield (run_id, f"k{j}", step, step * 0.5 + j)


def _reporter_writer(url: str, run_id: int, points: int):
    from sqlalchemy import text

    from server.db import make_engine, make_sessionmaker
    from worker.sink import DBReporter

    sessions = make_sessionmaker(make_engine(url))
    with sessions() as db:  # connected before the clock starts, as a running worker is
        db.execute(text("SELECT 1"))
    rep = DBReporter(sessions, run_id)

    def go() -> None:
        for step in range(points // KEYS):
            rep.log({f"k{j}": step * 0.5 + j for j in range(KEYS)}, step)
        rep.flush()
    return go


def _copy_writer(url: str, run_id: int, points: int):
    import psycopg

    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

    def go() -> None:
        with conn.cursor() as cur, cur.copy("COPY metric_points (run_id, key, step, value) FROM STDIN") as cp:
            for row in _points(run_id, points):
                cp.write_row(row)
        conn.commit()
        conn.close()
    return go


def _executemany_writer(url: str, run_id: int, points: int):
    conn = sqlite3.connect(url.split("///", 1)[1], timeout=120)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")

    def go() -> None:
        with conn:
            conn.executemany("INSERT INTO metric_points (run_id, key, step, value) VALUES (?, ?, ?, ?)",
                             _points(run_id, points))
        conn.close()
    return go


WRITERS = {"reporter": _reporter_writer, "copy": _copy_writer, "executemany": _executemany_writer}


def _serve(jobs, ready, out) -> None:
    """A writer process: imports once, then prepares each job, says ready, waits for "go"."""
    import psycopg  # noqa: F401 - imported before any clock runs

    import worker.sink  # noqa: F401
    while (job := jobs.get()) is not None:
        kind, url, run_id, points = job
        go = WRITERS[kind](url, run_id, points)
        ready.put(1)
        jobs.get()
        t = time.perf_counter()
        go()
        out.put(time.perf_counter() - t)


class Writers:
    """`n` writer processes, started once (their imports are not in any figure)."""

    def __init__(self, n: int):
        ctx = mp.get_context("spawn")
        self.jobs = [ctx.Queue() for _ in range(n)]
        self.ready, self.out = ctx.Queue(), ctx.Queue()
        self.procs = [ctx.Process(target=_serve, args=(q, self.ready, self.out), daemon=True) for q in self.jobs]
        for p in self.procs:
            p.start()

    def rate(self, kind: str, url: str, run_ids: list[int], points: int) -> float:
        """Points/s of one writer per run id, from a common start to the last one done."""
        for q, rid in zip(self.jobs, run_ids):
            q.put((kind, url, rid, points))
        for _ in run_ids:
            self.ready.get(timeout=300)
        t = time.perf_counter()
        for q in self.jobs[:len(run_ids)]:
            q.put("go")
        for _ in run_ids:
            self.out.get(timeout=1800)
        return len(run_ids) * points / (time.perf_counter() - t)

    def close(self) -> None:
        for q in self.jobs:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)


def running_runs(url: str, n: int) -> list[int]:
    """`n` runs marked running and never enqueued: targets the bench writes into by itself."""
    from datetime import timedelta

    from server.db import make_engine, make_sessionmaker
    from server.models import Run, utcnow

    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        runs = [Run(name="bench", status="running", config={}, summary={}, attempts=1,
                    heartbeat_at=utcnow() + timedelta(days=1)) for _ in range(n)]
        db.add_all(runs)
        db.commit()
        ids = [r.id for r in runs]
    engine.dispose()
    return ids


# Run by the peers' interpreter: jobs (key, kind, target, writers) on `writers` processes each,
# printed back as {key: points/s}. MLflow: `log_batch` of 1,000 metrics a call
# into its tracking store; TensorBoard: `add_scalar` per point into one log folder per writer.
PEERS = """
import json, sys, time, multiprocessing as mp
def prepare(kind, target, i, points, keys):
    if kind == "mlflow":
        from mlflow.tracking import MlflowClient
        from mlflow.entities import Metric
        c = MlflowClient(tracking_uri=target)
        run = c.create_run(c.get_experiment_by_name("bench").experiment_id).info.run_id
        ms = [Metric(f"k{j}", s * 0.5 + j, 0, s) for s in range(points // keys) for j in range(keys)]
        def go():
            for i in range(0, len(ms), 1000):
                c.log_batch(run, metrics=ms[i:i + 1000])
        return go
    from torch.utils.tensorboard import SummaryWriter
    w = SummaryWriter(f"{target}/w{i}")
    def go():
        for s in range(points // keys):
            for j in range(keys):
                w.add_scalar(f"k{j}", s * 0.5 + j, s)
        w.close()
    return go
def serve(jobs, ready, out):
    while (job := jobs.get()) is not None:
        go = prepare(*job); ready.put(1); jobs.get(); t = time.perf_counter(); go(); out.put(time.perf_counter() - t)
if __name__ == "__main__":
    jobs, points, keys = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    for job in jobs:  # one SQLite store per writer count; each store's schema made here, once
        if job[1] == "mlflow" and job[2].startswith("sqlite"):
            job[2] = job[2].replace(".db", f"{job[3]}.db")
    for target in dict.fromkeys(job[2] for job in jobs if job[1] == "mlflow"):
        from mlflow.tracking import MlflowClient
        c = MlflowClient(tracking_uri=target)
        if c.get_experiment_by_name("bench") is None: c.create_experiment("bench")
    ctx = mp.get_context("spawn"); ready, out = ctx.Queue(), ctx.Queue()
    n = max(job[3] for job in jobs); qs = [ctx.Queue() for _ in range(n)]
    ps = [ctx.Process(target=serve, args=(q, ready, out), daemon=True) for q in qs]; [p.start() for p in ps]
    got = {}
    for key, kind, target, w in jobs:
        try:
            for i, q in enumerate(qs[:w]): q.put((kind, target, i, points, keys))
            [ready.get(timeout=300) for _ in range(w)]
            t = time.perf_counter(); [q.put("go") for q in qs[:w]]
            [out.get(timeout=1800) for _ in range(w)]
            got[key] = w * points / (time.perf_counter() - t)
        except Exception as e:
            got[key] = f"failed: {type(e).__name__}"
    [q.put(None) for q in qs]
    print(json.dumps(got))
"""


def peers(jobs: list[tuple[str, str, str, int]], points: int) -> dict[str, float | str]:
    """{key: points/s} of each job from the peers' venv, or why there is none."""
    py = peer_python()
    if py is None:
        return {key: "not installed (make bench builds .venv-bench)" for key, *_ in jobs}
    path = Path(tempfile.mkdtemp(prefix="liplab-peer-")) / "peers.py"  # spawned children re-import it
    path.write_text(PEERS)
    out = subprocess.run([str(py), str(path), json.dumps(jobs), str(points), str(KEYS)],
                         capture_output=True, text=True, timeout=3600, env=peer_env())
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        why = "failed: " + (out.stderr.strip().splitlines()[-1][:120] if out.stderr.strip() else "?")
        return {key: why for key, *_ in jobs}
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(pg_url: str, mlflow_pg: str, tmp: Path, points: int, peer_points: int, repeats: int,
            peers_every_round: bool, stores: tuple[str, ...] = ("pg", "sqlite"), with_peers: bool = True
            ) -> dict[str, list]:
    """{contender/store/writers: [points/s per round]} (peers: a reason string instead)."""
    from server.migrate import upgrade

    sqlite_url = f"sqlite:///{tmp / 'liplab.db'}"
    upgrade(sqlite_url)
    got: dict[str, list] = {}
    pool = Writers(4)
    try:
        for r in range(repeats):
            for w in (1, 4):
                for store, url, ceiling in (("pg", pg_url, "copy"), ("sqlite", sqlite_url, "executemany")):
                    if store not in stores:
                        continue
                    got.setdefault(f"liplab/{store}/{w}", []).append(
                        pool.rate("reporter", url, running_runs(url, w), points))
                    got.setdefault(f"raw/{store}/{w}", []).append(
                        pool.rate(ceiling, url, running_runs(url, w), points))
            if with_peers and (r == 0 or peers_every_round):
                jobs = [(f"{kind}/{store}/{w}", kind, target, w) for kind, store, target in
                        (("mlflow", "pg", mlflow_pg), ("mlflow", "sqlite", f"sqlite:///{tmp / f'mlflow{r}.db'}"),
                         ("tensorboard", "files", str(tmp / f"tb{r}"))) for w in (1, 4)]
                for key, value in peers(jobs, peer_points).items():
                    got.setdefault(key, []).append(value)
    finally:
        pool.close()
    return got


def tables(got: dict[str, list], points: int, peer_points: int, repeats: int) -> list[Table]:
    t = Table("ingest", f"Metric ingest, points/s (median (min–max) of {repeats} interleaved rounds; "
              f"{points:,} points a writer, {KEYS} keys a step; peers {peer_points:,} a writer)",
              ["what", "store", "1 writer", "4 writers", "share of the raw ceiling (1 / 4 writers)"],
              plot_unit="points/s, 4 writers")
    label = {"liplab": "liplab `DBReporter` (idempotent, summary kept)",
             "raw": "raw ceiling (`COPY` / `executemany`)", "mlflow": "MLflow `log_batch` (1,000 a call)",
             "tensorboard": "TensorBoard `SummaryWriter` (event files)"}
    stores = {"pg": "PostgreSQL", "sqlite": "SQLite", "files": "event files"}
    for who in ("liplab", "raw", "mlflow", "tensorboard"):
        for store in ("pg", "sqlite", "files"):
            series = {w: got.get(f"{who}/{store}/{w}") for w in (1, 4)}
            if series[1] is None:
                continue
            cells, shares = [], []
            for w in (1, 4):
                xs = series[w]
                if any(isinstance(x, str) for x in xs):
                    cells.append(next(x for x in xs if isinstance(x, str)))
                    continue
                cells.append(cell(xs, digits=0, sep=True))
                raw = got.get(f"raw/{store}/{w}")
                if who != "raw" and raw and len(raw) == len(xs):
                    shares.append(cell(ratio(xs, raw), 100, 0) + " %")
                if w == 4:
                    t.plot[f"{who} {stores[store]}"] = spread(xs)
            t.rows.append([label[who], stores[store], *cells, " / ".join(shares) if shares else ""])
    for store in [s for s in ("pg",) if f"liplab/{s}/4" in got]:  # the aim is PostgreSQL's COPY
        share = ratio(got[f"liplab/{store}/4"], got[f"raw/{store}/4"])
        m = spread(share)[0]
        t.aims.append(Aim(f"liplab → {stores[store]}, 4 writers, share of the raw ceiling",
                          f"≥ {AIM_SHARE:.0%}", cell(share, 100, 0) + " %", m >= AIM_SHARE))
    ml = [x for x in got.get("mlflow/pg/4", []) if not isinstance(x, str)]
    if ml:
        speedup = spread(got["liplab/pg/4"])[0] / spread(ml)[0]
        t.aims.append(Aim("liplab over MLflow, PostgreSQL, 4 writers", "≥ 10×", f"{speedup:,.0f}×", speedup >= 10))
    t.notes.append("The raw ceilings store bare rows: no upsert (a point sent twice would be stored "
                   "twice), no run summary, no series ordinal; TensorBoard appends to files and "
                   "cannot be queried or deduplicated. MLflow and TensorBoard run in the peers' venv. The aim "
                   "is PostgreSQL's (half of `COPY`); SQLite's share of a raw `executemany` has none.")
    return [t]


def main() -> None:
    from tests.services import pg_database

    p = parser(__doc__)
    p.add_argument("--points", type=int, default=None, help="points per writer")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--stores", default="pg,sqlite", help="liplab and its ceiling into these stores")
    p.add_argument("--no-peers", action="store_true", help="leave MLflow and TensorBoard out")
    args = p.parse_args()
    points = args.points or size(args, 250_000, 10_000, 2_000)
    peer_points = min(points, size(args, 5_000, 500, 200))
    repeats = args.repeats or size(args, 3, 2, 1)
    tmp = Path(tempfile.mkdtemp(prefix="liplab-ingest-"))
    with pg_database() as url, pg_database() as mlflow_url:
        from server.migrate import upgrade
        upgrade(url)
        got = measure(url, mlflow_url.replace("postgresql+psycopg://", "postgresql+psycopg2://"), tmp,
                      points, peer_points, repeats, peers_every_round=not (args.quick or args.smoke),
                      stores=tuple(args.stores.split(",")), with_peers=not args.no_peers)
    print(json.dumps({k: v for k, v in got.items()}), file=sys.stderr)
    emit(tables(got, points, peer_points, repeats), args.json)


if __name__ == "__main__":
    main()
