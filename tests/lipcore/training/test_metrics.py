"""Metrics against closed forms computed independently (numpy) on linear regression."""
import numpy as np
import pytest
import torch
from torch import nn

from lipcore.training.metrics import COMPARATIVE_METRICS, METRICS


@pytest.fixture
def linreg():
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False).double()
    x = torch.randn(20, 3, dtype=torch.float64)
    y = torch.randn(20, 1, dtype=torch.float64)
    return model, x, y, nn.MSELoss()


def test_trace_covariances_match_the_closed_form(linreg):
    model, x, y, loss = linreg
    w = model.weight.detach().numpy().ravel()
    X, Y = x.numpy(), y.numpy().ravel()
    r = X @ w - Y
    g = 2 * r[:, None] * X            # per-example gradients of (w·x − y)²
    H = 2 * X.T @ X / len(X)          # Hessian of the mean loss
    gbar = g.mean(0)
    c = g - gbar
    out = METRICS["trace_covariances"](model, x, y, loss)
    assert out["grad_norm_squared"] == pytest.approx(gbar @ gbar, rel=1e-9)
    assert out["trace_gradient_covariance"] == pytest.approx((c ** 2).sum(1).mean(), rel=1e-9)
    assert out["trace_hessian_covariance"] == pytest.approx(np.trace(H @ (c.T @ c / len(X))), rel=1e-9)


def test_grad_norm_and_weight_norm(linreg):
    model, x, y, loss = linreg
    w = model.weight.detach().numpy().ravel()
    X, Y = x.numpy(), y.numpy().ravel()
    grad = (2 * (X @ w - Y)[:, None] * X).mean(0)
    assert METRICS["grad_norm"](model, x, y, loss)["grad_norm"] == pytest.approx(np.linalg.norm(grad))
    assert METRICS["weight_norm"](model, x, y, loss)["weight_norm"] == pytest.approx(np.linalg.norm(w))


def test_comparative_metrics():
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        a.weight.copy_(torch.tensor([[1.0, 0.0]]))
        a.bias.fill_(0.0)
        b.weight.copy_(torch.tensor([[0.0, 1.0]]))
        b.bias.fill_(0.0)
    assert COMPARATIVE_METRICS["param_distance"](a, b) == pytest.approx(2 ** 0.5)
    assert COMPARATIVE_METRICS["param_cosine_sim"](a, b) == pytest.approx(0.0)
    assert COMPARATIVE_METRICS["param_cosine_sim"](a, a) == pytest.approx(1.0)
