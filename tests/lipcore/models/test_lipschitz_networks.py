"""Whole Lipschitz networks under adversarial stress: Adam on the parameters maximising the
exact Jacobian's σ_max for a few hundred steps must never push a network past 𝓛 =
`model.lipschitz`, for 𝓛 ∈ {0.5, 1, 3}, in every form (REFERENCES.md: the seed's residual
form reached 1.49, and its constant was inverted)."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from lipcore.models import build_model
from lipcore.models.ldlt import LDLTChain, LDLTLayer
from tests.lipcore.layers.jacobian import singular_values, stress

DATA = SimpleNamespace(in_features=4, out_features=3)
FORMS = ["lipschitz_sequential", "lipschitz_residual", "lipschitz_stacked"]


def network(form, layer, lip, seed=0):
    cfg = {"name": form, "layer": layer, "lipschitz": lip, "width": 6, "depth": 3,
           "interior": 2, "model_seed": seed, "activation": "relu"}
    return build_model(cfg, DATA).double()


@pytest.mark.parametrize("lip", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("form", FORMS)
def test_ldlt_network_bound_holds_under_adversarial_adam(form, lip):
    model = network(form, "ldlt", lip)
    assert model.lipschitz_bound == lip
    seen = stress(model, (4,), steps_random=10, steps_adversarial=200, lr=0.05)
    assert seen <= lip * (1 + 1e-6), f"{form}: ‖J‖ reached {seen / lip:.6f}·𝓛"
    assert seen >= 0.9 * lip, "the stress should push the network close to its bound"
    for training in (True, False):
        model.train(training)
        for _ in range(5):
            s = singular_values(model, torch.randn(4, dtype=torch.float64))
            assert s[0] <= lip * (1 + 1e-6)


@pytest.mark.parametrize("layer", ["aol", "cpl", "sll", "sandwich", "orthogonal", "soc"])
@pytest.mark.parametrize("form", FORMS)
def test_networks_of_lipschitz_layers_hold_their_bound(form, layer):
    model = network(form, layer, 3.0)
    assert model.lipschitz_bound == 3.0
    seen = stress(model, (4,), steps_random=5, steps_adversarial=25, lr=0.05)
    assert seen <= 3.0 * (1 + 1e-6)
    model.eval()
    assert singular_values(model, torch.randn(4, dtype=torch.float64))[0] <= 3.0 * (1 + 1e-6)


def test_the_stress_breaks_a_residual_without_a_certificate():
    """z + g(z) with g 1-Lipschitz (the seed's residual form) is only 2-Lipschitz: the same
    stress finds it past 1, so the tests above have teeth."""
    torch.manual_seed(0)
    inner = LDLTChain([4, 6, 4], 1.0)

    class Naive(nn.Module):
        def forward(self, x):
            return x + inner(x)

    model = Naive()
    model.inner = inner
    model.double()
    assert stress(model, (4,), steps_random=0, steps_adversarial=100, lr=0.05) > 1.2


def reference_ldlt(chain, x, lip):
    """REFERENCES.md's layer-by-layer formula, written independently (dense inverses):
    Ŵ_k = c_k c_{k−1} √α_{k−1} W_k R_k⁻¹ L_{k−1}⁻¹, with 𝓛 (not 𝓛⁻¹) in front of the first map.
    Returns the output and the list of Ŵ_k."""
    weights, z, prev = [], x, None
    for layer in chain.layers:
        w, a = layer.weight.detach(), layer.alpha().detach()
        r = torch.linalg.cholesky(w.t() @ w + a * torch.eye(w.shape[1], dtype=w.dtype)).t()
        w_hat = w @ torch.linalg.inv(r) * (math.sqrt(2) if layer.hidden else 1.0)
        if prev is None:
            w_hat = w_hat * lip
        else:
            pw, pa = prev
            lower = torch.linalg.cholesky(pw @ pw.t() + pa * torch.eye(pw.shape[0], dtype=w.dtype))
            w_hat = w_hat @ torch.linalg.inv(lower) * math.sqrt(2) * pa.sqrt()
        weights.append(w_hat)
        z = z @ w_hat.t() + layer.bias.detach()
        z = torch.relu(z) if layer.hidden else z
        prev = (w, a)
    return z, weights


def test_ldlt_matches_the_reference_formula_and_its_lmi_certificate():
    """Blocks in u-coordinates compute the same function as the paper's layer-by-layer form;
    on those Ŵ_k the network LMI holds: with P₀ = 𝓛²I, P_k = 2α_k(W_kW_kᵀ + α_kI)⁻¹,
    [[P_{k−1}, −Ŵᵀ], [−Ŵ, 2I − P_k]] ⪰ 0 for hidden maps and P_{K−1} − ŴᵀŴ ⪰ 0 for the last."""
    torch.manual_seed(1)
    lip = 0.5
    chain = LDLTChain([3, 5, 4, 2], lip).double()
    with torch.no_grad():
        for layer in chain.layers:
            layer.weight.mul_(3.0).add_(torch.randn_like(layer.weight))
            layer.log_alpha.fill_(float(torch.randn(())))
            layer.bias.normal_()
    x = torch.randn(7, 3, dtype=torch.float64)
    expected, weights = reference_ldlt(chain, x, lip)
    torch.testing.assert_close(chain(x), expected)
    p_prev = lip ** 2 * torch.eye(3, dtype=torch.float64)
    for layer, w_hat in zip(chain.layers, weights):
        w, a = layer.weight.detach(), layer.alpha().detach()
        n = w.shape[0]
        if layer.hidden:
            p = 2 * a * torch.linalg.inv(w @ w.t() + a * torch.eye(n, dtype=torch.float64))
            q = torch.cat([torch.cat([p_prev, -w_hat.t()], 1),
                           torch.cat([-w_hat, 2 * torch.eye(n, dtype=torch.float64) - p], 1)], 0)
            assert torch.linalg.eigvalsh(q).min() >= -1e-10
            p_prev = p
        else:
            assert torch.linalg.eigvalsh(p_prev - w_hat.t() @ w_hat).min() >= -1e-10


def test_each_ldlt_block_is_bounded_alone_and_blocks_can_be_swapped():
    """Every block is 1-Lipschitz by itself (the first: 𝓛), so replacing one block by a
    trained copy — what block-wise engines do — keeps the whole network within 𝓛."""
    import copy

    model = network("lipschitz_sequential", "ldlt", 3.0)
    block = copy.deepcopy(model.blocks[1])
    assert block.lipschitz_bound == 1.0 and model.blocks[0].lipschitz_bound == 3.0
    assert stress(block, (6,), steps_random=5, steps_adversarial=60, lr=0.05) <= 1 + 1e-6
    model.blocks[1] = block
    s = singular_values(model, torch.randn(4, dtype=torch.float64))
    assert s[0] <= 3.0 * (1 + 1e-6)


def test_inverted_constant_would_be_caught():
    """Asking 𝓛 = 0.5 must not allow more than 0.5 (the seed allowed 2.0)."""
    model = network("lipschitz_sequential", "ldlt", 0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5.0)
    s = singular_values(model, torch.randn(4, dtype=torch.float64))
    assert s[0] <= 0.5 * (1 + 1e-6)
    assert not math.isclose(float(s[0]), 0.0)


@pytest.mark.parametrize("layer", ["aol", "bcop", "cayley", "cpl", "lot", "sll", "soc"])
def test_convnet_whole_network_bound(layer):
    """ConvNet XS over each conv layer, on 2×2 images (so the FFT layers also meet images
    smaller than their kernel): σ_max of the whole network's Jacobian ≤ 1 after updates
    (the adversarial stress runs per layer in tests/lipcore/layers; this checks composition)."""
    data = SimpleNamespace(in_features=12, out_features=10, input_shape=(3, 2, 2))
    model = build_model({"name": "convnet", "size": "XS", "layer": layer}, data).double()
    assert model.lipschitz_bound == 1.0
    stress(model, (3, 2, 2), steps_random=2, steps_adversarial=0, lr=0.02)
    for training in (True, False):
        model.train(training)
        assert singular_values(model, torch.randn(3, 2, 2, dtype=torch.float64))[0] <= 1 + 1e-6


def test_ldlt_float32_survives_ill_conditioned_parameters():
    """‖W‖²/α ≈ 1e9 breaks a float32 Cholesky; the factors are computed in float64."""
    torch.manual_seed(0)
    chain = LDLTChain([4, 32, 32, 1], 2.0)
    with torch.no_grad():
        for layer in chain.layers:
            layer.weight.mul_(100.0)
            layer.log_alpha.fill_(-30.0)
    x = torch.randn(8, 4)
    out = chain(x)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in chain.parameters())
    j = torch.autograd.functional.jacobian(lambda v: chain(v[None])[0], x[0])
    assert torch.linalg.matrix_norm(j, ord=2) <= 2.0 * (1 + 1e-5)


def test_ldlt_float32_out_factor_is_the_float64_inverse_rounded():
    """A hidden block applies F = √(2α)·L⁻¹ as a product, so F must be taken in float64 and
    only then rounded: within float32 rounding (2⁻²⁴ of its largest entry) of √(2α)·inv(L) by
    dense float64 inverses, where cond(L) > 1e4 (F inverted in float32 is 10× off)."""
    torch.manual_seed(3)
    layer = LDLTLayer(16, 16, hidden=True)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(16, 16) * torch.logspace(0, 4, 16))
        layer.log_alpha.fill_(math.log(1e-4))
    f = layer.factors()[1].detach()
    w, a = layer.weight.detach().double(), layer.alpha().detach().double()
    lower = torch.linalg.cholesky(w @ w.t() + a * torch.eye(16, dtype=torch.float64))
    assert torch.linalg.cond(lower) > 1e4
    want = (2 * a).sqrt() * torch.linalg.inv(lower)
    assert f.dtype == torch.float32
    assert (f.double() - want).abs().max() <= 2.0 ** -24 * want.abs().max()
