"""`run_experiment`: config in, trained model and summary out, metrics through a reporter."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from lipcore.config import validate
from lipcore.data import build_dataset
from lipcore.models import build_model
from lipcore.reporting import NullReporter
from lipcore.training import train


def run_experiment(config: dict[str, Any], reporter: Any = None,
                   progress: Callable[[int, int], None] | None = None,
                   workdir: str | Path | None = None) -> dict[str, Any]:
    """Validate `config`, build data and model, train, and return the summary.

    `workdir` receives checkpoints and probe results when given. The summary is {"status", "steps", "final": {metric: value}, "error"}; status is one of
    succeeded, diverged, cancelled. Bad configs raise `ConfigError` before any work.
    """
    cfg = validate(config)
    reporter = reporter or NullReporter()
    data = build_dataset(cfg["data"])
    model = build_model(cfg["model"], data)
    result = train(model, data, cfg["training"], reporter, progress=progress)
    return {"status": result.status, "steps": result.steps, "final": result.final,
            "error": result.error}
