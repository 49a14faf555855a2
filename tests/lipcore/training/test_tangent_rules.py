"""The explicit tangent rules of `lipcore.tangents` against two independent references:
forward-mode autograd (the fallback they replace) module by module, and the Lyapunov exponents
of whole models against a brute-force oracle (per-example Jacobians by
`torch.autograd.functional.jacobian`, multiplied and QR-factorised block by block), in float64."""
import pytest
import torch
from torch import nn

from lipcore.flossing import dual_tangents, func_jvp_tangents, lyapunov_exponents
from lipcore.layers import ACTIVATIONS, LAYERS
from lipcore.models import build_model
from lipcore.tangents import find_rule, propagate

WIDTH = 10
MODELS = {
    "mlp tanh": {"name": "mlp", "activation": "tanh"},
    "mlp relu": {"name": "mlp", "activation": "relu"},
    "sequential aol maxmin": {"name": "lipschitz_sequential", "layer": "aol", "activation": "maxmin"},
    "sequential orthogonal groupsort": {"name": "lipschitz_sequential", "layer": "orthogonal",
                                        "activation": "groupsort"},
    "sequential ldlt": {"name": "lipschitz_sequential", "layer": "ldlt"},
    "residual soc": {"name": "lipschitz_residual", "layer": "soc", "activation": "maxmin"},
    "residual ldlt": {"name": "lipschitz_residual", "layer": "ldlt"},
    "stacked ldlt": {"name": "lipschitz_stacked", "layer": "ldlt", "interior": 2},
}


def model_of(spec: dict) -> nn.Module:
    cfg = {**spec, "depth": 4, "width": WIDTH, "in_features": WIDTH, "out_features": WIDTH,
           "model_seed": 0}
    model = build_model(cfg).double()
    with torch.no_grad():  # away from the initialisation (biases 0, identity-like maps)
        g = torch.Generator().manual_seed(1)
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def refuse(module, h, q):
    raise AssertionError(f"no tangent rule for {type(module).__name__}")


