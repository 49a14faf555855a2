"""The loop: bit-identical reruns, divergence, cancellation, evaluation cadence, devices."""
import json
import math

import pytest

from lipcore import run_experiment
from lipcore.reporting import ListReporter
from tests.lipcore.training.helpers import config


def run(cfg, **kw):
    r = ListReporter()
    summary = run_experiment(cfg, r, **kw)
    return summary, r


def test_same_config_gives_bit_identical_metrics():
    cfg = config(data={"name": "moons"}, training={"metrics": ["weight_norm", "grad_norm"]})
    _, a = run(cfg)
    _, b = run(cfg)
    assert a.points == b.points and len(a.points) > 10


@pytest.mark.parametrize("key,value", [("data.data_seed", 1), ("model.model_seed", 1),
                                       ("training.batch_seed", 1)])
def test_each_seed_changes_the_run(key, value):
    section, name = key.split(".")
    _, base = run(config())
    _, other = run(config(**{section: {name: value}}))
    assert base.series("train_loss") != other.series("train_loss")


def test_train_loss_once_per_epoch_and_step_grows():
    summary, r = run(config())
    assert r.steps("train_loss") == [4, 8, 12, 16]  # 64 examples / 16 per batch
    assert summary["steps"] == 16 and summary["status"] == "succeeded"


def test_eval_every_and_full_batch():
    _, r = run(config(training={"batch_size": None, "epochs": 10, "eval_every": 5}))
    assert r.steps("test_loss") == [5, 10]


def test_training_lowers_the_loss():
    _, r = run(config(training={"epochs": 30}))
    losses = r.series("test_loss")
    assert losses[-1] < 0.5 * losses[0]


def test_non_finite_loss_ends_the_run_as_diverged_with_step_and_value():
    cfg = config(training={"optimizer": "sgd", "lr": 1e6, "epochs": 50, "batch_size": None},
                 model={"activation": "relu"})
    summary, r = run(cfg)
    assert summary["status"] == "diverged"
    assert summary["diverged"]["step"] > 0 and not math.isfinite(summary["diverged"]["value"])
    assert f"step {summary['diverged']['step']}" in summary["error"]
    assert all(math.isfinite(v) for _, _, v in r.points)


def test_should_stop_cancels():
    class Stop(ListReporter):
        def should_stop(self):
            return len(self.points) > 0

    summary = run_experiment(config(), Stop())
    assert summary["status"] == "cancelled" and summary["steps"] == 4


def test_max_steps_and_termination_error():
    summary, _ = run(config(training={"max_steps": 6, "eval_every": 2}))
    assert summary["steps"] == 6
    summary, r = run(config(training={"epochs": 200, "termination_error": 0.3}))
    assert summary["stopped_by"].startswith("termination_error")
    assert r.series("train_loss")[-1] <= 0.3 and summary["steps"] < 200 * 4


def test_grad_clip_and_sgd_momentum_and_schedules_run():
    for extra in ({"grad_clip": 0.1}, {"optimizer": "sgd", "momentum": 0.9},
                  {"optimizer": "adamw", "schedule": "one_cycle"},
                  {"schedule": "step", "schedule_params": {"step_size": 4, "gamma": 0.5}}):
        summary, r = run(config(training=extra))
        assert summary["status"] == "succeeded", extra
    lrs = r.series("lr")
    assert lrs == pytest.approx([0.01 * 0.5 ** (s // 4) for s in r.steps("lr")])


def test_online_data_draws_fresh_batches():
    cfg = config(data={"name": "teacher", "online": True, "in_dim": 4, "out_dim": 3},
                 training={"batch_size": 8, "epochs": 3})
    summary, r = run(cfg)
    assert summary["steps"] == 3 * 64 // 8
    assert r.series("train_loss")[-1] < r.series("train_loss")[0]


def test_auto_device_is_cuda_only_when_visible():
    import torch

    from lipcore.training.loop import pick_device

    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="training.device"):
            pick_device("cuda")


def test_probes_run_after_training_even_without_a_run_folder():
    # pca needs >= 3 checkpoints: kept in memory when there is no checkpoint folder
    cfg = config(data={"name": "moons"}, probes=[{"name": "pca", "n_points": 5},
                                                  {"name": "interpolation", "n_points": 5}])
    summary, _ = run(cfg)
    assert summary["status"] == "succeeded" and summary["probes"] == ["interpolation", "pca"]


def test_probes_read_the_checkpoint_folder(tmp_path):
    cfg = config(data={"name": "moons"}, probes=[{"name": "pca", "n_points": 5}])
    summary, r = run(cfg, workdir=tmp_path)
    assert summary["probes"] == ["pca"] and (tmp_path / "probes" / "pca.json").is_file()
    assert ("pca", str(tmp_path / "probes" / "pca.json"), "probe") in r.artifacts


def test_the_gpt_model_learns_the_text_set():
    cfg = config(data={"name": "text", "n_train": 256, "n_test": 64, "seq_len": 8},
                 model={"name": "gpt", "width": 32, "depth": 1, "activation": "relu"},
                 training={"lr": 0.003, "batch_size": 32, "epochs": 12})
    summary, r = run(cfg)
    losses = r.series("train_loss")
    assert summary["status"] == "succeeded" and losses[-1] < 0.8 * losses[0]
    assert "test_acc" in summary["final"]


def test_probes_see_the_logged_metrics(tmp_path):
    # a run folder's metrics.jsonl reaches the probes: lyapunov reuses the logged series
    from lipcore.local import run_local

    cfg = config(training={"metrics": ["lyapunov"]}, flossing={"num_exponents": 2},
                 probes=[{"name": "lyapunov", "k": 2}])
    out, summary = run_local(cfg, out_root=tmp_path, progress=False)
    assert summary["probes"] == ["lyapunov"]
    assert json.loads((out / "probes" / "lyapunov.json").read_text())["source"] == "metrics"


def test_probes_see_the_logged_metrics_without_a_metrics_file(tmp_path):
    """The worker's case: its sink writes no metrics.jsonl, yet lyapunov reads the series the
    run logged (kept in memory because the config has probes) instead of recomputing them."""
    cfg = config(training={"metrics": ["lyapunov"]}, flossing={"num_exponents": 2},
                 probes=[{"name": "lyapunov", "k": 2}])
    r = ListReporter()
    summary = run_experiment(cfg, r, workdir=tmp_path)
    assert summary["probes"] == ["lyapunov"] and not (tmp_path / "metrics.jsonl").exists()
    out = json.loads((tmp_path / "probes" / "lyapunov.json").read_text())
    assert out["source"] == "metrics"
    assert out["step"] == r.steps("lyapunov/0")
    assert [row[0] for row in out["exponents"]] == r.series("lyapunov/0")
