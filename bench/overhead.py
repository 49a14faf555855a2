"""Logging overhead: the per-step cost of the worker's reporter in a real training loop.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/overhead.py [--quick | --smoke] [--json PATH]
        [--seconds S | --steps N] [--repeats R] [--only db,sync]

`lipcore.run_experiment` trains a small MLP on sine data (batch 32, evaluated and logged every
step, so every step hands the reporter its 4 metrics) with `lipcore.reporting.NullReporter`,
with `worker.sink.DBReporter` as the worker builds it (PostgreSQL store, live events over
Redis, `should_stop()` every step, batches and events written by its flusher thread), and with
the same reporter writing in the training thread (`background=False`).

Each run lasts `--seconds` (5 s, 2 s with `--quick`; its steps are set from the null reporter's
step time, measured first), so every run holds the flusher's 1-second batches (two or more): a run
shorter than a batch period (480 steps of 1.8 ms, the earlier quick size) left them out of its
mean. What is measured is the steady state, step by step: a `StepClock` wraps the reporter and reads
three clocks each time the loop asks `should_stop()` (once at the end of every step), so the
differences are the step times: wall (`perf_counter`), the training thread's CPU
(`thread_time`) and the whole process's CPU (`process_time`). The first tenth of each run's
steps (start-up, the flusher's first batch) is left out. Per run the wall step times give a
mean (what a run pays per step on average: the flusher's batch every second and its live
events every 50 ms spread over the steps, and whatever else ran on the box), a median (the
typical step) and a 10 %-trimmed mean; the last flush after training (the points still
buffered, written once per run) is timed on its own. Beside the training thread's CPU, the CPU
per step of the whole run is accounted where reporting spends it: the reporter's flusher thread
(this process's CPU less the training thread's), the PostgreSQL backends of the bench's
sessions (`/proc/<pid>/schedstat`, found by their application_name) and the Redis server (its
INFO, all its clients'); their sum against the null reporter's is what reporting costs when
every core is busy. The reporters run one after the other in each round, the order reversed
every other round, and each overhead is the median over rounds of the per-round ratio minus one.
The aim (≤ 2 %) is the issue's: the mean training step; the CPU everywhere is reported beside
it, without an aim.
Needs PostgreSQL (on this machine, for its CPU) and Redis (LIPLAB_TEST_PG_URL,
LIPLAB_TEST_REDIS_URL).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import Aim, Table, cell, emit, parser, ratio, size, spread  # noqa: E402

AIM = 0.02
WARMUP = 0.1  # share of each run's first steps left out of the steady state
TRIM = 0.1  # share cut from each end for the trimmed mean


STEPS_PER_EPOCH = 8


def steps_for(seconds: float, step_s: float) -> int:
    """Whole epochs of steps lasting about `seconds` at `step_s` a step (at least two epochs)."""
    return STEPS_PER_EPOCH * max(2, round(seconds / step_s / STEPS_PER_EPOCH))


def config(steps: int) -> dict:
    n_train, batch = 32 * STEPS_PER_EPOCH, 32
    return {"name": "overhead", "data": {"name": "sine", "n_train": n_train, "n_test": 64, "data_seed": 0},
            "model": {"name": "mlp", "depth": 3, "width": 64, "model_seed": 0},
            "training": {"optimizer": "adam", "lr": 1e-3, "batch_size": batch, "epochs": steps // STEPS_PER_EPOCH,
                         "eval_every": 1, "device": "cpu"}}


class StepClock:
    """A reporter around `inner` that reads the clocks at every `should_stop()` (the loop's
    last call of each step): `marks` is a list of (wall s, training-thread CPU s, process CPU s)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.marks: list[tuple[float, float, float]] = []

    def log(self, values: dict[str, float], step: int) -> None:
        self.inner.log(values, step)

    def should_stop(self) -> bool:
        self.marks.append((time.perf_counter(), time.thread_time(), time.process_time()))
        return self.inner.should_stop()

    def __getattr__(self, name: str) -> Any:  # artifact, resumed, flush: the inner reporter's
        return getattr(self.inner, name)


def trimmed_mean(xs: list[float], cut: float = TRIM) -> float:
    xs = sorted(xs)
    k = int(len(xs) * cut)
    return statistics.fmean(xs[k:len(xs) - k] if len(xs) > 2 * k else xs)


APP = "liplab-bench-overhead"  # the application_name of this bench's PostgreSQL sessions


class ServerClock:
    """CPU seconds spent by the PostgreSQL backends of this bench's sessions (from
    /proc/<pid>/schedstat: the server must run on this machine) and by the Redis server (its
    INFO, all clients'); None where it cannot be read."""

    def __init__(self, sessions: Any, bus: Any):
        self.sessions, self.bus = sessions, bus
        self.pids: list[int] = []

    def _backends(self) -> list[int]:
        from sqlalchemy import text

        with self.sessions() as db:
            return list(db.scalars(text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                                   {"a": APP}))

    @staticmethod
    def _cpu(pids: list[int]) -> float:
        return sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for pid in pids) / 1e9

    def postgres(self, start: bool) -> float | None:
        """At the start: the backends' CPU so far. At the end: theirs, read before this query
        costs them anything, plus that of backends opened since."""
        try:
            if start:
                self.pids = self._backends()
                return self._cpu(self.pids)
            known = self._cpu(self.pids)
            return known + self._cpu([p for p in self._backends() if p not in self.pids])
        except (OSError, ValueError, IndexError):
            return None

    def redis(self) -> float | None:
        if self.bus is None or self.bus.redis is None:
            return None
        info = self.bus.redis.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def read(self, start: bool) -> tuple[float | None, float | None]:
        return self.postgres(start), self.redis()


