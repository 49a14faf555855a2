"""The fused tangent chain (`lipcore.tangent_chain`) against the per-module rule path
(`lipcore.flossing.rule_tangents`, itself checked against forward mode and a Jacobian oracle in
test_tangent_rules.py): outputs, exponents and parameter gradients in float64."""
import pytest
import torch
from torch import nn

from lipcore import tangent_chain
from lipcore.flossing import forward_and_flossing_loss, rule_tangents
from lipcore.models import build_model

MODELS = {
    "mlp tanh": {"name": "mlp", "activation": "tanh"},
    "mlp relu": {"name": "mlp", "activation": "relu"},
    "aol maxmin": {"name": "lipschitz_sequential", "layer": "aol", "activation": "maxmin"},
    "ldlt (fallback)": {"name": "lipschitz_sequential", "layer": "ldlt"},
}


def model_of(spec: dict) -> nn.Module:
    model = build_model({**spec, "depth": 7, "width": 10, "in_features": 3, "out_features": 1,
                         "model_seed": 0}).double()
    with torch.no_grad():  # away from the initialisation (biases 0, identity-like maps)
        g = torch.Generator().manual_seed(1)
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def results(model, x, n, k, m, tangents):
    out, penalty, lam = forward_and_flossing_loss(model, x, n, k, qr_every=m, tangents=tangents)
    grads = torch.autograd.grad(out.square().mean() + penalty, list(model.parameters()))
    return out, lam, grads


def assert_same(model, x, n, k, m):
    fused, rules = results(model, x, n, k, m, None), results(model, x, n, k, m, rule_tangents)
    torch.testing.assert_close(fused[0], rules[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(fused[1], rules[1], rtol=0, atol=1e-10)
    for a, b in zip(fused[2], rules[2]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("m", [1, 5])
@pytest.mark.parametrize("n", [5, 12])
@pytest.mark.parametrize("name", MODELS)
def test_fused_equals_rules(name, n, m):
    x = torch.randn(12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert_same(model_of(MODELS[name]), x, n, 3, m)


def test_mixed_chain_with_an_unfused_block():
    # a GroupSort block (no fused rule) in the middle splits the chain into two runs
    from lipcore.layers.activations import GroupSort

    model = model_of(MODELS["mlp tanh"])
    model.blocks[3] = nn.Sequential(model.blocks[3][0], GroupSort(2))
    x = torch.randn(9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for m in (1, 2, 5):
        assert_same(model, x, 4, 3, m)


def test_dead_relu_columns():
    # width-4 ReLU net, k = 4: dead units leave tangent columns rank-deficient
    model = build_model({"name": "mlp", "activation": "relu", "depth": 6, "width": 4, "in_features": 4,
                         "out_features": 1, "model_seed": 0}).double()
    with torch.no_grad():
        for block in model.blocks[:-1]:
            block[0].bias.fill_(-0.3)
    x = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert_same(model, x, 16, 4, 1)


def test_the_fused_path_is_taken(monkeypatch):
    calls = []
    run = tangent_chain.run
    monkeypatch.setattr(tangent_chain, "run", lambda plan, h, q: calls.append(len(plan)) or run(plan, h, q))
    model = model_of(MODELS["mlp tanh"])
    x = torch.randn(6, 3, dtype=torch.float64)
    results(model, x, 6, 3, 1, None)
    assert calls == [7 * 3]  # one run: 7 blocks of (Linear, Tanh) and a QR after each
    calls.clear()
    results(model, x, 6, 3, 1, rule_tangents)
    assert calls == []


def test_double_backward_is_refused():
    model = model_of(MODELS["mlp tanh"])
    x = torch.randn(6, 3, dtype=torch.float64)
    _, penalty, _ = forward_and_flossing_loss(model, x, 6, 3)
    params = list(model.blocks[:-1].parameters())
    grads = torch.autograd.grad(penalty, params, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        sum(g.square().sum() for g in grads).backward()


@pytest.mark.parametrize("qr", [True, False])
def test_a_run_is_freed_without_the_cycle_collector(qr):
    # a run's node must not be kept alive by a cycle through its own outputs: such a cycle goes
    # through C++ (tensor ↔ grad_fn), which gc cannot collect, so its saved tensors leaked
    import gc
    import weakref

    block = nn.Sequential(nn.Linear(6, 6), nn.Tanh()).double()
    plan = tangent_chain.leaves(block) + ([tangent_chain.QR] if qr else [])
    h = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    q = torch.linalg.qr(torch.randn(6, 3, dtype=torch.float64))[0].T[:, None].expand(3, 4, 6)
    gc.disable()
    try:
        out = tangent_chain.run(plan, h, q)
        node = weakref.ref(out[0].grad_fn)
        kept = weakref.ref(out[0].grad_fn.saved[1][0])  # the Tanh step's output o
        sum(o.sum() for o in out).backward()
        del out
        assert node() is None and kept() is None
    finally:
        gc.enable()


def test_a_run_skips_autograd_dispatch():
    # the run records nothing, so its ops run below autograd's dispatch keys (cheaper per op);
    # its outputs still carry the run's node
    below = []

    def is_below() -> bool:
        return torch._C._dispatch_tls_is_dispatch_key_excluded(torch._C.DispatchKey.ADInplaceOrView)

    class Double(tangent_chain.FusedRule):
        def forward(self, module, params, p, t):
            below.append(is_below())
            return p * 2, t * 2, ()

        def backward(self, module, params, saved, gp, gt):
            below.append(is_below())
            return gp * 2, gt * 2, ()

    h = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    q = torch.linalg.qr(torch.randn(6, 3, dtype=torch.float64))[0].T[:, None].expand(3, 4, 6)
    out, q_out, log_sum = tangent_chain.run([(Double(), nn.Identity()), tangent_chain.QR], h, q)
    assert not is_below() and out.grad_fn is not None and q_out._base is not None
    out.sum().backward()
    assert below == [True, True]
    torch.testing.assert_close(h.grad, torch.full_like(h, 2.0))
