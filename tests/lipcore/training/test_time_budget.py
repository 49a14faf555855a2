"""`training.time_budget_s`: epochs (or steps) from the measured step time, as seed 004 gives
every layer family the same wall-clock time."""
import pytest

from lipcore import run_experiment
from lipcore.reporting import ListReporter
from lipcore.training import time_budget
from tests.lipcore.training.helpers import config


@pytest.mark.parametrize("budget, step_s, epochs, max_steps", [
    (1.0, 0.01, 25, 0),      # 1 s / (0.01 s · 4 batches of 16 of 64) = 25 epochs
    (0.03, 0.01, 1, 3),      # not one epoch (4 steps) fits: 3 steps
    (0.001, 0.01, 1, 1),     # not even one step: still one
])
def test_budget_sets_epochs_or_steps(monkeypatch, budget, step_s, epochs, max_steps):
    monkeypatch.setattr(time_budget, "time_step", lambda engine: step_s)
    r = ListReporter()
    summary = run_experiment(config(training={"time_budget_s": budget, "epochs": 99}), r)
    assert r.series("budget/epochs") == [epochs] and r.series("budget/max_steps") == [max_steps]
    assert summary["steps"] == (max_steps or epochs * 4)


def test_measured_step_time_is_that_of_a_real_training_step():
    """Timed on a copy: the run itself starts from the untouched initialisation."""
    r, plain = ListReporter(), ListReporter()
    run_experiment(config(training={"time_budget_s": 0.5}), r)
    step_s = r.series("budget/step_s")[0]
    assert 1e-6 < step_s < 0.5
    epochs = int(r.series("budget/epochs")[0])
    run_experiment(config(training={"epochs": epochs}), plain)
    assert r.series("train_loss") == plain.series("train_loss")