def oracle(model: nn.Module, x: torch.Tensor, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example: Q ← qr(J_t Q) with J_t the block's full Jacobian; Σ log|R_ii| / T with
    each |R_ii| floored at eps·max(max_j |R_jj|, 1) (a dead direction: `lipcore.qr`'s rule).
    Returns ((B, k) per-example exponents, (B,) smallest unfloored log|R_ii| along the chain)."""
    eps = torch.finfo(x.dtype).eps
    smallest = []
    q0, _ = torch.linalg.qr(torch.randn(x.shape[1], k, generator=torch.Generator().manual_seed(seed),
                                        dtype=x.dtype))
    per_example = []
    for xi in x:
        q, total, h, low = q0, torch.zeros(k, dtype=x.dtype), xi[None], float("inf")
        for block in model.blocks:
            jac = torch.autograd.functional.jacobian(block, h)[0, :, 0, :]  # (M, N)
            q, r = torch.linalg.qr(jac @ q)
            diag = torch.diagonal(r).abs()
            low = min(low, float(diag.min().log()))
            total = total + torch.log(torch.clamp(diag, min=eps * max(float(diag.max()), 1.0)))
            h = block(h)
        per_example.append(total / len(model.blocks))
        smallest.append(low)
    return torch.stack(per_example), torch.tensor(smallest)


def full_rank_inputs(model: nn.Module, k: int, seed: int, n: int = 5) -> torch.Tensor:
    """n inputs along whose chain the k tangents never lose rank (smallest log|R_ii| > −15).

    Where they do (dead ReLU units), the dead direction's Q column is fixed by round-off, so
    two correct computations may continue with different columns; comparing them there would
    test round-off, not the products."""
    pool = torch.randn(60, WIDTH, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    _, smallest = oracle(model, pool, k, seed)
    keep = pool[smallest > -15][:n]
    assert len(keep) == n
    return keep


def oracle_exponents(model: nn.Module, x: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    return oracle(model, x, k, seed)[0].mean(0).sort(descending=True).values


@pytest.mark.parametrize("label", MODELS)
def test_exponents_equal_the_brute_force_jacobian_oracle(label):
    model = model_of(MODELS[label])
    x = full_rank_inputs(model, 3, seed=3)
    lam = lyapunov_exponents(model, x, 3, torch.Generator().manual_seed(3))
    expected = oracle_exponents(model, x, 3, seed=3)
    torch.testing.assert_close(lam.detach(), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("label", MODELS)
def test_every_block_of_these_models_has_a_rule(label):
    # the fast path is really taken: a fallback that refuses is never called
    model = model_of(MODELS[label])
    x = torch.randn(4, WIDTH, dtype=torch.float64)
    lyapunov_exponents(model, x, 3, tangents=lambda b, h, q: propagate(b, h, q, refuse))


@pytest.mark.parametrize("label", MODELS)
def test_exponents_and_gradients_equal_forward_mode(label):
    # Away from rank deficiency: there a dead direction's Q column is fixed by round-off, so
    # the two paths may pick different ones (both valid) and their gradients differ.
    model = model_of(MODELS[label])
    x = full_rank_inputs(model, 3, seed=5)
    results = []
    for tangents in (None, dual_tangents):
        kw = {} if tangents is None else {"tangents": tangents}
        lam = lyapunov_exponents(model, x, 3, torch.Generator().manual_seed(5), **kw)
        grads = torch.autograd.grad((lam ** 2).mean(), list(model.parameters()), allow_unused=True)
        results.append((lam.detach(), grads))
    (lam_rules, g_rules), (lam_dual, g_dual) = results
    torch.testing.assert_close(lam_rules, lam_dual, rtol=0, atol=1e-12)
    for a, b in zip(g_rules, g_dual):
        if a is None or b is None:
            assert a is None and b is None or torch.count_nonzero(a if b is None else b) == 0
        else:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


ACTIVATION_CASES = ["tanh", "relu", "identity", "maxmin", "groupsort"]


@pytest.mark.parametrize("name", ACTIVATION_CASES)
def test_activation_rules_equal_forward_mode_including_ties(name):
    h = torch.randn(5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    h[:, 4] = h[:, 0]  # maxmin ties (pairs i, i + 4) and groupsort ties
    h[:, 1] = 0.0  # relu's kink
    q = torch.randn(3, 5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    module = ACTIVATIONS[name]()
    assert find_rule(module) is not None
    out, jq = propagate(module, h, q, refuse)
    ref_out, ref_jq = func_jvp_tangents(module, h, q)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    torch.testing.assert_close(jq, ref_jq, rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", [n for n in LAYERS.names()])
def test_layer_rules_or_their_fallback_equal_forward_mode(name):
    torch.manual_seed(0)
    layer = LAYERS[name](5, 7).double()
    h = torch.randn(4, 5, dtype=torch.float64)
    q = torch.randn(3, 4, 5, dtype=torch.float64)
    out, jq = propagate(layer, h, q, dual_tangents)  # families without a rule use the fallback
    ref_out, ref_jq = dual_tangents(layer, h, q)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-13)
    torch.testing.assert_close(jq, ref_jq, rtol=0, atol=1e-13)


def test_a_wrong_rule_is_caught():
    # the comparison above has teeth: a rule that forgets the activation's derivative differs
    h = torch.randn(5, 8, dtype=torch.float64)
    q = torch.randn(3, 5, 8, dtype=torch.float64)
    _, ref_jq = dual_tangents(nn.Tanh(), h, q)
    assert not torch.allclose(q, ref_jq, atol=1e-3)


@pytest.mark.parametrize("label", MODELS)
@pytest.mark.parametrize("tangents", ["rules", "jvp"])
def test_one_pass_forward_and_loss_equal_the_two_calls(label, tangents):
    # the training forward doubles as the tangents' primal: same output, penalty and gradients
    from lipcore.flossing import flossing_loss, forward_and_flossing_loss, jvp_block_tangents

    kw = {} if tangents == "rules" else {"tangents": jvp_block_tangents}
    model = model_of(MODELS[label])
    assert model.chain_forward
    x = full_rank_inputs(model, 3, seed=9, n=9)  # gradients compared away from rank deficiency
    params = list(model.parameters())
    out, penalty, lam = forward_and_flossing_loss(model, x, 4, 3, torch.Generator().manual_seed(9), **kw)
    grads = torch.autograd.grad(out.square().sum() + penalty, params, allow_unused=True)
    ref_out = model(x)
    ref_penalty, ref_lam = flossing_loss(model, x[:4], 3, torch.Generator().manual_seed(9), **kw)
    ref_grads = torch.autograd.grad(ref_out.square().sum() + ref_penalty, params, allow_unused=True)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(lam, ref_lam, rtol=0, atol=1e-12)
    for a, b in zip(grads, ref_grads):
        if a is not None and b is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_a_model_without_chain_forward_takes_the_two_calls():
    from lipcore.flossing import forward_and_flossing_loss

    class Doubled(nn.Module):  # forward is not its blocks in order: must not be fused
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])

        def forward(self, x):
            return 2 * self.blocks[1](self.blocks[0](x))

    model = Doubled()
    x = torch.randn(5, 4)
    out, _, _ = forward_and_flossing_loss(model, x, 3, 2)
    torch.testing.assert_close(out, model(x))
