"""Where metrics go: the `Reporter` sink protocol and the sinks lipcore ships.

The training loop only calls `reporter.log(values, step)`; it never knows who listens. Tests
pass a `ListReporter`, the CLI a progress bar plus a JSONL file, the worker a batching DB sink.
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


class NullReporter:
    def log(self, values: dict[str, float], step: int) -> None:
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

    def series(self, key: str) -> list[float]:
        return [v for _, k, v in self.points if k == key]

    def steps(self, key: str) -> list[int]:
        return [s for s, k, _ in self.points if k == key]


class JsonlReporter(NullReporter):
    """Appends one JSON line per log call to `path` (the run's metrics mirrored to disk)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, values: dict[str, float], step: int) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **{k: float(v) for k, v in values.items()}}) + "\n")


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

    def should_stop(self) -> bool:
        return any(getattr(r, "should_stop", lambda: False)() for r in self.reporters)
