"""The promise every layer makes: σ_max of its exact Jacobian ≤ `lipschitz_bound`·(1+1e-6), in
float64, in train and eval mode, after optimizer updates (random objectives, then Adam
maximising ‖J‖), square and rectangular. Orthogonal families keep σ_min ≥ 1−1e-3; no layer
is degenerate. Parametrized over the registries, so a new layer is tested by registering it."""
import math

import pytest
import torch

from lipcore.layers import CONV_LAYERS, LAYERS
from tests.lipcore.layers.jacobian import singular_values, stress

LINEAR_SHAPES = [(6, 6), (5, 8), (8, 5)]
CONV_SHAPES = [(3, 3), (2, 3), (3, 2)]
IMAGE = 6


def check(layer, shape, n_in, n_out):
    bound = layer.lipschitz_bound
    x = torch.randn(shape, dtype=torch.float64)
    for training in (True, False):
        layer.train(training)
        s = singular_values(layer, x)
        if math.isfinite(bound):
            assert s[0] <= bound * (1 + 1e-6), f"σ_max {s[0]:.9f} > bound {bound} (train={training})"
        assert s[0] > 0.05, f"degenerate layer: σ_max {s[0]:.3g}"
        if layer.isometry:
            rank = min(n_in, n_out)
            assert s[rank - 1] >= 1 - 1e-3, f"σ_min {s[rank - 1]:.6f} of an orthogonal layer"
    layer.train()


@pytest.mark.parametrize("n_in,n_out", LINEAR_SHAPES)
@pytest.mark.parametrize("name", LAYERS.names())
def test_linear_layer_bound_survives_optimisation(name, n_in, n_out):
    torch.manual_seed(0)
    layer = LAYERS[name](n_in, n_out).double()
    check(layer, (n_in,), n_in, n_out)
    seen = stress(layer, (n_in,))
    check(layer, (n_in,), n_in, n_out)
    if math.isfinite(layer.lipschitz_bound):
        assert seen <= layer.lipschitz_bound * (1 + 1e-6)


@pytest.mark.parametrize("n_in,n_out", CONV_SHAPES)
@pytest.mark.parametrize("name", CONV_LAYERS.names())
def test_conv_layer_bound_survives_optimisation(name, n_in, n_out):
    torch.manual_seed(0)
    layer = CONV_LAYERS[name](n_in, n_out, 3).double()
    shape = (n_in, IMAGE, IMAGE)
    check(layer, shape, n_in * IMAGE ** 2, n_out * IMAGE ** 2)
    seen = stress(layer, shape, steps_random=4, steps_adversarial=6)
    check(layer, shape, n_in * IMAGE ** 2, n_out * IMAGE ** 2)
    if math.isfinite(layer.lipschitz_bound):
        assert seen <= layer.lipschitz_bound * (1 + 1e-6)


def test_the_stress_can_break_a_bound():
    """The adversarial stress is real: it drives an unconstrained layer far past 1."""
    torch.manual_seed(0)
    layer = LAYERS["unconstrained"](6, 6).double()
    assert stress(layer, (6,), steps_random=0, steps_adversarial=30) > 1.5


def test_soc_with_few_terms_still_bounded():
    """REFERENCES.md: SOC's truncated series exceeds 1 unless corrected; ours divides by the
    certified tail, so even 2 terms at the largest radius stay ≤ 1."""
    torch.manual_seed(0)
    layer = LAYERS["soc"](6, 6).double()
    layer.train_terms = 2
    with torch.no_grad():
        layer.weight.mul_(100.0)  # ‖A‖ far above the radius: scaled down to r = 1
    s = singular_values(layer, torch.randn(6, dtype=torch.float64))
    assert s[0] <= 1 + 1e-9
    assert s[0] > 0.5
