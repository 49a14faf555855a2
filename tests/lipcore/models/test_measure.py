"""`lipcore.measure` returns the documented dict; the exact parts checked against counts by hand."""
import pytest
import torch
from torch import nn

from lipcore.measure import PHASES, measure, parameter_count, saved_activation_bytes, time_phases


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
    assert all(p.grad is None for p in model.parameters())  # counting touches no gradient


def test_measure_returns_the_documented_dict():
    model, x = mlp(), torch.randn(32, 10)
    model.eval()
    r = measure(model, x, torch.randint(0, 3, (32,)), nn.CrossEntropyLoss(), n_batches=20, warmup=2)
    assert r["n_batches"] == 20 and r["batch_size"] == 32 and r["device"] == "cpu"
    assert r["params"] == 283
    assert 0 < r["time/batch_s_min"] <= r["time/batch_s"] <= r["time/batch_s_max"]
    assert r["time/batch_s_iqr"] >= 0
    assert 0 < r["time/forward_s"] and 0 < r["time/backward_s"]
    assert r["memory/method"] == "cpu_rss_sampled" and r["memory/peak_bytes"] >= 0
    assert r["memory/saved_activations_bytes"] >= (32 * 10 + 32 * 20) * 4
    assert all(p.grad is None for p in model.parameters())
    assert not model.training  # the caller's mode is restored


def test_measure_refuses_too_few_batches():
    with pytest.raises(ValueError, match="n_batches"):
        measure(mlp(), torch.randn(4, 10), n_batches=5)


def test_time_phases_add_up_and_the_optimizer_steps():
    """Each batch's phases sum to its time; with an optimizer the model moves (SGD, lr 0.1, on
    loss = Σ out of a bias-only layer: each step lowers every bias by exactly 0.1 · 4 rows)."""
    layer = nn.Linear(2, 3)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
    layer.weight.requires_grad_(False)
    opt = torch.optim.SGD([layer.bias], lr=0.1)
    times = time_phases(layer, torch.randn(4, 2), None, lambda out, _: out.sum(), opt,
                        n_batches=5, warmup=1)
    assert set(times) == set(PHASES) and all(len(v) == 5 for v in times.values())
    for f, b, s, total in zip(*(times[p] for p in PHASES)):
        assert f > 0 and b > 0 and s >= 0 and f + b + s == pytest.approx(total, rel=1e-9)
    assert layer.bias.detach().tolist() == pytest.approx([-0.1 * 4 * 6] * 3)
    without = time_phases(layer, torch.randn(4, 2), None, lambda out, _: out.sum(), None,
                          n_batches=2, warmup=0)
    assert layer.bias.detach().tolist() == pytest.approx([-2.4] * 3)  # no optimizer: no update
    assert all(s == pytest.approx(0.0, abs=1e-4) for s in without["step"])


def test_saved_activations_count_a_slice_not_its_whole_tensor():
    """A batch sliced from a 100-row data set: the first Linear saves the 8×10 slice (320
    bytes), not the 100×10 tensor behind it; the oracle is the by-hand count above."""
    model, data = mlp(), torch.randn(100, 10)
    got = saved_activation_bytes(model, data[:8], loss_fn=lambda out, _: out.sum())
    assert got == (80 + 160) * 4
