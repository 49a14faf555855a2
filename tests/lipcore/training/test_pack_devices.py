"""Packed training creates every tensor on the pack's device.

On a GPU a tensor made without `device=` lands on the CPU, and the next op that meets a CUDA
tensor (an `index_select` by member rows, a per-member flossing weight, a clip limit) fails: the
first CUDA run of a pack failed exactly so, after passing every CPU test. This machine has no
GPU, so the test watches the cause instead of the crash: every tensor factory called from the
packed-training modules while a pack trains (with flossing, clipping and a metric evaluated for
the stacked members) must name its device; factories that copy an existing tensor's device
(`zeros_like`, `new_*`) are not factories here.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

from lipcore.pack_run import run_pack
from lipcore.reporting import ListReporter
from tests.lipcore.training.test_pack import preset, variants

FACTORIES = {torch.tensor, torch.as_tensor, torch.arange, torch.zeros, torch.ones, torch.full,
             torch.empty, torch.randperm, torch.linspace, torch.eye, torch.rand, torch.randn}
PACKED = {"pack.py", "pack_objective.py", "stacked_optim.py", "stacked_guard.py", "pack_metrics.py",
          "pack_memory.py", "pack_run.py", "stacked_rules.py", "stacked_jets.py", "pack_metrics_native.py"}
LIPCORE = Path(__file__).resolve().parents[3] / "lipcore"


class FactoryWatch(TorchFunctionMode):
    """Records (file:line, factory) of each factory called from a packed-training module
    without a `device` argument."""

    def __init__(self) -> None:
        super().__init__()
        self.undeviced: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        if func in FACTORIES and kwargs.get("device") is None:
            caller = sys._getframe(1)
            while caller is not None and "torch" in Path(caller.f_code.co_filename).parts:
                caller = caller.f_back
            path = Path(caller.f_code.co_filename) if caller else None
            if path is not None and path.name in PACKED and LIPCORE in path.parents:
                self.undeviced.add(f"{path.name}:{caller.f_lineno} {func.__name__}")
        return func(*args, **kwargs)


def test_every_tensor_a_pack_makes_names_its_device():
    base = preset("sine_flossing", model={"depth": 3, "width": 8},
                  training={"epochs": 1, "grad_clip": 1.0},
                  flossing={"pre_epochs": 0, "num_exponents": 2})
    base["data"]["n_train"] = 64
    cfgs = variants(base, [{}, {"model.model_seed": 1, "flossing.weight": 0.3}])
    with FactoryWatch() as watch:
        summaries = run_pack(cfgs, [ListReporter() for _ in cfgs])
    assert [s["status"] for s in summaries] == ["succeeded"] * 2
    assert not watch.undeviced, sorted(watch.undeviced)


def test_the_native_stacked_path_names_its_device_too():
    """The deep linear preset with its metrics: the stacked rules, jets and native metrics."""
    cfgs = variants(preset("diagonal_teacher", training={"epochs": 30}),
                    [{"model.model_seed": s} for s in range(3)])
    with FactoryWatch() as watch:
        summaries = run_pack(cfgs, [ListReporter() for _ in cfgs])
    assert [s["status"] for s in summaries] == ["succeeded"] * 3
    assert not watch.undeviced, sorted(watch.undeviced)


def test_the_bisection_for_a_failing_member_names_its_device_too(monkeypatch):
    """The member rows that bisection selects (a batched forward that raises for one member)."""
    import lipcore.training.pack_objective as pack_objective

    cfgs = variants(preset("diagonal_teacher", training={"epochs": 5}),
                    [{"model.model_seed": s} for s in range(4)])
    forward = pack_objective.MemberObjective.forward

    def factorising(self, x, floss, step):  # noqa: ANN001
        torch.linalg.cholesky(next(iter(self.model.parameters()))[0, 0].reshape(1, 1))
        return forward(self, x, floss, step)

    monkeypatch.setattr(pack_objective.MemberObjective, "forward", factorising)
    with FactoryWatch() as watch:
        summaries = run_pack(cfgs, [ListReporter() for _ in cfgs])
    assert [s["status"] for s in summaries] == ["succeeded"] * 4
    assert not watch.undeviced, sorted(watch.undeviced)


def test_the_watch_sees_a_tensor_made_without_a_device():
    """The oracle itself: a host-placed factory in a packed module is reported."""
    from lipcore.training import stacked_optim

    with FactoryWatch() as watch:
        exec(compile("import torch\ntorch.tensor([0, 1])\n", stacked_optim.__file__, "exec"), {})
    assert watch.undeviced == {"stacked_optim.py:2 tensor"}
