"""Small builders shared by the server tests."""
from __future__ import annotations

from typing import Any

QUICK: dict[str, Any] = {"name": "quick", "data": {"name": "sine", "n_train": 32, "n_test": 32},
                         "model": {"name": "mlp", "depth": 1, "width": 8},
                         "training": {"epochs": 2, "lr": 0.01, "device": "cpu"}}


def finish(db, run_id: int, status: str = "succeeded", points=(), *, error: str | None = None,
           worker: str = "test") -> None:  # noqa: ANN001
    """Pretend a worker ran `run_id` through the transitions real workers use: claimed (when
    still queued) by `worker`, its points written, then finished with `status`."""
    from server import lifecycle, metrics

    lifecycle.claim_run(db, run_id=run_id, worker=worker)
    if points:
        metrics.write_points(db, run_id, list(points))
    assert lifecycle.finish(db, run_id=run_id, worker=worker, status=status, error=error), (
        f"run {run_id} is not running under {worker!r}")
