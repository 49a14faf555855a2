"""Each callback and stopper changes exactly what it should."""
import pytest

from lipcore import run_experiment
from lipcore.reporting import ListReporter
from lipcore.training.callbacks import CALLBACKS, build_callbacks
from lipcore.training.state import TrainControl, TrainState
from lipcore.training.stoppers import build_stoppers
from tests.lipcore.training.helpers import config


def run(cfg):
    r = ListReporter()
    return run_experiment(cfg, r), r


def test_switch_batch_size_changes_the_number_of_steps_per_epoch():
    # 64 examples: 4 steps per epoch at 16; full batch (null) from step 8 on → 1 step per epoch
    cb = [{"name": "switch_batch_size", "params": {"step": 8, "batch_size": None}}]
    summary, r = run(config(training={"epochs": 5, "callbacks": cb}))
    assert r.steps("train_loss") == [4, 8, 9, 10, 11]
    assert summary["steps"] == 11


def test_a_smaller_batch_size_still_trains_every_epoch():
    cb = [{"name": "switch_batch_size", "params": {"step": 4, "batch_size": 8}}]
    summary, r = run(config(training={"epochs": 3, "callbacks": cb}))
    assert r.steps("train_loss") == [4, 12, 20] and summary["steps"] == 20


def test_multi_switch_batch_size_follows_its_schedule():
    cb = [{"name": "multi_switch_batch_size", "schedule": {4: 32, 6: 64}}]
    _, r = run(config(training={"epochs": 4, "callbacks": cb}))
    assert r.steps("train_loss") == [4, 6, 7, 8]


def test_lr_decay_multiplies_the_lr_every_n_steps():
    cb = [{"name": "lr_decay", "params": {"decay_every": 4, "factor": 0.5}}]
    _, r = run(config(training={"epochs": 4, "callbacks": cb, "eval_every": 1}))
    # lr logged after step s was used for step s-1 ... the value at eval is the next step's lr
    lrs = dict(zip(r.steps("lr"), r.series("lr")))
    assert lrs[3] == pytest.approx(0.01) and lrs[4] == pytest.approx(0.01)
    assert lrs[5] == pytest.approx(0.005) and lrs[9] == pytest.approx(0.0025)


def test_callbacks_get_a_read_only_state():
    def sneaky(state, control):
        state.step = 0  # must fail: the state is frozen

    (cb,) = build_callbacks([{"name": "lr_decay", "decay_every": 1, "factor": 0.5}])
    state, control = TrainState(1, 0, 0.1, 16), TrainControl(16)
    cb(state, control)
    assert control.lr_scale == 0.5
    with pytest.raises(AttributeError):
        sneaky(state, control)
    assert set(CALLBACKS) == {"lr_decay", "multi_switch_batch_size", "switch_batch_size"}


def test_bad_callback_params_name_the_key():
    with pytest.raises(ValueError, match=r"training.callbacks.0.params"):
        build_callbacks([{"name": "lr_decay", "params": {"every": 3}}])


def test_early_stopping_stops_after_patience_without_improvement():
    (s,) = build_stoppers([{"name": "early_stopping", "params": {"patience": 2}}])
    assert [s({"test_loss": v}) is not None for v in (3, 2, 2.5, 2.1)] == [False, False, False, True]
    (s,) = build_stoppers([{"name": "early_stopping", "patience": 1, "metric": "test_acc",
                            "mode": "max"}])
    assert [s({"test_acc": v}) is not None for v in (0.5, 0.6, 0.6)] == [False, False, True]


def test_target_loss_and_accuracy_stop_the_run_at_the_first_evaluation_past_target():
    summary, r = run(config(training={"epochs": 100, "stoppers": [
        {"name": "target_loss", "params": {"target": 0.3}}]}))
    losses = r.series("test_loss")
    assert summary["stopped_by"].startswith("target_loss") and losses[-1] <= 0.3
    assert all(v > 0.3 for v in losses[:-1])
    summary, r = run(config(data={"name": "moons"}, training={"epochs": 100, "stoppers": [
        {"name": "target_accuracy", "target": 0.85}]}))
    accs = r.series("test_acc")
    assert summary["stopped_by"].startswith("target_accuracy") and accs[-1] >= 0.85
    assert all(v < 0.85 for v in accs[:-1])


def test_early_stopping_in_the_loop():
    summary, r = run(config(training={"epochs": 200, "lr": 0.05, "stoppers": [
        {"name": "early_stopping", "patience": 3, "min_delta": 1.0}]}))
    # min_delta 1.0 is never met after the first evaluation: stop at the 4th
    assert len(r.series("test_loss")) == 4 and summary["stopped_by"].startswith("early_stopping")
