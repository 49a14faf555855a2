"""Packed training: each member of a vectorised pack logs what the same config logs alone.

The oracle is the solo run of each member's config (`run_experiment`, its own process state,
its own model, sampler and optimizer), in float64 on the CPU; tolerance 1e-6 relative.
"""
from __future__ import annotations

import copy

import pytest
import torch
import yaml

from lipcore.experiment import run_experiment
from lipcore.pack_run import run_pack
from lipcore.packing import vectorised_reason
from lipcore.reporting import ListReporter

REL = 1e-6


@pytest.fixture(autouse=True)
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def preset(name: str, **sections) -> dict:
    cfg = yaml.safe_load(open(f"configs/{name}.yaml"))
    cfg.pop("probes", None)
    for section, values in sections.items():
        cfg[section].update(values)
    cfg["training"]["device"] = "cpu"
    return cfg


def variants(base: dict, changes: list[dict]) -> list[dict]:
    out = []
    for change in changes:
        cfg = copy.deepcopy(base)
        for key, value in change.items():
            section, _, name = key.partition(".")
            cfg[section][name] = value
        out.append(cfg)
    return out


def points(reporter: ListReporter) -> dict:
    return {(step, key): value for step, key, value in reporter.points}


def assert_same(solo: ListReporter, packed: ListReporter) -> None:
    a, b = points(solo), points(packed)
    assert a.keys() == b.keys()
    for k, v in a.items():
        assert b[k] == pytest.approx(v, rel=REL, abs=1e-12), k


def solo_runs(cfgs: list[dict]) -> list[tuple[dict, ListReporter]]:
    out = []
    for cfg in cfgs:
        reporter = ListReporter()
        out.append((run_experiment(cfg, reporter), reporter))
    return out


