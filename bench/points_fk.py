"""What the foreign key metric_points → runs cost PostgreSQL per stored point (migration 0010
dropped it).

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/points_fk.py [--rounds R] [--batches B]

Two fresh databases at the current schema, one given the key back (`ON DELETE CASCADE`, as
before 0010); into each, per round, one new run receives `batches` `write_points` batches of
2,000 points (4 keys, 500 steps, appended in step order as a training run writes them). Per
batch: the backend's CPU (`/proc/<pid>/schedstat`: the server must run on this machine) and
the client's (`process_time`), per point. The databases alternate, the order reversed every
other round; each figure is the median (min–max) over rounds. Needs PostgreSQL
(LIPLAB_TEST_PG_URL).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEYS, STEPS = 4, 500  # 2,000 points a batch
ADD_FK = ("ALTER TABLE metric_points ADD CONSTRAINT fk_metric_points_run_id_runs "
          "FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE")


def backend_cpu(pid: int) -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def one_run(sessions, batches: int) -> tuple[float, float]:  # noqa: ANN001
    """(backend µs, client µs) per point of one run's batches."""
    from sqlalchemy import text

    from server.metrics import write_points
    from server.models import Run

    with sessions() as db:
        run = Run(name="fk", config={}, status="running", summary={})
        db.add(run)
        db.commit()
        pid = db.scalar(text("SELECT pg_backend_pid()"))
        server0, client0 = backend_cpu(pid), time.process_time()
        for b in range(batches):
            write_points(db, run.id, [(f"k{j}", s, s * 0.1 + j)
                                      for s in range(b * STEPS, (b + 1) * STEPS) for j in range(KEYS)])
        n = batches * STEPS * KEYS
        return (backend_cpu(pid) - server0) / n * 1e6, (time.process_time() - client0) / n * 1e6


def main() -> None:
    from sqlalchemy import text

    from server.db import make_engine, make_sessionmaker
    from server.migrate import upgrade
    from tests.services import pg_database

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--batches", type=int, default=40)
    args = p.parse_args()
    got: dict[str, list[tuple[float, float]]] = {"with the key": [], "without (0010)": []}
    with pg_database() as keyed, pg_database() as bare:
        for url in (keyed, bare):
            upgrade(url)
        engine = make_engine(keyed)
        with engine.begin() as c:
            c.execute(text(ADD_FK))
        engine.dispose()
        stores = {"with the key": make_sessionmaker(make_engine(keyed)),
                  "without (0010)": make_sessionmaker(make_engine(bare))}
        names = list(stores)
        for i in range(args.rounds):
            for name in names if i % 2 == 0 else names[::-1]:
                got[name].append(one_run(stores[name], args.batches))
    print(f"| metric_points | PostgreSQL backend µs / point | client µs / point |  "
          f"({args.rounds} rounds of {args.batches} × {STEPS * KEYS:,}-point batches)")
    print("| --- | --- | --- |")
    for name, xs in got.items():
        server, client = [x[0] for x in xs], [x[1] for x in xs]
        print(f"| {name} | {statistics.median(server):.2f} ({min(server):.2f}–{max(server):.2f}) "
              f"| {statistics.median(client):.2f} ({min(client):.2f}–{max(client):.2f}) |")


if __name__ == "__main__":
    main()
