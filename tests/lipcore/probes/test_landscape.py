"""Interpolation, slices and sharpness against values computed independently."""
import json
import math

import pytest
import torch
from torch import nn

from lipcore.probes import run_probe
from lipcore.probes.params import filter_normalise, get_params, random_direction
from lipcore.probes.sharpness import sharpness
from tests.lipcore.probes.helpers import Quadratic, blobs, context, mlp, train


@pytest.fixture(scope="module")
def trained():
    data = blobs(n=64, seed=1)
    model = mlp([2, 8, 8, 2], seed=0)
    ckpts = train(model, data, steps=80, checkpoint_every=20)
    return model, data, ckpts


def plain_loss(model, state, x, y):
    """The loss with weights loaded the ordinary way (independent of functional_call)."""
    m = mlp([2, 8, 8, 2])
    m.load_state_dict(state)
    with torch.no_grad():
        return float(nn.functional.cross_entropy(m(x), y))


def test_interpolation_endpoints_equal_endpoint_losses(trained):
    model, data, ckpts = trained
    out = run_probe("interpolation", context(model, data, checkpoints=ckpts),
                    alpha_min=0.0, alpha_max=1.0, n_points=5)
    json.dumps(out)
    x, y = data.x_train, data.y_train
    assert out["train_loss"][0] == pytest.approx(plain_loss(model, ckpts[0][1], x, y), rel=1e-10)
    assert out["train_loss"][-1] == pytest.approx(plain_loss(model, ckpts[-1][1], x, y), rel=1e-10)
    assert out["test_loss"][-1] == pytest.approx(
        plain_loss(model, ckpts[-1][1], data.x_test, data.y_test), rel=1e-10)
    assert out["alpha_end"] == pytest.approx(1.0)
    assert 0 <= min(out["train_acc"]) and max(out["train_acc"]) <= 1


def test_interpolation_between_named_checkpoints_and_midpoint(trained):
    model, data, ckpts = trained
    out = run_probe("interpolation", context(model, data, checkpoints=ckpts), start="20",
                    end="40", alpha_min=0.5, alpha_max=0.5, n_points=2)
    mid = {k: 0.5 * (ckpts[1][1][k] + ckpts[2][1][k]) for k in ckpts[1][1]}
    assert out["train_loss"][0] == pytest.approx(
        plain_loss(model, mid, data.x_train, data.y_train), rel=1e-10)


def test_interpolation_without_checkpoints_says_so(trained):
    model, data, _ = trained
    with pytest.raises(ValueError, match="no checkpoint"):
        run_probe("interpolation", context(model, data))
    with pytest.raises(ValueError, match="step '7'"):
        run_probe("interpolation", context(model, data, checkpoints=trained[2]), start="7")


def test_filter_normalisation_matches_row_norms_and_zeroes_biases(trained):
    model, *_ = trained
    theta = get_params(model)
    d = filter_normalise(random_direction(theta, torch.Generator().manual_seed(0)), theta)
    for name, t in d.items():
        if t.dim() == 1:
            assert torch.all(t == 0), name
        else:
            assert torch.allclose(t.norm(dim=1), theta[name].norm(dim=1), rtol=1e-8)


def test_slice_1d_passes_through_the_trained_loss(trained):
    model, data, _ = trained
    out = run_probe("slice_1d", context(model, data), n_points=5, distance=0.5)
    assert out["alpha"][2] == 0.0
    final = plain_loss(model, model.state_dict(), data.x_train, data.y_train)
    assert out["loss"][2] == pytest.approx(final, rel=1e-10)
    assert out["loss"][0] != pytest.approx(final)


def test_slice_2d_axes_are_orthogonal_and_grid_is_shaped(trained):
    model, data, _ = trained
    out = run_probe("slice_2d", context(model, data), n_points=5, distance=0.5)
    json.dumps(out)
    assert abs(out["cosine"]) < 1e-10
    assert len(out["loss"]) == 5 and all(len(r) == 5 for r in out["loss"])
    final = plain_loss(model, model.state_dict(), data.x_train, data.y_train)
    assert out["loss"][2][2] == pytest.approx(final, rel=1e-10)


