"""Checkpoint files on disk: the flat form reads back as the tree that was saved."""
from __future__ import annotations

import pytest
import torch

from lipcore.training import checkpoints


def _payload() -> dict:
    stack = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    shared = torch.tensor([1.5, -2.0], dtype=torch.float64)
    return {"model": {"w": stack[1], "b": torch.zeros(3)},
            "optimizers": [{"state": {0: {"step": torch.tensor(7.0), "exp_avg": stack[:, 2],
                                          "exp_avg_sq": shared}},
                            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]}],
            "sampler": {"perm": torch.randperm(9, generator=torch.Generator().manual_seed(0)),
                        "pos": 3, "epoch": None},
            "running": [(0.25, 1.0, 4)], "again": shared, "flags": torch.tensor([True, False])}


def _same(a, b) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_a_saved_payload_loads_back_equal_with_its_shared_tensors_shared(tmp_path):
    payload = _payload()
    path = checkpoints.save(tmp_path, 12, payload)
    back = checkpoints.load(path)
    assert back["step"] == 12 and "rng" in back
    assert _same({k: back[k] for k in payload}, payload)
    assert back["again"] is back["optimizers"][0]["state"][0]["exp_avg_sq"]
    back["optimizers"][0]["state"][0]["exp_avg"].add_(1)  # its own storage, not a buffer's
    assert torch.equal(back["model"]["w"], payload["model"]["w"])


def test_the_model_is_a_plain_state_dict_and_the_rest_is_flat_on_disk(tmp_path):
    path = checkpoints.save(tmp_path, 3, _payload())
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"step", "model", "flat"}
    assert torch.equal(raw["model"]["w"], torch.arange(6, 12, dtype=torch.float32))
    assert raw["model"]["w"].untyped_storage().nbytes() == 6 * 4  # a slice copied out
    assert sorted(raw["flat"]["buffers"]) == ["cpu/bool", "cpu/float32", "cpu/float64", "cpu/int64", "cpu/uint8"]
    assert raw["flat"]["buffers"]["cpu/float64"].numel() == 2  # the shared tensor once


def test_a_checkpoint_written_before_the_flat_form_still_loads(tmp_path):
    payload = {"step": 5, "model": {"w": torch.ones(2)}, "models": [{"w": torch.ones(2)}],
               "rng": checkpoints.rng_state()}
    torch.save(payload, tmp_path / "step_00000005.pt")
    back = checkpoints.load(tmp_path)
    assert _same(back, payload)
    assert [s for s, _ in checkpoints.snapshots(tmp_path)] == [5]


def test_a_flat_tree_that_names_a_class_is_refused_and_runs_nothing(tmp_path):
    import pickle
    from pathlib import Path

    class Payload:
        def __reduce__(self):  # noqa: ANN204 - what a hostile checkpoint would run on load
            return (Path.write_text, (tmp_path / "owned", "code ran"))

    hostile = {"tree": pickle.dumps({"sampler": Payload()}), "buffers": {}}
    torch.save({"step": 1, "model": {}, "flat": hostile}, tmp_path / "step_00000001.pt")
    with pytest.raises(ValueError, match="not a plain checkpoint"):
        checkpoints.load(tmp_path)
    assert not (tmp_path / "owned").exists()


def test_a_runs_first_model_is_stored_once_and_comes_back_under_both_keys(tmp_path):
    model = {"w": torch.arange(6, dtype=torch.float32), "b": torch.zeros(2)}
    other = {"w": torch.full((6,), 2.0), "b": torch.ones(2)}
    path = checkpoints.save(tmp_path, 4, {"model": model, "models": [model, other]})
    raw = torch.load(path, weights_only=True)
    assert raw["flat"]["buffers"]["cpu/float32"].numel() == 8  # the second model only
    back = checkpoints.load(path)
    assert back["models"][0] is back["model"]
    assert _same(back["models"], [model, other])
