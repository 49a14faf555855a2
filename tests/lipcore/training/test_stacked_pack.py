"""The pack's native stacked path (`stacked_rules`, `stacked_jets`, `pack_metrics_native`).

Oracles: the model's own forward and the solo metrics (`lipcore.training.metrics`: autograd
per-example gradients and Hessian-vector products) on each member alone, and, for whole packs,
the solo run of each member's config (`run_experiment`), CPU, float64, 1e-6 relative.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from lipcore.models.deep_linear import DeepLinear
from lipcore.models.mlp import MLP
from lipcore.pack_run import run_pack
from lipcore.reporting import ListReporter
from lipcore.training import metrics, pack_metrics_native, stacked_rules
from lipcore.training.losses import SequenceCrossEntropy
from lipcore.training.pack_metrics_native import NATIVE_METRICS, Stacked
from tests.lipcore.training.test_pack import (  # noqa: F401 - float64: autouse here too
    assert_pack_close_to_solo, assert_pack_equals_solo, assert_same, float64, preset, solo_runs,
    variants)


def stack(models: list[nn.Module]) -> dict[str, torch.Tensor]:
    names = [n for n, _ in models[0].named_parameters()]
    return {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]) for n in names}


def seeded(make, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return make()


MODELS = {
    "deep_linear_mse": (lambda: DeepLinear(8, 8, 16, 2, 1.0), nn.MSELoss(), lambda: torch.randn(40, 8)),
    "mlp_tanh_ce": (lambda: MLP(8, 3, 12, 2, "tanh"), SequenceCrossEntropy(),
                    lambda: torch.randint(0, 3, (40,))),
    "mlp_relu_mse": (lambda: MLP(8, 8, 12, 2, "relu"), nn.MSELoss(), lambda: torch.randn(40, 8)),
}


@pytest.mark.parametrize("case", list(MODELS))
@pytest.mark.parametrize("jet_elements", [pack_metrics_native.JET_ELEMENTS, 3 * 40 * 16])
def test_native_forward_and_metrics_equal_each_model_alone(case, jet_elements, monkeypatch):
    """Second case: a jet budget of a few directions at a time (chunks summed)."""
    monkeypatch.setattr(pack_metrics_native, "JET_ELEMENTS", jet_elements)
    make, loss_fn, target = MODELS[case]
    torch.manual_seed(100)
    x, y = torch.randn(40, 8), target()
    models = [seeded(make, s) for s in range(3)]
    plan = stacked_rules.plan(models[0])
    assert plan is not None
    params = stack(models)
    out = plan.forward(params, x, 1, True)
    s = Stacked(plan, loss_fn)
    assert s.jets is not None
    got = {**NATIVE_METRICS.get("trace_covariances")(s, params, x, y, True),
           **NATIVE_METRICS.get("grad_norm")(s, params, x, y, True)}
    for i, m in enumerate(models):
        assert out[i] == pytest.approx(m(x).detach(), rel=1e-12, abs=1e-12)
        want = {**metrics.trace_covariances(m, x, y, loss_fn), **metrics.grad_norm(m, x, y, loss_fn)}
        assert want.keys() == got.keys()
        for k, v in want.items():
            assert float(got[k][i]) == pytest.approx(v, rel=1e-10), k


def test_a_changed_forward_has_no_rule():
    """A rule holds for the forward it was written for: a subclass overriding it, or a model
    whose forward is not its blocks in order, takes the vmap path."""
    class Doubled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    class Chain(DeepLinear):
        def forward(self, x):
            return super().forward(x) + 1

    model = DeepLinear(4, 4, 8, 1)
    assert stacked_rules.plan(model) is not None
    model.blocks[0] = Doubled(4, 8, bias=False)
    assert stacked_rules.plan(model) is None
    assert stacked_rules.plan(Chain(4, 4, 8, 1)) is None
    assert stacked_rules.plan(MLP(4, 4, 8, 1, "gelu")) is not None  # elementwise: any shape


@pytest.fixture
def paths(monkeypatch) -> dict[str, int]:
    """How many steps and evaluations each path took."""
    counts = {"native": 0, "vmap": 0, "native_metrics": 0, "vmap_metrics": 0}

    def spy(name, owner, attr):
        original = getattr(owner, attr)

        def counted(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, attr, counted)

    import lipcore.training.pack_objective as objective
    spy("native", objective, "native_objective")
    spy("vmap", objective, "vmap_objective")
    import lipcore.training.pack_metrics as vector
    spy("vmap_metrics", vector, "pack_metrics")
    original = pack_metrics_native.native_pack_metrics

    def native_metrics(*args, **kwargs):
        rows = original(*args, **kwargs)
        counts["native_metrics"] += rows is not None
        return rows
    monkeypatch.setattr(pack_metrics_native, "native_pack_metrics", native_metrics)
    return counts


def deep_linear() -> list[dict]:
    base = preset("diagonal_teacher", training={"epochs": 120, "eval_every": 20},
                  model={"depth": 2, "width": 16})
    base["training"]["callbacks"] = [{"name": "lr_decay", "params": {"decay_every": 50, "factor": 0.5}}]
    assert base["training"]["metrics"] == ["weight_norm", "grad_norm", "trace_covariances"]
    return variants(base, [{}, {"model.model_seed": 1, "training.lr": 0.03}, {"data.data_seed": 2}])


def mlp(activation: str) -> list[dict]:
    base = preset("landscape_moons", training={"epochs": 2, "metrics": ["grad_norm", "trace_covariances"]},
                  model={"activation": activation, "width": 8})
    return variants(base, [{}, {"model.model_seed": 1, "training.lr": 0.02}, {"training.batch_seed": 3}])


@pytest.mark.parametrize("configs", [deep_linear, lambda: mlp("tanh")], ids=["deep_linear", "mlp_tanh"])
def test_a_natively_stacked_pack_equals_each_member_alone(configs, paths):
    cfgs = configs()
    assert_pack_equals_solo(cfgs)
    assert paths["native"] > 0 and paths["vmap"] == 0
    assert paths["native_metrics"] > 0 and paths["vmap_metrics"] == 0


def test_a_deep_linear_pack_decays_its_learning_rate_as_alone():
    """The oracle above covers `lr` too; here it must actually change within the run."""
    reporter = ListReporter()
    run_pack(deep_linear()[:2], [reporter, ListReporter()])
    assert {v for _, k, v in reporter.points if k == "lr"} == {0.02, 0.01, 0.005}


def test_without_jets_the_metrics_take_vmap_and_the_step_stays_native(paths):
    """GELU: an elementwise stacked rule, no jet (the step native, `trace_covariances` by vmap)."""
    assert_pack_equals_solo(mlp("gelu"))
    assert paths["native"] > 0 and paths["vmap"] == 0
    assert paths["native_metrics"] == 0 and paths["vmap_metrics"] > 0


def test_a_model_without_rules_takes_the_vmap_path(paths):
    base = preset("sine_flossing", model={"name": "lipschitz_residual", "depth": 2, "width": 8},
                  training={"epochs": 1}, flossing={"enabled": False})
    assert_pack_equals_solo(variants(base, [{}, {"model.model_seed": 1, "training.lr": 0.01}]))
    assert paths["native"] == 0 and paths["vmap"] > 0


def sine_ldlt(width: int, qr_every: int, k: int) -> list[dict]:
    base = preset("sine_flossing", model={"depth": 4, "width": width}, training={"epochs": 2},
                  flossing={"pre_epochs": 0, "num_exponents": k, "qr_every": qr_every})
    return variants(base, [{}, {"model.model_seed": 1, "training.lr": 0.01},
                           {"training.batch_seed": 2, "flossing.weight": 0.3}])


def deep_linear_flossing() -> list[dict]:
    base = preset("diagonal_teacher", training={"epochs": 3, "metrics": []})
    base["flossing"] = {"enabled": True, "num_exponents": 2, "weight": 0.1}
    return variants(base, [{}, {"model.model_seed": 1}])


@pytest.mark.parametrize("configs", [
    lambda: sine_ldlt(16, 1, 2),
    lambda: sine_ldlt(16, 3, 2),
    deep_linear_flossing,
], ids=["sine_ldlt", "sine_ldlt_qr_every_3", "deep_linear"])
def test_a_flossing_pack_is_native_and_equals_each_member_alone(configs, paths):
    """Losses, the `lyapunov` metric flossing adds, every point: as each config alone.

    2 exponents at width 16: with more, or narrower, a direction killed by dead ReLU units
    inside a QR interval keeps a |R_ii| a little above the floor that is rounding noise in any
    two programs (the vmap path's too), and training amplifies it; the narrow case is checked
    step by step below."""
    cfgs = configs()
    assert_pack_equals_solo(cfgs)
    assert paths["native"] > 0 and paths["vmap"] == 0
    assert paths["native_metrics"] > 0 and paths["vmap_metrics"] == 0


def test_one_native_flossing_step_equals_each_member_alone_with_dead_units(monkeypatch):
    """Width 8, 4 exponents: dead ReLU units leave rank-deficient tangents (|R_ii| below the
    QR's floor, counted here); per member, the objective and its gradient equal the solo
    `forward_and_flossing_loss`'s.

    One QR per block: with `qr_every` > 1 the exponents still agree, but the gradient of a
    dead direction's Q column is round-off divided by the floor (`lipcore.qr`: finite, not
    reproducible), so two programs that round differently
    may differ in it (the vmap path rounds as the solo run does)."""
    qr_every = 1
    import lipcore.flossing as flossing
    from lipcore.models.lipschitz import build_sequential
    from lipcore.qr import rank_floor
    from lipcore.training.stacked_flossing import forward_and_penalty

    dead = []
    below = flossing.qr_log_diagonal

    def counted(a):
        r = torch.linalg.qr(a.detach())[1]
        dead.append(int((torch.diagonal(r, dim1=-2, dim2=-1).abs() < rank_floor(r)).sum()))
        return below(a)
    monkeypatch.setattr(flossing, "qr_log_diagonal", counted)
    cfg = {"in_features": 1, "out_features": 1, "layer": "ldlt", "depth": 4, "width": 8}
    models = [seeded(lambda: build_sequential(cfg), s) for s in range(4)]
    plan = stacked_rules.plan(models[0])
    assert plan is not None and plan.tangents
    torch.manual_seed(5)
    x = torch.rand(64, 1) * 20 - 10
    floss = {"num_exponents": 4, "batch_size": 16, "qr_every": qr_every}
    params = {n: t.requires_grad_() for n, t in stack(models).items()}
    out, penalty = forward_and_penalty(plan, params, x, True, floss, 7)
    objective = out.square().mean((1, 2)) + 0.1 * penalty
    grads = torch.autograd.grad(objective.sum(), list(params.values()))
    assert sum(dead) > 0  # some block of some member has a dead direction
    for i, m in enumerate(models):
        o, p, _ = flossing.forward_and_flossing_loss(m, x, 16, 4, flossing.step_generator(floss, 7),
                                                    qr_every=qr_every)
        want = o.square().mean() + 0.1 * p
        assert float(objective[i]) == pytest.approx(float(want), rel=1e-10)
        for g, w in zip(grads, torch.autograd.grad(want, list(m.parameters()))):
            torch.testing.assert_close(g[i], w, rtol=1e-6, atol=1e-9)


def test_native_flossing_pre_epochs_equal_each_member_alone(paths):
    """The pre-flossing penalty by the stacked chain (float32, as `test_pack`'s warm-up test:
    float64 pre-flossing breaks the solo run's Cholesky)."""
    torch.set_default_dtype(torch.float32)
    cfgs = sine_ldlt(16, 2, 2)
    for cfg in cfgs:
        cfg["flossing"]["pre_epochs"] = 1
    assert_pack_close_to_solo(cfgs, 1e-5)
    assert paths["native"] > 0 and paths["vmap"] == 0


def test_a_member_whose_factorisation_fails_diverges_alone_in_a_native_flossing_pack(paths):
    """Adam at lr 1e3 makes member 1's WᵀW + αI indefinite at step 1: the batched Cholesky
    raises for the whole stack, the bisection finds member 1, which ends `diverged` at its
    first failing step as alone; the others go on natively and log their solo points."""
    cfgs = sine_ldlt(16, 1, 2)
    cfgs[1]["training"]["lr"] = 1e3
    solo = solo_runs(cfgs)
    assert [s["status"] for s, _ in solo] == ["succeeded", "diverged", "succeeded"]
    reporters = [ListReporter() for _ in cfgs]
    summaries = run_pack(cfgs, reporters)
    assert [s["status"] for s in summaries] == ["succeeded", "diverged", "succeeded"]
    assert summaries[1]["diverged"] == solo[1][0]["diverged"]
    for (_, want_points), got_points in zip(solo, reporters):
        assert_same(want_points, got_points)
    assert paths["native"] > 0


def test_flossing_without_tangent_rules_takes_the_vmap_path(paths):
    """GELU has a stacked forward rule but no stacked tangent rule: the flossing step, and the
    `lyapunov` metric, go through vmap."""
    base = preset("landscape_moons", training={"epochs": 2, "metrics": []},
                  model={"activation": "gelu", "width": 8})
    base["flossing"] = {"enabled": True, "num_exponents": 2, "weight": 0.1}
    assert stacked_rules.plan(MLP(2, 2, 8, 2, "gelu")).tangents is False
    assert_pack_equals_solo(variants(base, [{}, {"model.model_seed": 1}]))
    assert paths["native"] == 0 and paths["vmap"] > 0 and paths["native_metrics"] == 0
