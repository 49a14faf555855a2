"""A run resumed from a checkpoint ends with the same points as the same run uninterrupted."""
import pytest

from lipcore import run_experiment
from lipcore.reporting import JsonlReporter, ListReporter
from lipcore.training import checkpoints
from tests.lipcore.training.helpers import config


class Crash(ListReporter):
    """Raises after `after` log calls, as a worker killed mid-run."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def log(self, values, step):
        super().log(values, step)
        evaluations = max(len(self.steps("test_loss")), len(self.steps("a/test_loss")))  # comparative: a/…
        if evaluations >= self.after:
            raise KeyboardInterrupt


CASES = {
    "minibatch": config(data={"name": "moons"},
                        training={"epochs": 6, "checkpoint_every": 8,
                                  "callbacks": [{"name": "switch_batch_size",
                                                 "params": {"step": 10, "batch_size": 8}}],
                                  "stoppers": [{"name": "early_stopping", "patience": 50}],
                                  "metrics": ["weight_norm"]}),
    "sgd_schedule": config(training={"optimizer": "sgd", "momentum": 0.9, "epochs": 6,
                                     "schedule": "cosine", "checkpoint_every": 4}),
    "online": config(data={"name": "teacher", "online": True, "in_dim": 3, "out_dim": 2},
                     training={"epochs": 6, "checkpoint_every": 4}),
    "comparative": {**config(training={"epochs": 6, "checkpoint_every": 4,
                                       "metrics": ["param_distance"]}),
                    "model_a": {}, "model_b": {"model_seed": 3, "training": {"lr": 0.02}}},
    "blockwise": config(data={"name": "moons"},
                        training={"mode": "blockwise_sequential", "K": 2, "rounds": 12,
                                  "eval_every": 2, "checkpoint_every": 4}),
    "flossing": config(model={"depth": 4}, flossing={"enabled": True, "num_exponents": 2},
                       training={"epochs": 4, "checkpoint_every": 4}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_equals_uninterrupted(case, tmp_path):
    cfg = CASES[case]
    full = ListReporter()
    expected = run_experiment(cfg, full)
    crashed = Crash(after=4)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, crashed, workdir=tmp_path)
    ckpt_step = checkpoints.listing(tmp_path / "checkpoints")[-1][0]
    assert 0 < ckpt_step < expected["steps"]
    resumed = ListReporter()
    resumed.points = list(crashed.points)  # the store still holds what the crashed run logged
    summary = run_experiment(cfg, resumed, workdir=tmp_path, resume_from="auto")
    assert summary["resumed_from"] == ckpt_step
    assert summary["final"] == expected["final"]
    assert resumed.points == full.points  # nothing logged twice, nothing lost


def test_jsonl_reporter_drops_points_after_the_resume_step(tmp_path):
    r = JsonlReporter(tmp_path / "m.jsonl")
    for step in (1, 2, 3):
        r.log({"train_loss": step}, step)
    r.resumed(2)
    assert [line for line in (tmp_path / "m.jsonl").read_text().splitlines()] == [
        '{"step": 1, "train_loss": 1.0}', '{"step": 2, "train_loss": 2.0}']


def test_checkpoint_holds_model_optimizer_sampler_rng_and_step(tmp_path):
    run_experiment(config(), workdir=tmp_path)
    ckpt = checkpoints.load(tmp_path / "checkpoints")
    assert {"model", "optimizers", "sampler", "rng", "step", "control", "stoppers"} <= set(ckpt)
    assert ckpt["step"] == 16


def test_resume_from_a_missing_path_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        run_experiment(config(), resume_from=tmp_path / "nowhere")


class Buffered(ListReporter):
    """A sink that stores points only on flush(), like the worker's batching DB sink."""

    def __init__(self, crash_after=None):
        super().__init__()
        self.buffer, self.crash_after, self.flushes = [], crash_after, 0

    def log(self, values, step):
        self.buffer += [(step, k, float(v)) for k, v in values.items()]
        if self.crash_after and len({s for s, _, _ in self.buffer + self.points}) >= self.crash_after:
            raise KeyboardInterrupt  # killed: the buffer is lost

    def flush(self):
        self.points += self.buffer
        self.buffer = []
        self.flushes += 1


def test_a_buffering_sink_is_flushed_before_each_checkpoint(tmp_path):
    cfg = CASES["minibatch"]
    full = ListReporter()
    run_experiment(cfg, full)
    crashed = Buffered(crash_after=5)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, crashed, workdir=tmp_path)
    assert crashed.flushes >= 2
    resumed = Buffered()
    resumed.points = list(crashed.points)  # only what was flushed survived the crash
    run_experiment(cfg, resumed, workdir=tmp_path, resume_from="auto")
    resumed.flush()
    assert resumed.points == full.points


class StopAt(ListReporter):
    """Asks the loop to stop after `steps` steps, as a worker handing its run back (SIGTERM)."""

    def __init__(self, steps):
        super().__init__()
        self.calls, self.steps_before_stop = 0, steps

    def should_stop(self):
        self.calls += 1
        return self.calls >= self.steps_before_stop


@pytest.mark.parametrize("case", ["minibatch", "sgd_schedule"])
def test_a_stopped_run_checkpoints_where_it_stopped_and_resumes_equal(case, tmp_path):
    cfg = CASES[case]
    full = ListReporter()
    expected = run_experiment(cfg, full)
    stopped = StopAt(steps=11)  # not a checkpoint step (checkpoint_every 8 or 4)
    run_experiment(cfg, stopped, workdir=tmp_path)
    assert checkpoints.listing(tmp_path / "checkpoints")[-1][0] == 11
    resumed = ListReporter()
    resumed.points = list(stopped.points)
    summary = run_experiment(cfg, resumed, workdir=tmp_path, resume_from="auto")
    assert summary["resumed_from"] == 11 and summary["final"] == expected["final"]
    assert resumed.points == full.points