def one(cfg: dict, reporter: Any, servers: ServerClock | None = None) -> dict[str, float]:
    """One training run's steady-state step statistics (seconds), its last flush, and the CPU
    per step its points cost the reporter's own thread and the servers over the whole run."""
    from lipcore import run_experiment

    clock = StepClock(reporter)
    before = servers.read(start=True) if servers else (None, None)
    cpu0, thread0 = time.process_time(), time.thread_time()
    run_experiment(cfg, reporter=clock)
    t = time.perf_counter()
    if hasattr(reporter, "flush"):
        reporter.flush()
    flush_s = time.perf_counter() - t
    others = (time.process_time() - cpu0) - (time.thread_time() - thread0)  # the flusher's, if any
    after = servers.read(start=False) if servers else (None, None)
    steps = len(clock.marks)
    marks = clock.marks[int(len(clock.marks) * WARMUP):]
    wall = [b[0] - a[0] for a, b in zip(marks, marks[1:])]
    n = len(wall)
    server = [None if a is None or b is None else (b - a) / steps for a, b in zip(before, after)]
    return {"mean": statistics.fmean(wall), "median": statistics.median(wall), "trimmed": trimmed_mean(wall),
            "thread_cpu": (marks[-1][1] - marks[0][1]) / n, "process_cpu": (marks[-1][2] - marks[0][2]) / n,
            "flush": flush_s, "flusher_cpu": others / steps, "postgres_cpu": server[0], "redis_cpu": server[1]}


REPORTERS = ("null", "db", "sync")  # None: NullReporter; else DBReporter(background=…)
BACKGROUND = {"null": None, "db": True, "sync": False}


def calibrate(seconds: float) -> int:
    """Steps for a run of about `seconds`, from a null-reporter run's mean step."""
    from lipcore.reporting import NullReporter

    probe = steps_for(0.5, 2e-3)
    return steps_for(seconds, one(config(probe), NullReporter())["mean"])


def measure(pg_url: str, redis_url: str, steps: int, repeats: int,
            names: tuple[str, ...] = REPORTERS) -> dict[str, list[dict[str, float]]]:
    from lipcore.reporting import NullReporter
    from server.db import make_engine, make_sessionmaker
    from server.events import EventBus
    from server.settings import Settings
    from worker.sink import DBReporter

    from bench.ingest import running_runs

    cfg = config(steps)
    sessions = make_sessionmaker(make_engine(pg_url + ("&" if "?" in pg_url else "?") + f"application_name={APP}"))
    settings = Settings(database_url=pg_url, broker_url=redis_url)  # LIPLAB_LIVE_EVERY_S too
    bus = EventBus(settings)
    servers = ServerClock(sessions, bus)
    one(config(16), NullReporter())  # imports and first-call costs out of every figure
    got: dict[str, list[dict[str, float]]] = {k: [] for k in REPORTERS}
    for i in range(repeats):
        for name in (names if i % 2 == 0 else names[::-1]):
            background = BACKGROUND[name]
            if background is None:
                reporter = NullReporter()
            else:
                (run_id,) = running_runs(pg_url, 1)
                reporter = DBReporter(sessions, run_id, bus=bus, stop=lambda: False, background=background,
                                      live_every_s=settings.live_every_s)
            got[name].append(one(cfg, reporter, servers))
    return got


def series(rounds: list[dict[str, float]], stat: str) -> list[float]:
    return [r[stat] for r in rounds]


def over(got: dict, name: str, stat: str) -> list[float]:
    return [r - 1 for r in ratio(series(got[name], stat), series(got["null"], stat))]


LABELS = {"null": "`NullReporter` (nothing stored)",
          "db": "`DBReporter` → PostgreSQL + live events (Redis), flusher thread (the worker's)",
          "sync": "the same, batches and events written in the training thread (`background=False`)"}


def all_cpu(r: dict[str, float]) -> float:
    """CPU per step that training and its reporting cost everywhere: the training thread's,
    the flusher's and the servers'."""
    return r["thread_cpu"] + r["flusher_cpu"] + (r["postgres_cpu"] or 0.0) + (r["redis_cpu"] or 0.0)


def cpu_over(got: dict, name: str, cost: Any) -> list[float]:
    """Per round, `cost(run)` of `name`'s run against the null reporter's, minus one."""
    return [r - 1 for r in ratio([cost(r) for r in got[name]], [cost(r) for r in got["null"]])]


def thread_cpu(r: dict[str, float]) -> float:
    return r["thread_cpu"]


