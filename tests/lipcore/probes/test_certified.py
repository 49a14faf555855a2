"""Certified robust accuracy (REFERENCES.md worked example) and the empirical Lipschitz constant."""
import math

import pytest
import torch
from torch import nn

from lipcore.probes import run_probe
from lipcore.probes.certified import certified_accuracy, certified_mask, empirical_lipschitz
from tests.lipcore.probes.helpers import blobs, context, mlp

SCORES = torch.tensor([[1, 0], [2, 0], [0, 1], [0, 2], [1.1, 0.9]])
LABELS = torch.zeros(5, dtype=torch.long)


def test_worked_example_from_references():
    assert certified_mask(SCORES, LABELS, 0.0).tolist() == [True, True, False, False, True]
    assert certified_mask(SCORES, LABELS, 1.0).tolist() == [False, True, False, False, False]
    assert certified_accuracy(SCORES, LABELS, [0.0, 1.0]) == pytest.approx([0.6, 0.2])
    # a 2-Lipschitz network needs twice the margin: 2 > √2·0.5·2 = 1.41 still holds, at 0.75 not
    assert certified_mask(SCORES, LABELS, 0.5, lipschitz=2.0).tolist()[1] is True
    assert certified_mask(SCORES, LABELS, 0.75, lipschitz=2.0).tolist()[1] is False


def test_empirical_lipschitz_of_a_linear_map_is_its_spectral_norm():
    lin = nn.Linear(4, 3).double()
    sigma = float(torch.linalg.matrix_norm(lin.weight, ord=2))
    x = torch.randn(64, 4, dtype=torch.float64)
    emp = empirical_lipschitz(lin, x, n_pairs=500)
    assert emp["jacobian"] == pytest.approx(sigma, rel=1e-10)
    assert emp["pairs"] <= sigma * (1 + 1e-10)
    assert emp["pairs"] > 0.3 * sigma


def test_certified_probe_uses_the_model_bound_and_logs_metrics():
    model = mlp([2, 8, 2], seed=0)
    model.lipschitz_bound = 1.0
    out = run_probe("certified", context(model, blobs(n=32)), eps=[0.0, 0.5], n_pairs=100)
    assert out["bound_source"] == "model" and out["lipschitz_bound"] == 1.0
    assert out["certified_acc"][0] >= out["certified_acc"][1]
    assert out["certified_acc"][0] <= out["accuracy"]
    assert set(out["metrics"]) == {"certified_acc/0", "certified_acc/0.5"}
    assert out["empirical_lipschitz"]["pairs"] <= out["empirical_lipschitz"]["jacobian"] * 1.5


def test_certified_probe_without_a_bound_certifies_nothing_above_zero():
    out = run_probe("certified", context(mlp([2, 8, 2]), blobs(n=32)), eps=[0.0, 0.1],
                    n_pairs=10)
    assert out["bound_source"] == "none" and out["lipschitz_bound"] is None
    assert out["certified_acc"][1] == 0.0 and out["certified_acc"][0] > 0
    assert math.isfinite(out["empirical_lipschitz"]["jacobian"])


def test_certified_on_a_regression_run_says_it_needs_class_labels():
    from lipcore.data.base import Dataset

    x = torch.randn(16, 2, dtype=torch.float64)
    data = Dataset(x, x.sum(1, keepdim=True), x, x.sum(1, keepdim=True), "regression", 1)
    ctx = context(mlp([2, 4, 1]), data)
    with pytest.raises(ValueError, match="probes.certified: .*class labels"):
        run_probe("certified", ctx, eps=[0.1])
