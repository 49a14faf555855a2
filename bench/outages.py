"""Outage benchmark: what a 5 s store outage and an empty broker restart cost a sweep.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/outages.py [--repeats 3] [--epochs 300]

Needs `initdb`/`pg_ctl` and `redis-server` on PATH; starts its own PostgreSQL cluster, Redis,
API and one worker at default settings (the scenario of `tests/reliability/`, figures recorded
in docs/reliability.md "Outages" and docs/benchmarks.md "Outages"). For each repeat, the same
sweep runs undisturbed (control) and then with, once the first runs have finished, PostgreSQL
stopped immediately for 5 s while Redis is killed and started again empty. Then the embedded
mode: the SQLite file locked and the broker's message folder moved away for 5 s. Prints one
Markdown row per sweep: wall times, extra time, attempts, points, 5xx answers.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live import LiveSystem  # noqa: E402
from tests.reliability.scenario import embedded_outage, outage_lab, run_sweep  # noqa: E402
from tests.worker.test_faults import config, points_of  # noqa: E402


def row(label: str, control, faulted, per_run: int) -> str:
    n = sum(faulted.statuses.values())
    lost = n * per_run - faulted.points
    requeued = sum(a > 1 for a in faulted.attempts.values())
    return (f"| {label} | {control.wall_s:.1f} | {faulted.wall_s:.1f} | "
            f"{faulted.wall_s - control.wall_s:+.1f} | {faulted.statuses} | {requeued} | {lost} | "
            f"{faulted.server_errors} of {faulted.answers} |")


def pair(system, url: str, cfg: dict, n: int, fault, after: int) -> tuple:
    control = run_sweep(system, url, cfg, n, timeout_s=600)
    faulted = run_sweep(system, url, cfg, n, timeout_s=600, fault=fault, fault_after_done=after)
    return control, faulted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=300, help="epochs of each run of the 4-run sweep")
    args = ap.parse_args()
    long_cfg = config(epochs=args.epochs, name="bench-outage")
    tiny_cfg = config(epochs=1, n_train=32, name="bench-outage-tiny")
    print("| sweep | control s | faulted s | extra s | statuses | runs requeued | points lost "
          "| 5xx |\n| --- | ---: | ---: | ---: | --- | ---: | ---: | --- |")
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as home, outage_lab(Path(home)) as lab:
            for n, cfg, after in ((4, long_cfg, 1), (200, tiny_cfg, 20)):
                control, faulted = pair(lab.system, lab.pg.url, {**cfg, "name": f"{cfg['name']}-{i}"},
                                        n, lab.outage, after)
                print(row(f"PostgreSQL + Redis, {n} runs", control, faulted, len(points_of(cfg))),
                      flush=True)
        with tempfile.TemporaryDirectory() as home, LiveSystem(Path(home)) as system:
            url = f"sqlite:///{Path(home) / 'liplab.db'}"
            control, faulted = pair(system, url, long_cfg, 4, lambda: embedded_outage(Path(home)), 1)
            print(row("embedded, 4 runs", control, faulted, len(points_of(long_cfg))), flush=True)


if __name__ == "__main__":
    main()