# (a) sine LDLT with flossing (2 exponents: the smallest of 4 sits on a rank-deficient ReLU
# tangent whose log|R_ii| is rounding noise in any two programs), (b) deep linear network on
# a diagonal teacher, (c) an MLP on moons; members differ in seeds and learning rate.
CASES = {
    "sine_ldlt_flossing": (
        preset("sine_flossing", model={"depth": 4, "width": 16}, training={"epochs": 2},
               flossing={"pre_epochs": 0, "num_exponents": 2}),
        [{}, {"model.model_seed": 1, "training.lr": 0.01},
         {"training.batch_seed": 2, "flossing.weight": 0.3}]),
    "deep_linear": (
        preset("diagonal_teacher", training={"epochs": 150},
               model={"depth": 2, "width": 16}),
        [{}, {"model.model_seed": 1, "training.lr": 0.03}, {"data.data_seed": 2}]),
    "residual_ldlt": (
        preset("sine_flossing", model={"name": "lipschitz_residual", "depth": 2, "width": 8},
               training={"epochs": 1}, flossing={"enabled": False}),
        [{}, {"model.model_seed": 1, "training.lr": 0.01}]),
    "mlp_moons": (
        preset("landscape_moons", training={"epochs": 3}),
        [{}, {"model.model_seed": 1, "training.lr": 0.02}, {"training.batch_seed": 3}]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_member_of_a_pack_equals_its_solo_run(case):
    base, changes = CASES[case]
    cfgs = variants(base, changes)
    assert vectorised_reason(cfgs[0]) is None
    assert_pack_equals_solo(cfgs)


def assert_pack_equals_solo(cfgs: list[dict]) -> None:
    """Every member succeeds, takes its solo run's steps and logs its solo run's points."""
    solo = solo_runs(cfgs)
    reporters = [ListReporter() for _ in cfgs]
    summaries = run_pack(cfgs, reporters)
    for (want, want_points), got, got_points in zip(solo, summaries, reporters):
        assert got["status"] == want["status"] == "succeeded"
        assert got["steps"] == want["steps"]
        assert_same(want_points, got_points)


def test_flossing_warm_up_is_vectorised_too(float64):
    """`flossing.pre_epochs` in float32: a float64 LDLT warm-up breaks the solo run's Cholesky
    (a known fault of the solo loop), so this compares at float32's rounding (1e-5)."""
    torch.set_default_dtype(torch.float32)
    base, changes = CASES["sine_ldlt_flossing"]
    base = copy.deepcopy(base)
    base["flossing"]["pre_epochs"] = 1
    assert_pack_close_to_solo(variants(base, changes), 1e-5)


def assert_pack_close_to_solo(cfgs: list[dict], rel: float) -> None:
    """Every member logs its solo run's points, within `rel` (float32's rounding)."""
    solo = solo_runs(cfgs)
    reporters = [ListReporter() for _ in cfgs]
    run_pack(cfgs, reporters)
    for (_, want), got in zip(solo, reporters):
        a, b = points(want), points(got)
        assert a.keys() == b.keys()
        assert [b[k] for k in a] == pytest.approx(list(a.values()), rel=rel)


def test_a_diverging_member_stops_alone():
    base = preset("diagonal_teacher", training={"epochs": 100})
    cfgs = variants(base, [{}, {"training.lr": 5.0}, {"model.model_seed": 3}])
    solo = solo_runs(cfgs)
    assert solo[1][0]["status"] == "diverged"
    reporters = [ListReporter() for _ in cfgs]
    summaries = run_pack(cfgs, reporters)
    assert [s["status"] for s in summaries] == ["succeeded", "diverged", "succeeded"]
    assert summaries[1]["diverged"]["step"] == solo[1][0]["diverged"]["step"]
    for (want, want_points), got_points in zip(solo, reporters):
        assert_same(want_points, got_points)


def test_a_stopper_ends_one_member_and_not_the_others():
    base = preset("landscape_moons", training={"epochs": 3})
    cfgs = variants(base, [{}, {"training.stoppers": [{"name": "target_accuracy",
                                                       "params": {"target": 0.5}}]}])
    solo = solo_runs(cfgs)
    reporters = [ListReporter() for _ in cfgs]
    summaries = run_pack(cfgs, reporters)
    assert summaries[1]["stopped_by"] and summaries[1]["steps"] < summaries[0]["steps"]
    for (want, want_points), got, got_points in zip(solo, summaries, reporters):
        assert got["steps"] == want["steps"] and got["stopped_by"] == want["stopped_by"]
        assert_same(want_points, got_points)


def test_an_unvectorised_pack_runs_its_members_one_after_another():
    base = preset("landscape_moons", training={"epochs": 1, "mode": "blockwise_sequential",
                                               "rounds": 3})
    cfgs = variants(base, [{}, {"model.model_seed": 1}])
    assert "blockwise" in vectorised_reason(cfgs[0])
    solo = solo_runs(cfgs)
    reporters = [ListReporter() for _ in cfgs]
    run_pack(cfgs, reporters)
    for (_, want_points), got_points in zip(solo, reporters):
        assert points(want_points) == points(got_points)


class StopAfter(ListReporter):
    """Asks to stop once `limit` steps have run (a cancel or shutdown arriving mid-run)."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit, self.calls = limit, 0

    def should_stop(self) -> bool:
        self.calls += 1
        return self.calls >= self.limit


def test_a_stopped_pack_resumes_every_member_and_ends_as_the_uninterrupted_pack(tmp_path):
    base = preset("landscape_moons", training={"epochs": 3})
    cfgs = variants(base, [{}, {"model.model_seed": 1, "training.lr": 0.02}])
    uninterrupted = [ListReporter() for _ in cfgs]
    run_pack(cfgs, uninterrupted)
    dirs = [tmp_path / "a", tmp_path / "b"]
    first = [StopAfter(13), StopAfter(13)]
    assert [s["status"] for s in run_pack(cfgs, first, dirs)] == ["cancelled"] * 2
    again = [ListReporter(), ListReporter()]
    for reporter, stopped in zip(again, first):
        reporter.points = list(stopped.points)  # the store keeps what the first attempt wrote
    summaries = run_pack(cfgs, again, dirs, resume_from="auto")
    assert [s["status"] for s in summaries] == ["succeeded"] * 2
    assert [s["resumed_from"] for s in summaries] == [13, 13]
    for want, got in zip(uninterrupted, again):
        assert sorted(got.points) == sorted(want.points)  # each point once, equal values


def test_a_packed_members_checkpoints_hold_its_own_tensors_only(tmp_path):
    """Its parameters and optimizer state are slices of the pack's stacks; torch.save would
    write the whole stacks (all members') into each member's file."""
    from lipcore.training import checkpoints

    base = preset("landscape_moons", training={"epochs": 2})
    cfgs = variants(base, [{"model.model_seed": s} for s in range(4)])
    dirs = [tmp_path / str(i) for i in range(4)]
    run_pack(cfgs, workdirs=dirs)
    files = [p for _, p in checkpoints.listing(dirs[1] / "checkpoints")]
    assert len(files) > 2

    def tensors(tree):
        if torch.is_tensor(tree):
            yield tree
        elif isinstance(tree, (dict, list, tuple)):
            for v in (tree.values() if isinstance(tree, dict) else tree):
                yield from tensors(v)
    for path in files:
        found = list(tensors(checkpoints.load(path)))
        assert found and all(t.untyped_storage().nbytes() == t.nbytes for t in found), path


def test_a_member_whose_batched_forward_fails_steps_alone_and_its_neighbours_stay_batched(
        monkeypatch):
    """A forward that factorises [[w]] (w: the member's first weight entry) raises for the
    whole batch when one member has w ≤ 0, as a batched Cholesky does; only such members may
    take the solo step (where the model is called without it), and every member still logs
    what its solo run logs."""
    import lipcore.training.pack as pack
    import lipcore.training.pack_objective as pack_objective

    base = preset("diagonal_teacher", training={"epochs": 30})
    cfgs = variants(base, [{"model.model_seed": s} for s in range(6)])
    solo = solo_runs(cfgs)
    forward = pack_objective.MemberObjective.forward

    def factorising(self, x, floss, step):
        w = next(iter(self.model.parameters()))[0, 0]
        torch.linalg.cholesky(w.reshape(1, 1))
        return forward(self, x, floss, step)

    solo_steps = []
    solo_step = pack.PackTrainer._solo_step

    def spy(self, i, x, y):
        solo_steps.append(float(next(iter(pack.model_of(self.engines[i]).parameters()))[0, 0]))
        return solo_step(self, i, x, y)

    monkeypatch.setattr(pack_objective.MemberObjective, "forward", factorising)
    monkeypatch.setattr(pack.stacked_rules, "plan", lambda model: None)  # the vmap path: patched
    monkeypatch.setattr(pack.PackTrainer, "_solo_step", spy)
    reporters = [ListReporter() for _ in cfgs]
    summaries = run_pack(cfgs, reporters)
    assert [s["status"] for s in summaries] == ["succeeded"] * len(cfgs)
    assert solo_steps and all(w <= 0 for w in solo_steps)
    assert len(solo_steps) < summaries[0]["steps"] * len(cfgs) // 2
    for (_, want_points), got_points in zip(solo, reporters):
        assert_same(want_points, got_points)


def nan_gradient_below(limit: float):
    """A DeepLinear forward whose value is unchanged but whose gradient is NaN while its first
    weight entry w lies in (0, limit): 0 · where(bad, 0, √a) with a < 0 exactly when bad, so
    the loss stays finite and only the backward meets 0/NaN."""
    from lipcore.models.deep_linear import DeepLinear

    forward = DeepLinear.forward

    def patched(self, x):
        w = self.blocks[0].weight[0, 0]
        bad = (w > 0) & (w < limit)
        a = torch.where(bad, -(1 + w * w), 1 + w * w)
        return forward(self, x) + 0.0 * torch.where(bad, torch.zeros_like(w), torch.sqrt(a))

    return patched


def test_a_member_with_a_nan_gradient_and_a_finite_loss_diverges_alone(monkeypatch):
    """Model seed 2's first weight entry falls from 0.25 through 0.19 after some steps (seeds 0
    and 1 stay outside (0, 0.19)): its gradient turns NaN while its loss stays finite. Its
    solo run's guard zeroes that step and ends it `diverged` at the first bad step; packed,
    the stacked guard must do the same for that member alone, and the neighbours must log
    exactly their solo points."""
    from lipcore.models.deep_linear import DeepLinear

    monkeypatch.setattr(DeepLinear, "forward", nan_gradient_below(0.19))
    base = preset("diagonal_teacher", training={"epochs": 60, "metrics": []})
    cfgs = variants(base, [{"model.model_seed": s} for s in range(3)])
    solo = solo_runs(cfgs)
    assert [s["status"] for s, _ in solo] == ["succeeded", "succeeded", "diverged"]
    want = solo[2][0]["diverged"]
    assert want["quantity"].startswith("gradient of") and 0 < want["step"] < 50
    reporters = [ListReporter() for _ in cfgs]
    summaries = run_pack(cfgs, reporters)
    assert [s["status"] for s in summaries] == ["succeeded", "succeeded", "diverged"]
    got = summaries[2]["diverged"]
    assert (got["step"], got["quantity"]) == (want["step"], want["quantity"])
    assert summaries[2]["steps"] == solo[2][0]["steps"]
    for (_, want_points), got_points in zip(solo, reporters):
        assert_same(want_points, got_points)


def test_a_pack_larger_than_the_memory_budget_trains_in_groups_each_member_as_alone():
    """A fake device reading (`PackSizer` on the CPU, injected free memory and peaks linear in
    the members stepped): 5 members whose budget fits 2 per step train as groups of 2, 2, 1,
    each member still logging its solo points."""
    from lipcore.training import pack as pack_module
    from lipcore.training.pack_memory import PackSizer

    peaks = []

    def fake_peak(step, device, n_steps):
        step()
        k = 2 if peaks and len(peaks) % 2 else 1
        peaks.append(k)
        return 1_000 + 400 * k, "fake"

    base = preset("diagonal_teacher", training={"epochs": 30, "metrics": []})
    cfgs = variants(base, [{"model.model_seed": s} for s in range(5)])
    param_bytes = 8 * (16 * 8 + 16 * 16 + 8 * 16)  # float64 θ of depth 2, width 16, 8 → 8
    member = 400 + 2 * param_bytes  # the step's growth + θ and its gradient (SGD, no momentum)
    sizer = PackSizer(fraction=0.5, free_bytes=lambda device: 2 * (1_000 + 2 * member + 10),
                      peak=fake_peak, devices=("cpu",))
    sizes = []
    trainer = pack_module.PackTrainer.__init__

    def spy(self, engines, flush_many=None):
        sizes.append(len(engines))
        trainer(self, engines, flush_many)

    solo = solo_runs(cfgs)
    reporters = [ListReporter() for _ in cfgs]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pack_module.PackTrainer, "__init__", spy)
        summaries = run_pack(cfgs, reporters, sizer=sizer)
    assert sizer.measured["member_bytes"] == member and sizer.measured["fixed_bytes"] == 1_000
    assert sizes == [2, 2, 1]
    assert [s["status"] for s in summaries] == ["succeeded"] * 5
    for (_, want_points), got_points in zip(solo, reporters):
        assert_same(want_points, got_points)


def test_memory_sizing_is_a_no_op_on_the_cpu():
    from lipcore.training.pack_memory import PackSizer

    def never(*a, **k):
        raise AssertionError("no reading on the CPU")

    base = preset("diagonal_teacher", training={"epochs": 1})
    cfgs = variants(base, [{"model.model_seed": s} for s in range(3)])
    summaries = run_pack(cfgs, sizer=PackSizer(free_bytes=never, peak=never))
    assert [s["status"] for s in summaries] == ["succeeded"] * 3
