"""`DBReporter.log()` alone: µs per call in the training thread, nothing written.

    PYTHONPATH=. python bench/log_call.py [--calls N] [--repeats R] [--keys K]

A reporter whose batches and live events never fall due (`max_points`, `max_wait_s` and
`live_every_s` infinite, a bus that drops events) is handed `calls` dicts of `keys` Python
floats, as lipcore's loop hands them (`background=True`, the worker's reporter, so no call
writes or publishes); the time per call is the median over `repeats` rounds. What a training
step pays for handing its metrics over, apart from any store or broker.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class DropBus:
    """An event bus that keeps nothing: the reporter keeps its live buffer as with Redis."""

    def publish(self, event: dict, run_id: int, sweep_id: int | None = None) -> None:
        pass


def per_call_us(calls: int, keys: int) -> float:
    from worker.sink import DBReporter

    inf = float("inf")
    rep = DBReporter(None, 1, bus=DropBus(), max_points=10**12, max_wait_s=inf,  # type: ignore[arg-type]
                     live_every_s=inf, background=True)
    rep.flusher = object()  # type: ignore[assignment]  # no flusher thread: nothing falls due
    names = [f"metric_{j}" for j in range(keys)]
    dicts = [{k: 0.5 + s + j for j, k in enumerate(names)} for s in range(calls)]
    t = time.perf_counter()
    for step, values in enumerate(dicts):
        rep.log(values, step)
    return (time.perf_counter() - t) / calls * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--keys", type=int, default=4)
    args = p.parse_args()
    got = [per_call_us(args.calls, args.keys) for _ in range(args.repeats)]
    print(f"DBReporter.log(), {args.keys} keys: {statistics.median(got):.2f} µs a call "
          f"(median of {args.repeats}; min {min(got):.2f}, max {max(got):.2f})")


if __name__ == "__main__":
    main()
