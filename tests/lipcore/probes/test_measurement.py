"""Measurement probe and epoch budget: arithmetic oracles and the run's model left untouched."""
import json

import pytest
import torch

from lipcore.budget import batches_per_epoch, epoch_budget, steady_step_time
from lipcore.probes import run_probe
from tests.lipcore.probes.helpers import blobs, context, mlp


def test_epoch_budget_formula():
    assert epoch_budget(3600.0, 0.05, 196) == 367  # ⌊3600 / 9.8⌋
    assert epoch_budget(10.0, 1.0, 10) == 1
    assert epoch_budget(9.99, 1.0, 10) == 0
    assert batches_per_epoch(50_000, 256) == 196 and batches_per_epoch(10, None) == 1
    assert steady_step_time([9.0] * 50 + [1.0] * 50) == 1.0
    with pytest.raises(ValueError, match="step_time_s"):
        epoch_budget(10.0, 0.0, 3)
    with pytest.raises(ValueError, match="batch_size"):
        batches_per_epoch(10, 0)


def test_measurement_probe_times_phases_and_leaves_the_model_untouched():
    model = mlp([2, 16, 2])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = blobs(n=64)
    out = run_probe("measurement", context(model, data), batch_size=32, n_steps=6,
                    budget_s=1.0)
    json.dumps(out)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    t = out["time_s"]
    assert len(t["batch"]["all"]) == 6
    assert all(x > 0 for x in t["forward"]["all"])
    total = [f + b + s for f, b, s in zip(t["forward"]["all"], t["backward"]["all"],
                                          t["step"]["all"])]
    assert total == pytest.approx(t["batch"]["all"], rel=1e-6)
    assert out["memory"]["method"] == "cpu_rss_sampled" and out["memory"]["peak_bytes"] >= 0
    assert out["memory"]["param_bytes"] == 8 * (2 * 16 + 16 + 16 * 2 + 2)
    b = out["budget"]
    assert b["batches_per_epoch"] == 2
    assert b["epochs"] == int(1.0 // (b["step_time_s"] * 2))
    assert out["metrics"]["time/batch_s"] == t["batch"]["median"]


def test_measurement_steps_with_the_runs_optimizer():
    """The run's optimizer section is used (not a fixed SGD): its momentum and weight decay
    reach the optimizer the probe times; the probe's own `lr` replaces the run's."""
    from unittest import mock

    from lipcore.training import optim

    built = []
    real = optim.OPTIMIZERS.get("sgd")

    def spy(params, cfg):
        built.append(dict(cfg))
        return real(params, cfg)

    config = {"training": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.7, "weight_decay": 1e-4}}
    with mock.patch.dict(optim.OPTIMIZERS._entries, {"sgd": spy}):
        out = run_probe("measurement", context(mlp([2, 4, 2]), blobs(n=16), config=config),
                        batch_size=8, n_steps=2, lr=0.01)
    assert built and built[0]["momentum"] == 0.7 and built[0]["weight_decay"] == 1e-4
    assert built[0]["lr"] == 0.01
    assert out["optimizer"] == {"name": "sgd", "lr": 0.01, "momentum": 0.7, "weight_decay": 1e-4}
