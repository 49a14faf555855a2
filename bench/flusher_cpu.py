"""Flusher CPU per step: what the worker's reporter thread spends, at bench/overhead.py's shape.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/flusher_cpu.py [--against PATH] [--seconds S]
        [--repeats R] [--step-ms MS] [--quick | --smoke] [--json PATH]

`worker.sink.DBReporter(background=True)`, as the worker builds it (PostgreSQL store, live
events over Redis every `LIPLAB_LIVE_EVERY_S`, batches every second from its flusher thread),
is driven by hand at the overhead bench's shape: 4 metrics logged every step, one step every
`--step-ms` (1.8 ms: the null reporter's training step on the development box, ≈ 2,200
points/s), for `--seconds` (3 s, `--quick` 2 s). No model trains: the main thread sleeps
between steps, so the flusher thread's CPU (the process's CPU less the main thread's, its last
flush done by the main thread; after a warm-up batch of 500 steps flushed, so the connection
and the first statements' compilation are left out) is measured without the training thread's round-to-round noise,
which blurs it in bench/overhead.py. It is the CPU that holds the GIL the training thread
needs, so it is what the training step's mean pays beside `log()`.

`--against PATH` (another checkout, e.g. main's) measures that tree's reporter too, in the
same run: each round runs both trees, each in a process of its own (this script, its imports
from the tree), the order reversed every other round, on one PostgreSQL database and Redis.
Per tree: the flusher's CPU µs per step and the main thread's (`log()` and the pacing), median
(min–max) over rounds. Needs PostgreSQL and Redis (LIPLAB_TEST_PG_URL, LIPLAB_TEST_REDIS_URL).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("train_loss", "train_acc", "test_loss", "test_acc")  # what lipcore logs each step here
WARMUP = 500  # steps logged and flushed before the clocks start


def drive(tree: Path, pg_url: str, redis_url: str, seconds: float, step_s: float) -> dict[str, float]:
    """One reporter of `tree` driven for `seconds`: CPU seconds per step, flusher and main thread."""
    sys.path.insert(0, str(tree))
    from server.db import make_engine, make_sessionmaker
    from server.events import EventBus
    from server.settings import Settings
    from worker.sink import DBReporter

    from bench.ingest import running_runs

    assert Path(sys.modules["worker.sink"].__file__).is_relative_to(tree), "imported from another tree"
    (run_id,) = running_runs(pg_url, 1)
    settings = Settings(database_url=pg_url, broker_url=redis_url)
    reporter = DBReporter(make_sessionmaker(make_engine(pg_url)), run_id, bus=EventBus(settings),
                          stop=lambda: False, background=True, live_every_s=settings.live_every_s)
    for step in range(WARMUP):  # connection, compiled statements, first COPY: out of the figure
        reporter.log(dict.fromkeys(KEYS, 0.5), step - WARMUP)
    reporter.flush()
    steps = round(seconds / step_s)
    cpu0, main0 = time.process_time(), time.thread_time()
    start = time.perf_counter()
    for step in range(steps):
        x = 1.0 / (step + 1)
        reporter.log({k: x * i for i, k in enumerate(KEYS, 1)}, step)
        reporter.should_stop()
        pause = start + (step + 1) * step_s - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    reporter.flush()
    main = time.thread_time() - main0
    return {"flusher": (time.process_time() - cpu0 - main) / steps, "main": main / steps, "steps": steps}


def child(tree: Path, pg_url: str, redis_url: str, seconds: float, step_s: float) -> dict[str, float]:
    """`drive` in a fresh process whose imports come from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, str(Path(__file__).resolve()), "--child", str(tree), pg_url, redis_url,
            str(seconds), str(step_s)]
    out = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        tree, pg_url, redis_url, seconds, step_s = sys.argv[2:7]
        print(json.dumps(drive(Path(tree), pg_url, redis_url, float(seconds), float(step_s))))
        return
    sys.path.insert(0, str(ROOT))
    from bench.harness import Table, cell, emit, parser, size
    from tests.services import pg_database, redis_database

    p = parser(__doc__)
    p.add_argument("--against", type=Path, default=None, help="another checkout to measure beside this one")
    p.add_argument("--seconds", type=float, default=None, help="length of each run (3, quick 2)")
    p.add_argument("--repeats", type=int, default=None, help="rounds (4, quick 3)")
    p.add_argument("--step-ms", type=float, default=1.8, help="one step (4 metrics) every this many ms")
    args = p.parse_args()
    seconds = args.seconds or size(args, 3.0, 2.0, 1.2)
    repeats = args.repeats or size(args, 4, 3, 1)
    trees = {"this tree": ROOT} | ({f"{args.against}": args.against.resolve()} if args.against else {})
    got: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with pg_database() as pg_url, redis_database() as redis_url:
        from server.migrate import upgrade
        upgrade(pg_url)
        for i in range(repeats):
            for name in (list(trees) if i % 2 == 0 else list(trees)[::-1]):
                got[name].append(child(trees[name], pg_url, redis_url, seconds, args.step_ms / 1e3))
    steps = got["this tree"][0]["steps"]
    t = Table("flusher_cpu", f"Reporter CPU per step at the overhead bench's shape (4 metrics a step, a step every "
              f"{args.step_ms} ms, {steps} steps a run; median (min–max) of {repeats} rounds)",
              ["tree", "flusher thread CPU µs / step", "main thread CPU µs / step (log() and pacing)"])
    for name, rounds in got.items():
        t.rows.append([name, cell([r["flusher"] for r in rounds], 1e6, 2), cell([r["main"] for r in rounds], 1e6, 2)])
    emit([t], args.json)


if __name__ == "__main__":
    main()
