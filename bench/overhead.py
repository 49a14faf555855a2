"""Logging overhead: a real training loop with the worker's reporter against a null reporter.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/overhead.py [--quick | --smoke] [--json PATH]

`lipcore.run_experiment` trains a small MLP on sine data (batch 32, evaluated and logged every
step, so every step hands the reporter its metrics) with `lipcore.reporting.NullReporter`
and with `worker.sink.DBReporter` as the worker builds it (PostgreSQL store, live events over
Redis, `should_stop()` every step, batches and events written by its flusher thread), and with
the same reporter writing in the training thread (`background=False`, as before the flusher). The two alternate for `repeats` rounds; a round's
figure is its wall time per step (the reporter's last flush included) and the overhead is the
median of the per-round ratios minus one
(wall time, and this process's CPU time). Needs PostgreSQL and Redis (LIPLAB_TEST_PG_URL,
LIPLAB_TEST_REDIS_URL).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import Aim, Table, cell, emit, parser, ratio, size, spread  # noqa: E402

AIM = 0.02


def config(steps: int) -> dict:
    n_train, batch = 32 * 8, 32  # 8 steps an epoch
    return {"name": "overhead", "data": {"name": "sine", "n_train": n_train, "n_test": 64, "data_seed": 0},
            "model": {"name": "mlp", "depth": 3, "width": 64, "model_seed": 0},
            "training": {"optimizer": "adam", "lr": 1e-3, "batch_size": batch, "epochs": steps // 8,
                         "eval_every": 1, "device": "cpu"}}


def one(cfg: dict, reporter) -> tuple[float, float]:
    """(wall s, this process's CPU s) of one training run, the reporter's last flush included."""
    from lipcore import run_experiment

    t, c = time.perf_counter(), time.process_time()
    run_experiment(cfg, reporter=reporter)
    if hasattr(reporter, "flush"):
        reporter.flush()
    return time.perf_counter() - t, time.process_time() - c


def measure(pg_url: str, redis_url: str, steps: int, repeats: int) -> dict[str, list[float]]:
    from lipcore.reporting import NullReporter
    from server.db import make_engine, make_sessionmaker
    from server.events import EventBus
    from server.settings import Settings
    from worker.sink import DBReporter

    from bench.ingest import running_runs

    cfg = config(steps)
    sessions = make_sessionmaker(make_engine(pg_url))
    bus = EventBus(Settings(database_url=pg_url, broker_url=redis_url))
    one(config(16), NullReporter())  # imports and first-call costs out of every figure
    got: dict[str, list[float]] = {k: [] for k in ("null", "db", "sync", "null_cpu", "db_cpu", "sync_cpu")}
    for _ in range(repeats):
        for name, background in (("null", None), ("db", True), ("sync", False)):
            if background is None:
                reporter = NullReporter()
            else:
                (run_id,) = running_runs(pg_url, 1)
                reporter = DBReporter(sessions, run_id, bus=bus, stop=lambda: False, background=background)
            wall, cpu = one(cfg, reporter)
            got[name].append(wall / steps)
            got[f"{name}_cpu"].append(cpu / steps)
    return got


def tables(got: dict[str, list[float]], steps: int) -> list[Table]:
    over = [r - 1 for r in ratio(got["db"], got["null"])]
    t = Table("overhead", f"Logging overhead: ms per training step ({steps} steps, metrics logged every step; "
              f"median (min–max) of {len(got['db'])} interleaved rounds)",
              ["reporter", "ms / step (wall)", "overhead (wall)", "CPU ms / step (this process)",
               "overhead (CPU)"], plot_unit="ms / step")
    over_cpu = [r - 1 for r in ratio(got["db_cpu"], got["null_cpu"])]
    t.rows.append(["`NullReporter` (nothing stored)", cell(got["null"], 1e3, 2), "",
                   cell(got["null_cpu"], 1e3, 2), ""])
    t.rows.append(["`DBReporter` → PostgreSQL + live events (Redis), flusher thread (the worker's)",
                   cell(got["db"], 1e3, 2), cell(over, 100, 1) + " %", cell(got["db_cpu"], 1e3, 2),
                   cell(over_cpu, 100, 1) + " %"])
    if got.get("sync"):
        t.rows.append(["the same, batches and events written in the training thread (`background=False`)",
                       cell(got["sync"], 1e3, 2), cell([r - 1 for r in ratio(got["sync"], got["null"])], 100, 1) + " %",
                       cell(got["sync_cpu"], 1e3, 2),
                       cell([r - 1 for r in ratio(got["sync_cpu"], got["null_cpu"])], 100, 1) + " %"])
    t.notes.append("Overheads are the median of the per-round ratios (min–max over rounds). The wall "
                   "figure holds the store's round trips but also every burst of load from elsewhere; "
                   "the CPU figure (time.process_time of the training process, the reporter's thread "
                   "work included, the database server's not) is the steadier one on a shared box.")
    t.plot = {"null": spread([x * 1e3 for x in got["null"]]), "DBReporter": spread([x * 1e3 for x in got["db"]])}
    m = spread(over)[0]
    t.aims.append(Aim("reporter overhead per training step", f"≤ {AIM:.0%}", f"{100 * m:.1f} %", m <= AIM))
    return [t]


def main() -> None:
    from tests.services import pg_database, redis_database

    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args()
    steps = args.steps or size(args, 400, 80, 32)
    repeats = args.repeats or size(args, 15, 6, 2)
    with pg_database() as url, redis_database() as redis_url:
        from server.migrate import upgrade
        upgrade(url)
        got = measure(url, redis_url, steps, repeats)
    emit(tables(got, steps), args.json)


if __name__ == "__main__":
    main()
