"""Narrow ReLU LDLT networks train with flossing; blown-up numbers end a run `diverged` with the
step, the quantity and a one-line reason, and never reach the parameters."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from lipcore import run_experiment
from lipcore.config import ConfigError, apply_overrides, load_config, validate
from lipcore.data import build_dataset
from lipcore.local import run_local
from lipcore.models import build_model
from lipcore.models.ldlt import LDLTChain
from lipcore.reporting import ListReporter
from lipcore.training.loop import Engine, make_member
from tests.lipcore.training.helpers import config

FLOSSING = Path(__file__).parents[3] / "configs/sine_flossing.yaml"


def sine_flossing(*overrides: str) -> dict:
    return apply_overrides(load_config(FLOSSING), list(overrides))


@pytest.mark.parametrize("overrides", [
    # `liplab run`: the step-21 flossing gradient was NaN (a tangent block of rank 1 < k = 4)
    "model.depth=7 model.width=8 training.epochs=20 data.n_train=128",
    # a member of a depth × width sweep submitted over the API
    "model.depth=3 model.width=8 training.epochs=5 data.n_train=128",
    # a depth-3 cell whose flossing gradient was NaN without the floored QR
    "model.depth=3 model.width=8 training.epochs=10 data.n_train=128 model.model_seed=2",
])
def test_narrow_relu_ldlt_flossing_runs_succeed(overrides):
    r = ListReporter()
    summary = run_experiment(sine_flossing(*overrides.split()), r)
    assert summary["status"] == "succeeded", summary["error"]
    assert all(math.isfinite(v) for _, _, v in r.points)


def test_width_8_depth_15_flossing_lowers_a_finite_loss():
    r = ListReporter()
    summary = run_experiment(sine_flossing("model.depth=15", "model.width=8", "training.epochs=5",
                                           "data.n_train=128"), r)
    losses = r.series("train_loss")
    assert summary["status"] == "succeeded", summary["error"]
    assert len(losses) == 5 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]


def test_a_blow_up_ends_diverged_with_step_quantity_and_reason_in_the_run_folder(tmp_path):
    cfg = sine_flossing("model.depth=2", "model.width=8", "data.n_train=32", "training.epochs=3",
                        "training.optimizer=sgd", "training.lr=1e6", "training.grad_clip=null",
                        "flossing.enabled=false")
    out, summary = run_local(cfg, out_root=tmp_path, progress=False)
    stored = json.loads((out / "summary.json").read_text())
    assert stored["status"] == "diverged"
    record = stored["diverged"]
    assert record["step"] >= 0 and record["quantity"] and record["reason"]
    assert stored["error"] == f"diverged at step {record['step']}: {record['quantity']} {record['reason']}"
    assert "\n" not in stored["error"]


def engine_for(model: nn.Module, **training) -> tuple[Engine, object]:
    cfg = validate(config(training=dict({"optimizer": "sgd", "lr": 0.1, "epochs": 2}, **training)))
    data = build_dataset(cfg["data"])
    member = make_member(model, data, cfg["training"], torch.device("cpu"))
    return Engine([member], data, cfg), member


class NanGradient(nn.Module):
    """x ↦ x·w + √(0·z): a finite output whose gradient for z is NaN (∞·0)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.z = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * self.w + torch.sqrt(self.z * 0.0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_non_finite_gradient_never_reaches_the_parameters(optimizer):
    model = NanGradient()
    engine, member = engine_for(model, optimizer=optimizer)
    before = [p.detach().clone() for p in model.parameters()]
    x, y, _ = engine.sampler.next()
    engine._sgd_step(member, x, y)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    if optimizer == "sgd":  # no momentum: a zeroed gradient moves nothing
        assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    result = engine_for(NanGradient(), optimizer=optimizer)[0].run()
    assert result.status == "diverged"
    assert result.diverged["step"] == 0 and result.diverged["quantity"] == "gradient of z"
    assert result.error.startswith("diverged at step 0: gradient of z norm became non-finite (nan)")


def ldlt(**weights) -> nn.Module:
    chain = LDLTChain([1, 8, 8, 1])
    with torch.no_grad():
        for name, value in weights.items():
            chain.get_parameter(name).fill_(value)
    return chain


@pytest.mark.parametrize("weights,quantity", [
    ({"layers.1.weight": math.nan}, "parameter layers.1.weight"),
    ({"layers.1.weight": 1e30}, "factorisation"),  # finite, but WᵀW + αI is singular to round-off
])
def test_a_failing_ldlt_factorisation_ends_diverged_not_failed(weights, quantity):
    result = engine_for(ldlt(**weights))[0].run()
    assert result.status == "diverged" and result.diverged["quantity"] == quantity
    assert "cholesky" in result.diverged["reason"] and "\n" not in result.error


def test_a_training_step_does_not_wait_for_the_device(monkeypatch):
    """No item()/float()/bool() on a tensor from lipcore during a step (flossing and accuracy
    included): the guard's flag and the running sums are read at evaluation only."""
    cfg = validate(config(data={"name": "moons"},
                          model={"name": "lipschitz_sequential", "layer": "ldlt", "depth": 3,
                                 "width": 8, "activation": "relu"},
                          flossing={"enabled": True, "num_exponents": 2, "pre_epochs": 0},
                          training={"grad_clip": 1.0}))
    data = build_dataset(cfg["data"])
    member = make_member(build_model(cfg["model"], data), data, cfg["training"], torch.device("cpu"))
    engine = Engine([member], data, cfg)
    x, y, _ = engine.sampler.next()
    syncs = []
    lipcore_root = str(Path(__file__).parents[3] / "lipcore")
    for name in ("item", "__float__", "__int__", "__bool__", "tolist"):
        original = getattr(torch.Tensor, name)

        def spy(self, *a, _original=original, _name=name, **k):
            frame = sys._getframe(1).f_code
            caller = frame.co_filename
            # the flossing QR's backward reads on the CPU (only) whether a column is dead, to
            # skip the masked formula; on a GPU it takes that formula without reading
            cpu_branch = (caller.endswith("qr.py") and frame.co_name in {"_live_then_dead", "_qr_backward", "backward"}
                          and not self.is_cuda)
            if caller.startswith(lipcore_root) and not cpu_branch:
                syncs.append((_name, caller))
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, spy)
    engine._sgd_step(member, x, y)
    engine._sgd_step(member, x, y)
    monkeypatch.undo()
    assert syncs == []
    assert engine._evaluate()["train_acc"] >= 0  # read once, at evaluation


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan])
def test_ldlt_lipschitz_constant_is_checked_once_and_names_the_key(value):
    with pytest.raises(ConfigError, match="model.lipschitz"):
        validate(config(model={"name": "lipschitz_sequential", "layer": "ldlt", "lipschitz": value}))
    with pytest.raises(ValueError, match="model.lipschitz"):
        LDLTChain([2, 4, 1], value)
