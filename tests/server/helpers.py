"""Small builders shared by the server tests."""
from __future__ import annotations

from typing import Any

QUICK: dict[str, Any] = {"name": "quick", "data": {"name": "sine", "n_train": 32, "n_test": 32},
                         "model": {"name": "mlp", "depth": 1, "width": 8},
                         "training": {"epochs": 2, "lr": 0.01, "device": "cpu"}}


def finish(db, run_id: int, status: str = "succeeded", points=()) -> None:  # noqa: ANN001
    """Pretend a worker ran `run_id`: write its points and set its final status."""
    from server import crud, metrics

    if points:
        metrics.write_points(db, run_id, list(points))
    crud.finish_run(db, run_id=run_id, status=status)
