"""Hessian probes against exact oracles: a quadratic with a planted spectrum, a dense MLP Hessian."""
import json

import pytest
import torch
from torch import nn

from lipcore.probes import run_probe
from lipcore.probes.hessian import spectral_density, top_eigenvalues, trace, trace_estimate
from lipcore.probes.params import flatten, get_params, loss_at, unflatten
from tests.lipcore.probes.helpers import (Quadratic, QuadraticLoss, blobs, context,
                                          matrix_with_spectrum, mlp, train)

SPECTRUM = [6.0, -4.0, 2.0, 1.0, 0.5, -0.1]


def quadratic_problem():
    a = matrix_with_spectrum(SPECTRUM)
    model = Quadratic(torch.randn(len(SPECTRUM), dtype=torch.float64))
    x = torch.zeros(1, 1, dtype=torch.float64)
    return model, QuadraticLoss(a), (x, x)


def test_top_eigenvalues_of_quadratic_match_planted_spectrum_including_negative():
    model, loss, data = quadratic_problem()
    values = top_eigenvalues(model, loss, data, k=3, max_iter=2000, tol=1e-12)
    assert values == pytest.approx([6.0, -4.0, 2.0], rel=1e-6)


def test_hutchinson_trace_of_quadratic_is_unbiased():
    model, loss, data = quadratic_problem()
    mean, se, samples = trace_estimate(model, loss, data, n_samples=400, seed=1)
    assert abs(mean - sum(SPECTRUM)) < 5 * se
    assert len(samples) == 400


def test_slq_with_full_lanczos_recovers_the_spectrum():
    model, loss, data = quadratic_problem()
    out = spectral_density(model, loss, data, n_vectors=2, steps=len(SPECTRUM))
    for nodes, weights in zip(out["nodes"], out["weights"]):
        assert sorted(nodes) == pytest.approx(sorted(SPECTRUM), abs=1e-8)
        assert sum(weights) == pytest.approx(1.0, abs=1e-10)
    grid, dens = torch.tensor(out["grid"]), torch.tensor(out["density"])
    assert float(torch.trapezoid(dens, grid)) == pytest.approx(1.0, abs=1e-2)


def dense_hessian(model, loss_fn, x, y):
    params = get_params(model)
    flat = flatten(params)
    return torch.autograd.functional.hessian(
        lambda f: loss_at(model, unflatten(f, params), loss_fn, [(x, y)]), flat)


@pytest.fixture(scope="module")
def tiny_mlp():
    data = blobs(n=48, classes=3, seed=2)
    model = mlp([2, 6, 5, 3], seed=3)
    train(model, data, steps=60)
    return model, data


def test_top_eigenvalues_match_dense_hessian_of_tiny_mlp(tiny_mlp):
    model, data = tiny_mlp
    loss = nn.CrossEntropyLoss()
    h = dense_hessian(model, loss, data.x_train, data.y_train)
    exact = torch.linalg.eigvalsh(h)
    by_mag = exact[exact.abs().argsort(descending=True)]
    assert abs(by_mag[2]) - abs(by_mag[3]) > 1e-3 * abs(by_mag[0])  # well separated: meaningful
    values = top_eigenvalues(model, loss, (data.x_train, data.y_train), k=3, max_iter=3000,
                             tol=1e-12)
    assert values == pytest.approx(by_mag[:3].tolist(), rel=1e-5)


def test_hutchinson_trace_within_5_sigma_of_dense_trace(tiny_mlp):
    model, data = tiny_mlp
    loss = nn.CrossEntropyLoss()
    exact = float(torch.trace(dense_hessian(model, loss, data.x_train, data.y_train)))
    mean, se, _ = trace_estimate(model, loss, (data.x_train, data.y_train), 200, seed=4)
    assert se > 0 and abs(mean - exact) < 5 * se
    assert trace(model, loss, (data.x_train, data.y_train), 200, seed=4) == mean


def test_batches_give_the_same_hvp_as_one_batch(tiny_mlp):
    model, data = tiny_mlp
    loss = nn.CrossEntropyLoss()
    x, y = data.x_train, data.y_train
    one = top_eigenvalues(model, loss, (x, y), k=1, tol=1e-12, max_iter=2000)
    split = top_eigenvalues(model, loss, [(x[:16], y[:16]), (x[16:], y[16:])], k=1, tol=1e-12,
                            max_iter=2000)
    assert split == pytest.approx(one, rel=1e-8)


def test_hessian_probe_returns_json_with_documented_keys(tiny_mlp):
    model, data = tiny_mlp
    out = run_probe("hessian", context(model, data), k=2, trace_samples=5, density_vectors=1,
                    lanczos_steps=10)
    json.dumps(out)
    assert len(out["eigenvalues"]) == 2 and out["n_params"] == 6 * 3 + 5 * 7 + 3 * 6
    assert set(out["density"]) >= {"grid", "density", "nodes", "weights"}
    assert out["metrics"]["hessian/top_eigenvalue"] == out["eigenvalues"][0]
    assert out["converged"] and 2 <= out["products"] < out["n_params"]
    assert len(out["residuals"]) == 2
    assert all(r <= 1e-5 * abs(v) for r, v in zip(out["residuals"], out["eigenvalues"]))


def test_hvp_of_a_least_squares_linear_model_is_the_analytic_hessian_even_built_under_no_grad():
    """Oracle: L = mean (Xθ − y)² has H = 2XᵀX/N; a loss linear in θ has H = 0."""
    from lipcore.probes.hessian import make_hvp

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, generator=g, dtype=torch.float64), torch.randn(8, 1, generator=g, dtype=torch.float64)
    model = torch.nn.Linear(3, 1, bias=False).double()
    h = 2 * x.T @ x / 8
    with torch.no_grad():
        hvp, dim = make_hvp(model, torch.nn.MSELoss(), (x, y))
    assert dim == 3
    for i in range(3):
        assert torch.allclose(hvp(torch.eye(3, dtype=torch.float64)[i]), h[i], rtol=1e-12, atol=1e-12)
    hvp, _ = make_hvp(model, lambda out, target: out.sum(), (x, y))
    assert torch.equal(hvp(torch.ones(3, dtype=torch.float64)), torch.zeros(3, dtype=torch.float64))
