"""`lipcore.measure` returns the documented dict; the exact parts checked against counts by hand."""
import pytest
import torch
from torch import nn

from lipcore.measure import measure, parameter_count, saved_activation_bytes


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))


def test_parameter_count_by_hand():
    model = mlp()
    model[2].bias.requires_grad_(False)
    assert parameter_count(model) == {"params": 10 * 20 + 20 + 20 * 3 + 3,
                                      "params_trainable": 10 * 20 + 20 + 20 * 3}


def test_saved_activations_by_hand():
    """Linear saves its input (8×10), ReLU its output (8×20, also the 2nd Linear's input):
    (80 + 160)·4 bytes; the loss adds what it saves of the (8×3) output."""
    model, x = mlp(), torch.randn(8, 10)
    got = saved_activation_bytes(model, x, loss_fn=lambda out, _: out.sum())
    assert got == (80 + 160) * 4


def test_measure_returns_the_documented_dict():
    model, x = mlp(), torch.randn(32, 10)
    model.eval()
    r = measure(model, x, torch.randint(0, 3, (32,)), nn.CrossEntropyLoss(), n_batches=20, warmup=2)
    assert r["n_batches"] == 20 and r["batch_size"] == 32 and r["device"] == "cpu"
    assert r["params"] == 283
    assert 0 < r["time/batch_s_min"] <= r["time/batch_s"] <= r["time/batch_s_max"]
    assert r["time/batch_s_iqr"] >= 0
    assert r["memory/method"] == "cpu_rss_sampled" and r["memory/peak_bytes"] >= 0
    assert r["memory/saved_activations_bytes"] >= (32 * 10 + 32 * 20) * 4
    assert all(p.grad is None for p in model.parameters())
    assert not model.training  # the caller's mode is restored


def test_measure_refuses_too_few_batches():
    with pytest.raises(ValueError, match="n_batches"):
        measure(mlp(), torch.randn(4, 10), n_batches=5)