def test_sharpness_of_isotropic_quadratic_matches_closed_form():
    # L = ½c‖θ‖²; the worst point in the ball ‖z‖ ≤ ε‖θ‖ is z = εθ: rise ½c‖θ‖²((1+ε)² − 1).
    c = 3.0
    theta = torch.randn(10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model = Quadratic(theta)
    loss = lambda out, y: 0.5 * c * (out ** 2).sum()  # noqa: E731
    x = torch.zeros(1, 1, dtype=torch.float64)
    eps = [0.01, 0.1]
    out = sharpness(model, loss, (x, x), eps, n_samples=30, ascent_steps=20)
    sq = float(theta @ theta)
    exact = [0.5 * c * sq * ((1 + e) ** 2 - 1) for e in eps]
    assert out["ascent_max"] == pytest.approx(exact, rel=1e-9)
    for rnd, ex in zip(out["random_max"], exact):
        assert 0 < rnd <= ex + 1e-12  # random draws never beat the worst case
    assert out["keskar_ascent"][1] == pytest.approx(100 * exact[1] / (1 + 0.5 * c * sq))


def test_sharpness_probe_on_mlp(trained):
    model, data, _ = trained
    out = run_probe("sharpness", context(model, data), eps=[0.01, 0.05], n_samples=5,
                    ascent_steps=5)
    json.dumps(out)
    assert all(a >= r for a, r in zip(out["ascent_max"], out["random_mean"]))
    assert out["random_max"][1] > out["random_max"][0] >= 0 or math.isclose(out["random_max"][0], 0)


def test_init_is_rebuilt_from_the_config_when_the_first_checkpoint_is_late():
    from lipcore.config import validate
    from lipcore.data import build_dataset
    from lipcore.models import build_model

    cfg = validate({"data": {"name": "sine", "n_train": 16, "n_test": 8},
                    "model": {"name": "mlp", "width": 4, "depth": 1, "model_seed": 3}})
    data = build_dataset(cfg["data"])
    model = build_model(cfg["model"], data)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    ctx = context(model, data, checkpoints=[(7, model.state_dict())], config=cfg)
    ctx.loss_fn = nn.MSELoss()
    out = run_probe("interpolation", ctx, alpha_min=0.0, alpha_max=1.0, n_points=2)
    assert out["start_step"] == 0 and out["end_step"] == 7
    expected = nn.functional.mse_loss(torch.func.functional_call(model, init, (data.x_train,)),
                                      data.y_train)
    assert out["train_loss"][0] == pytest.approx(float(expected), rel=1e-6)


def test_keskar_box_sharpness_of_a_linear_loss_is_the_corner_value():
    # L(θ) = aᵀθ is maximised over |z_i| ≤ ε(|θ_i|+1) at z = r·sign(a): rise Σ|a_i|·ε(|θ_i|+1).
    g = torch.Generator().manual_seed(1)
    a = torch.randn(8, generator=g, dtype=torch.float64)
    theta = torch.randn(8, generator=g, dtype=torch.float64)
    loss = lambda out, y: out @ a  # noqa: E731
    x = torch.zeros(1, 1, dtype=torch.float64)
    out = sharpness(Quadratic(theta), loss, (x, x), [0.1], n_samples=40, ascent_steps=4,
                    region="keskar_box")
    exact = float((a.abs() * 0.1 * (theta.abs() + 1)).sum())
    assert out["ascent_max"][0] == pytest.approx(exact, rel=1e-12)
    assert 0 < out["random_max"][0] < exact
    with pytest.raises(ValueError, match="sharpness.region"):
        sharpness(Quadratic(theta), loss, (x, x), [0.1], 1, 0, region="ball")
