"""Where metrics go: the `Reporter` sink protocol and the sinks lipcore ships.

The training loop only calls `reporter.log(values, step)`; it never knows who listens. Tests
pass a `ListReporter`, the CLI a progress bar plus a JSONL file, the worker a batching DB sink.

A sink may also implement `resumed(step)` (`ResumableReporter`): a run resumed from a
checkpoint calls it once with the checkpoint's step before logging anything, so the sink can
drop points after that step (they will be logged again, with the same values). A sink that
buffers may implement `flush()`: the loop calls it before writing each checkpoint, so the
points up to a checkpoint are stored before the checkpoint exists.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Reporter(Protocol):
    def log(self, values: dict[str, float], step: int) -> None:
        """Record metric `values` (name → float) at `step`."""

    def artifact(self, name: str, path: str, kind: str = "file") -> None:
        """Record a file the run produced (checkpoint, figure, probe result)."""

    def should_stop(self) -> bool:
        """True when the run was cancelled from outside; the loop checks it every step."""


@runtime_checkable
class ResumableReporter(Reporter, Protocol):
    def resumed(self, step: int) -> None:
        """The run continues after `step`; points logged after it are about to be re-logged."""


class NullReporter:
    def log(self, values: dict[str, float], step: int) -> None:
        pass

    def resumed(self, step: int) -> None:
        pass

    def artifact(self, name: str, path: str, kind: str = "file") -> None:
        pass

    def should_stop(self) -> bool:
        return False


class ListReporter(NullReporter):
    """Keeps every point in memory: `points` is a list of (step, key, value)."""

    def __init__(self) -> None:
        self.points: list[tuple[int, str, float]] = []
        self.artifacts: list[tuple[str, str, str]] = []

    def log(self, values: dict[str, float], step: int) -> None:
        self.points += [(step, k, float(v)) for k, v in values.items()]

    def artifact(self, name: str, path: str, kind: str = "file") -> None:
        self.artifacts.append((name, path, kind))

    def resumed(self, step: int) -> None:
        self.points = [p for p in self.points if p[0] <= step]

    def series(self, key: str) -> list[float]:
        return [v for _, k, v in self.points if k == key]

    def steps(self, key: str) -> list[int]:
        return [s for s, k, _ in self.points if k == key]

    def as_series(self) -> dict[str, dict[str, list]]:
        """The points as {key: {"step": [...], "value": [...]}}, the shape probes read."""
        series: dict[str, dict[str, list]] = {}
        for step, key, value in self.points:
            s = series.setdefault(key, {"step": [], "value": []})
            s["step"].append(step)
            s["value"].append(value)
        return series


class JsonlReporter(NullReporter):
    """Appends one JSON line per log call to `path` (the run's metrics mirrored to disk)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, values: dict[str, float], step: int) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **{k: float(v) for k, v in values.items()}}) + "\n")

    def resumed(self, step: int) -> None:
        """Keep only the lines at or before `step` (the resumed run writes the rest again)."""
        if not self.path.exists():
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        self.path.write_text("".join(line + "\n" for line in keep))


def read_jsonl_metrics(path: str | Path) -> dict[str, dict[str, list]]:
    """What `JsonlReporter` wrote, as {key: {"step": [...], "value": [...]}} (missing file → {})."""
    series: dict[str, dict[str, list]] = {}
    p = Path(path)
    if not p.is_file():
        return series
    for line in p.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        step = row.pop("step")
        for key, value in row.items():
            s = series.setdefault(key, {"step": [], "value": []})
            s["step"].append(step)
            s["value"].append(value)
    return series


class MultiReporter(NullReporter):
    """Fans every call out to several reporters; stops when any of them says stop."""

    def __init__(self, *reporters: Any) -> None:
        self.reporters = [r for r in reporters if r is not None]

    def log(self, values: dict[str, float], step: int) -> None:
        for r in self.reporters:
            r.log(values, step)

    def artifact(self, name: str, path: str, kind: str = "file") -> None:
        for r in self.reporters:
            r.artifact(name, path, kind)

    def resumed(self, step: int) -> None:
        for r in self.reporters:
            if hasattr(r, "resumed"):
                r.resumed(step)

    def flush(self) -> None:
        for r in self.reporters:
            if callable(getattr(r, "flush", None)):
                r.flush()

    def should_stop(self) -> bool:
        return any(getattr(r, "should_stop", lambda: False)() for r in self.reporters)
