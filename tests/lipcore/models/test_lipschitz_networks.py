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
from lipcore.models.ldlt import LDLTChain
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


def test_ldlt_lmi_certificate_numerically():
    """The proof in lipcore/models/ldlt.py, checked on random parameters: with
    P₀ = 𝓛²I, P_k = 2α_k(W_kW_kᵀ + α_kI)⁻¹, S_k = 2I − P_k, every hidden map's
    [[P_{k−1}, −Ŵᵀ], [−Ŵ, S_k]] ⪰ 0 and the last map has P_{K−1} − ŴᵀŴ ⪰ 0."""
    torch.manual_seed(1)
    lip = 0.5
    chain = LDLTChain([3, 5, 4, 2], lip).double()
    with torch.no_grad():
        for layer in chain.layers:
            layer.weight.mul_(3.0).add_(torch.randn_like(layer.weight))
            layer.log_alpha.fill_(float(torch.randn(())))
    p_prev = lip ** 2 * torch.eye(3, dtype=torch.float64)
    for layer in chain.layers:
        w_hat = layer.effective_weight().detach()
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


def test_inverted_constant_would_be_caught():
    """Asking 𝓛 = 0.5 must not allow more than 0.5 (the seed allowed 2.0)."""
    model = network("lipschitz_sequential", "ldlt", 0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5.0)
    s = singular_values(model, torch.randn(4, dtype=torch.float64))
    assert s[0] <= 0.5 * (1 + 1e-6)
    assert not math.isclose(float(s[0]), 0.0)