def off_thread(got: dict, name: str) -> list[float]:
    """Per round, the CPU per step spent off the training thread (flusher, PostgreSQL, Redis)
    beyond the null reporter's, as a share of the null reporter's step: the part of the CPU
    everywhere that the training thread's own noise (± a few % a round) does not blur."""
    def off(r: dict[str, float]) -> float:
        return all_cpu(r) - r["thread_cpu"]
    return [(off(a) - off(b)) / b["mean"] for a, b in zip(got[name], got["null"]) if b["mean"]]


def tables(got: dict[str, list[dict[str, float]]], steps: int) -> list[Table]:
    n = len(got["null"])
    t = Table("overhead", f"Logging overhead per training step, steady state ({steps} steps a run, metrics "
              f"logged every step; median (min–max) of {n} interleaved rounds)",
              ["reporter", "wall ms / step (mean)", "overhead (mean)", "overhead (median step)",
               "overhead (trimmed mean)", "training thread CPU ms / step", "training thread CPU overhead",
               "CPU off the training thread, share of a step", "CPU overhead, everywhere",
               "flusher CPU µs / step", "PostgreSQL CPU µs / step",
               "Redis CPU µs / step", "last flush ms / run"], plot_unit="ms / step")
    for name in REPORTERS:
        rounds = got.get(name)
        if not rounds:
            continue
        base = name == "null"
        pct = (lambda xs: "" if base else cell(xs, 100, 1) + " %")
        t.rows.append([LABELS[name], cell(series(rounds, "mean"), 1e3, 3), pct(over(got, name, "mean")),
                       pct(over(got, name, "median")), pct(over(got, name, "trimmed")),
                       cell(series(rounds, "thread_cpu"), 1e3, 3), pct(cpu_over(got, name, thread_cpu)),
                       pct(off_thread(got, name)), pct(cpu_over(got, name, all_cpu)),
                       cell(series(rounds, "flusher_cpu"), 1e6, 1), cell(series(rounds, "postgres_cpu"), 1e6, 1),
                       cell(series(rounds, "redis_cpu"), 1e6, 1),
                       "" if base else cell(series(rounds, "flush"), 1e3, 1)])
    t.notes.append(
        f"Step times are read inside the run at the end of every step (the first {WARMUP:.0%} left out); "
        "\"mean\" is what a run pays per step on average (the flusher's batches and live events "
        f"included), \"median step\" the typical step, \"trimmed mean\" the mean without the "
        f"{TRIM:.0%} fastest and slowest steps. Overheads are the median of the per-round ratios "
        "(min–max over rounds). CPU: the training thread's over the same steps (what `log()` and "
        "any interference cost the step itself), then per step of the whole run, its last flush "
        "included: the reporter's flusher thread, the PostgreSQL backends of its sessions and the "
        "Redis server (all its clients'). \"CPU off the training thread\" is the flusher's, "
        "PostgreSQL's and Redis's CPU per step beyond the null reporter's, over the null reporter's "
        "step; \"CPU overhead, everywhere\" compares the sum of all four with the null reporter's "
        "(the training thread's round-to-round noise included): what reporting costs when every "
        "core is busy, as on a shared box. "
        "The last flush (the points still buffered when training ends) is paid once per run, not per "
        "step. The aim is the issue's, on the training step; the CPU everywhere has none and is "
        "reported beside it.")
    t.plot = {"null": spread([r["mean"] * 1e3 for r in got["null"]])}
    if not got.get("db"):
        return [t]
    t.plot["DBReporter"] = spread([r["mean"] * 1e3 for r in got["db"]])
    m = spread(over(got, "db", "mean"))[0]
    t.aims.append(Aim("reporter overhead per training step (mean wall time, steady state)", f"≤ {AIM:.0%}",
                      f"{100 * m:.1f} %", m <= AIM))
    t.aims.append(Aim("reporting's CPU everywhere per step (training thread, flusher, PostgreSQL, Redis)",
                      "none (reported)", f"{100 * spread(cpu_over(got, 'db', all_cpu))[0]:.1f} % (off the "
                      f"training thread: {100 * spread(off_thread(got, 'db'))[0]:.1f} %)", None))
    return [t]


def main() -> None:
    from tests.services import pg_database, redis_database

    p = parser(__doc__)
    p.add_argument("--seconds", type=float, default=None,
                   help="length of each run (5, quick 2): its steps from the null reporter's step time")
    p.add_argument("--steps", type=int, default=None, help="steps of each run, instead of --seconds")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (12, quick 10)")
    p.add_argument("--only", default="db,sync", help="DB reporters beside the null one: db, sync or both")
    args = p.parse_args()
    seconds = args.seconds or size(args, 5.0, 2.0, None)
    steps = args.steps or (calibrate(seconds) if seconds else 40)
    repeats = args.repeats or size(args, 12, 10, 2)
    with pg_database() as url, redis_database() as redis_url:
        from server.migrate import upgrade
        upgrade(url)
        names = ("null", *[n for n in REPORTERS[1:] if n in args.only.split(",")])
        got = measure(url, redis_url, steps, repeats, names)
    emit(tables(got, steps), args.json)


if __name__ == "__main__":
    main()
