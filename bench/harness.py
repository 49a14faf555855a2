"""What every benchmark of `make bench` shares: its command line, its tables, its statistics.

A benchmark script (bench/ingest.py, bench/flossing.py, …) measures liplab and its peer
interleaved in one process run, and hands back `Table`s: columns, rows of already formatted
cells, the aims with met/missed, and the numbers to plot. Run alone it prints them as Markdown;
run by `bench/run.py` (`make bench`) with `--json PATH` it writes them there, and run.py prints
every table, draws one PNG per family and rewrites the generated part of docs/benchmarks.md.

Sizes: `--quick` is `make bench QUICK=1` (the whole suite in under 5 minutes on the 2-core
development box), `--smoke` smaller still (tests/bench: every table is produced, whatever
its figures), neither: the full sizes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Aim:
    """One claim: `what` should be `aim` (in words); `value` is what was measured, `met` whether
    it holds (None: could not be judged, e.g. a peer that is not installed)."""

    what: str
    aim: str
    value: str
    met: bool | None


@dataclass
class Table:
    """One figure of the suite. `rows` hold formatted cells; `plot` is {label: (median, lo, hi)}
    in `plot_unit` (one bar per label, the whiskers the spread), or empty."""

    family: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    aims: list[Aim] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plot: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    plot_unit: str = ""

    def markdown(self) -> str:
        out = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
               "| " + " | ".join("---" for _ in self.columns) + " |"]
        out += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        if self.aims:
            out += ["", "| aim | measured | target | met? |", "| --- | --- | --- | --- |"]
            out += [f"| {a.what} | {a.value} | {a.aim} | {verdict(a.met)} |" for a in self.aims]
        if self.notes:
            out += [""] + self.notes
        return "\n".join(out)


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else "**met**" if met else "**missed**"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark script takes (each adds its own)."""
    p = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the sizes of `make bench QUICK=1`")
    size.add_argument("--smoke", action="store_true", help="the smallest sizes (tests/bench)")
    p.add_argument("--json", type=Path, default=None, help="write the tables here instead of printing")
    p.add_argument("--device", default="cpu")
    return p


def size(args: argparse.Namespace, full: Any, quick: Any, smoke: Any) -> Any:
    return smoke if args.smoke else quick if args.quick else full


def emit(tables: Sequence[Table], path: Path | None) -> None:
    """Markdown on stdout, or the tables as JSON for bench/run.py."""
    if path is None:
        for t in tables:
            print(t.markdown() + "\n", flush=True)
        return
    path.write_text(json.dumps([asdict(t) for t in tables], indent=1))


def load(path: Path) -> list[Table]:
    out = []
    for d in json.loads(path.read_text()):
        d["aims"] = [Aim(**a) for a in d["aims"]]
        d["plot"] = {k: tuple(v) for k, v in d["plot"].items()}
        out.append(Table(**d))
    return out


def spread(samples: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max) of the repeats: with 1–5 repeats the range says more than an IQR."""
    xs = [x for x in samples if x is not None and math.isfinite(x)]
    if not xs:
        return (math.nan, math.nan, math.nan)
    return (statistics.median(xs), min(xs), max(xs))


def cell(samples: Sequence[float], scale: float = 1.0, digits: int = 1, sep: bool = False) -> str:
    """'median (min–max)' of `samples` × `scale`, or the one value when there is one."""
    m, lo, hi = spread(samples)
    if math.isnan(m):
        return "–"
    f = (lambda v: f"{v * scale:,.{digits}f}") if sep else (lambda v: f"{v * scale:.{digits}f}")
    return f(m) if len(samples) == 1 or lo == hi else f"{f(m)} ({f(lo)}–{f(hi)})"


def ratio(num: Sequence[float], den: Sequence[float]) -> list[float]:
    """Per-repeat ratios of two interleaved series (each round's load hits both alike)."""
    return [a / b for a, b in zip(num, den) if b]


def machine() -> dict[str, str]:
    """What a reader needs to weigh the figures: CPU, cores, load, torch, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch
        torch_v = torch.__version__
    except ImportError:
        torch_v = "not installed"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return {"cpu": cpu, "cores": str(os.cpu_count()), "load average (1, 5, 15 min)": load,
            "torch": torch_v, "python": sys.version.split()[0],
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def peer_python() -> Path | None:
    """The peers' interpreter (MLflow, PyHessian, TensorBoard): `$LIPLAB_BENCH_PEERS`, else the
    venv `make bench` builds from bench/requirements-peers.txt; None when neither exists."""
    env = os.environ.get("LIPLAB_BENCH_PEERS")
    py = Path(env) if env else ROOT / ".venv-bench" / "bin" / "python"
    return py if py.exists() else None


def peer_env() -> dict[str, str]:
    """The environment for a peer process: the repo importable, one BLAS thread as everywhere."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
