"""Connectivity: planted permutations, self-barrier, the two barrier definitions, bad input."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from lipcore.probes import run_probe
from lipcore.probes.alignment import permute_state, weight_matching
from lipcore.probes.bezier import bezier_point, train_bend
from lipcore.probes.connectivity import barriers, connect
from lipcore.probes.params import get_params
from tests.lipcore.probes.helpers import Quadratic, blobs, context, mlp, train


def test_weight_matching_recovers_a_planted_permutation_in_a_deep_mlp():
    a = mlp([3, 7, 6, 5, 2], seed=0, act=nn.ReLU)
    rng = np.random.default_rng(1)
    planted = [rng.permutation(n) for n in (7, 6, 5)]
    b = mlp([3, 7, 6, 5, 2], seed=0, act=nn.ReLU)
    b.load_state_dict(permute_state(a, a.state_dict(), planted))
    x = torch.randn(10, 3, dtype=torch.float64)
    assert torch.allclose(a(x), b(x))  # a permutation leaves the function unchanged
    assert not torch.equal(a.state_dict()["0.weight"], b.state_dict()["0.weight"])
    perms, sweeps = weight_matching(a, a.state_dict(), b.state_dict())
    aligned = permute_state(a, b.state_dict(), perms)
    for k, v in a.state_dict().items():
        assert torch.equal(aligned[k], v), k
    assert sweeps <= 3
    for p, q in zip(perms, planted):  # the recovered perm inverts the planted one
        assert np.array_equal(q[p], np.arange(len(q)))


@pytest.fixture(scope="module")
def two_runs():
    data = blobs(n=64, seed=3)
    a, b = mlp([2, 8, 8, 2], seed=1), mlp([2, 8, 8, 2], seed=2)
    train(a, data, steps=100)
    train(b, data, steps=100)
    return a, b, data


def test_barrier_of_a_model_with_itself_is_zero(two_runs):
    a, _, data = two_runs
    out = connect(a, a, nn.CrossEntropyLoss(), data.x_train, data.y_train, n_points=7)
    for path in ("linear", "aligned"):
        for kind in ("loss_barrier", "error_barrier"):
            assert out[path][kind] == {"vs_mean": 0.0, "vs_linear": 0.0}, (path, kind)
    assert all(np.array_equal(p, np.arange(len(p))) for p in out["alignment"]["permutations"])


def test_the_two_barrier_definitions_differ_on_a_convex_loss():
    # L(θ) = ½‖θ‖², θ_A = 0, θ_B = e₁: along the line L = ½α², convex, so the barrier against the
    # linear interpolation of the endpoint losses is 0, the one against their mean is ½ − ¼.
    a, b = Quadratic(torch.zeros(3, dtype=torch.float64)), Quadratic(torch.eye(3)[0].double())
    loss = lambda out, y: 0.5 * (out ** 2).sum()  # noqa: E731
    x = torch.zeros(1, 1)
    out = connect(a, b, loss, x, x, n_points=11, align=True)
    assert out["linear"]["loss_barrier"]["vs_linear"] == pytest.approx(0.0, abs=1e-15)
    assert out["linear"]["loss_barrier"]["vs_mean"] == pytest.approx(0.25, abs=1e-15)
    assert "skipped" in out["alignment"] and "aligned" not in out
    assert barriers([0, 0.5, 1], [1.0, 3.0, 2.0]) == {"vs_mean": 1.5, "vs_linear": 1.5}


def test_untrained_bezier_is_the_straight_line_and_training_lowers_it(two_runs):
    a, b, data = two_runs
    pa, pb = get_params(a), get_params(b)
    bend, _ = train_bend(a, nn.CrossEntropyLoss(), pa, pb, data.x_train, data.y_train, 0, 0.01)
    for t in (0.0, 0.3, 1.0):
        point = bezier_point(pa, bend, pb, t)
        for n in pa:
            assert torch.allclose(point[n], pa[n] + t * (pb[n] - pa[n]), atol=1e-14)
    out = run_probe("connectivity", context(a, data, peers=[b]), n_points=11, bezier_steps=150,
                    bezier_lr=0.05, bezier_points=21)
    json.dumps(out)
    bez, line = out["bezier"], out["aligned"]
    assert bez["loss"][0] == pytest.approx(line["loss"][0])
    assert bez["loss"][-1] == pytest.approx(line["loss"][-1])
    assert max(bez["loss"]) < max(line["loss"])
    assert set(out["definitions"]) == {"vs_mean", "vs_linear"}


def test_connectivity_between_different_architectures_is_an_error(two_runs):
    a, _, data = two_runs
    with pytest.raises(ValueError, match="different architectures"):
        run_probe("connectivity", context(a, data, peers=[mlp([2, 9, 8, 2])]))
    with pytest.raises(ValueError, match="different architectures"):
        run_probe("connectivity", context(a, data, peers=[mlp([2, 8, 2])]))
    with pytest.raises(ValueError, match="connectivity.other"):
        run_probe("connectivity", context(a, data))
