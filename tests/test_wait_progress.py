"""`liplab submit --wait`'s bar: finished runs plus the epochs running ones have done."""
from __future__ import annotations

import pytest

from liplab.submit import epochs_done, progress_bar


def run(status: str, epoch: float | None = None, epochs: int = 8, loss: float | None = None) -> dict:
    summary = {} if epoch is None else {"epoch": {"last": epoch}}
    if loss is not None:
        summary["train_loss"] = {"min": loss}
    return {"status": status, "config": {"training": {"epochs": epochs}}, "summary": summary}


def test_a_pack_in_progress_moves_the_bar_before_any_member_finishes():
    update, bar = progress_bar(4)
    try:
        update([run("running", 2), run("running", 4), run("queued"), run("running")])
        assert bar.n == pytest.approx(0.75)  # 2/8 + 4/8 + 0 + nothing evaluated yet
        assert bar.postfix.startswith("running=3")
        update([run("succeeded", 8, loss=0.5), run("failed", 1, loss=0.2), run("running", 6), run("running", 8)])
        assert bar.n == pytest.approx(2 + 6 / 8 + 0.99)  # an unfinished run never counts as done
        assert "failed=1" in bar.postfix and "best_train_loss=0.2" in bar.postfix
    finally:
        bar.close()


def test_a_run_without_epochs_or_points_counts_nothing():
    assert epochs_done({"status": "running", "config": {}, "summary": {}}) == 0.0
    assert epochs_done(run("running", 3, epochs=0)) == 0.0
