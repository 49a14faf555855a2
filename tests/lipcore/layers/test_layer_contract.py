"""What every registered layer owes its users besides the bound: no lazily created state, an
eval cache that never goes stale, a lossless save/load, a gradient for every parameter."""
import io

import pytest
import torch

from lipcore.layers import ACTIVATIONS, CONV_LAYERS, LAYERS
from lipcore.layers.activations import GroupSort, MaxMin

CASES = [("linear", n) for n in LAYERS.names()] + [("conv", n) for n in CONV_LAYERS.names()]


def make(kind, name, seed=0):
    torch.manual_seed(seed)
    if kind == "linear":
        return LAYERS[name](5, 7), torch.randn(4, 5)
    return CONV_LAYERS[name](2, 3, 3), torch.randn(4, 2, 6, 6)


@pytest.mark.parametrize("kind,name", CASES)
def test_no_lazy_parameters_or_buffers(kind, name):
    layer, x = make(kind, name)
    before = [(n, p.shape) for n, p in layer.named_parameters()]
    buffers = [(n, b.shape) for n, b in layer.named_buffers()]
    layer(x)
    layer.eval()
    with torch.no_grad():
        layer(x)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == before
    assert [(n, b.shape) for n, b in layer.named_buffers()] == buffers
    assert not any(isinstance(p, torch.nn.parameter.UninitializedParameter) for p in layer.parameters())


@pytest.mark.parametrize("kind,name", CASES)
def test_eval_cache_invalidated_when_parameters_change(kind, name):
    layer, x = make(kind, name)
    layer.eval()
    with torch.no_grad():
        before = layer(x)
        layer(x)  # served from the cache
    opt = torch.optim.SGD(layer.parameters(), lr=0.3)
    layer.train()
    out = layer(x)
    (out * torch.randn_like(out)).sum().backward()
    opt.step()
    layer.eval()
    with torch.no_grad():
        after = layer(x)
    with torch.enable_grad():
        fresh = layer(x)  # gradients on: recomputed, never cached
    torch.testing.assert_close(after, fresh.detach())
    assert not torch.allclose(after, before)
    with torch.no_grad():  # an in-place edit outside any optimizer
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
        edited = layer(x)
    torch.testing.assert_close(edited, layer(x).detach())
    assert not torch.allclose(edited, after)


def _ldlt(hidden):
    from lipcore.models.ldlt import LDLTLayer

    torch.manual_seed(0)
    return LDLTLayer(5, 7, hidden=hidden), torch.randn(4, 5)


CACHED = {**{f"{k} {n}": (lambda k=k, n=n: make(k, n)) for k, n in CASES if n != "unconstrained"},
          "ldlt hidden": lambda: _ldlt(True), "ldlt last": lambda: _ldlt(False)}


@pytest.mark.parametrize("case", CACHED)
def test_eval_cache_is_used_and_exact(case):
    # inference serves the constrained weight from the cache, bit for bit what recomputing gives
    layer, x = CACHED[case]()
    with torch.no_grad():  # move away from the initialisation
        for p in layer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    layer.eval()
    with torch.no_grad():
        first = layer(x)
        assert layer._cache is not None
        stored = layer._cache[1]
        second = layer(x)
        assert layer._cache[1] is stored  # not recomputed
        layer.invalidate()
        fresh = layer(x)  # recomputed from the parameters
    assert torch.equal(first, second) and torch.equal(second, fresh)
    with torch.enable_grad():  # grad on: never cached (spectral/soc round differently with grad)
        torch.testing.assert_close(layer(x).detach(), fresh)
    layer.train()
    assert layer._cache is None  # train() drops it
    layer.eval()
    with torch.no_grad():
        layer(x)
        assert layer._cache is not None
    layer.eval()  # so does any mode switch
    assert layer._cache is None


@pytest.mark.parametrize("kind,name", CASES)
def test_save_load_round_trip(kind, name):
    layer, x = make(kind, name, seed=0)
    with torch.no_grad():  # move away from the initialisation
        for p in layer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    buf = io.BytesIO()
    torch.save(layer.state_dict(), buf)
    buf.seek(0)
    other, _ = make(kind, name, seed=1)
    other.load_state_dict(torch.load(buf))
    for training in (True, False):
        layer.train(training)
        other.train(training)
        with torch.no_grad():
            torch.testing.assert_close(other(x), layer(x))


@pytest.mark.parametrize("kind,name", CASES)
def test_every_parameter_receives_a_gradient(kind, name):
    layer, x = make(kind, name)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))  # biases off zero, so ReLU gates vary
    out = layer(x)
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{name}.{pname} gets no gradient"


def test_registries_read_like_dicts():
    assert dict(LAYERS.items()) == dict(zip(LAYERS.keys(), LAYERS.values()))
    assert "aol" in LAYERS and "bcop" in CONV_LAYERS and "bcop" not in LAYERS
    assert len(LAYERS) == 10 and len(CONV_LAYERS) == 8


def test_unknown_layer_names_are_clear_errors():
    with pytest.raises(ValueError, match="model.layer.*sandwich"):
        LAYERS.get("nope", key="model.layer")
    with pytest.raises(ValueError, match="bcop"):
        CONV_LAYERS.get("sandwich", key="model.layer")
    with pytest.raises(ValueError, match="in_features"):
        LAYERS["aol"](0, 3)


def test_maxmin_and_groupsort_against_brute_force():
    x = torch.randn(5, 8, 3)
    y = MaxMin()(x)
    a, b = x[:, :4], x[:, 4:]
    torch.testing.assert_close(y, torch.cat([torch.maximum(a, b), torch.minimum(a, b)], 1))
    g = GroupSort(4)(x)
    for i in range(5):
        for t in range(3):
            for grp in range(2):
                vals = sorted(x[i, 4 * grp:4 * grp + 4, t].tolist(), reverse=True)
                assert g[i, 4 * grp:4 * grp + 4, t].tolist() == vals
    odd = torch.randn(2, 5)
    assert MaxMin()(odd)[:, 4].tolist() == odd[:, 4].tolist()
    assert sorted(ACTIVATIONS.names()) == ["gelu", "groupsort", "identity", "maxmin", "relu", "tanh"]


@pytest.mark.parametrize("act", [MaxMin(), GroupSort(3)])
def test_sorting_activations_preserve_gradient_norm(act):
    """MaxMin and GroupSort are permutations piecewise: the Jacobian is orthogonal."""
    x = torch.randn(7, dtype=torch.float64)
    j = torch.autograd.functional.jacobian(lambda v: act(v[None])[0], x)
    torch.testing.assert_close(j @ j.t(), torch.eye(7, dtype=torch.float64))


@pytest.mark.parametrize("kind,name", CASES)
def test_forward_mode_matches_reverse_mode(kind, name):
    """Gradient flossing takes J·Q by forward mode (torch.func.jvp) and backpropagates through
    it; every layer must support that and agree with reverse mode (double backward)."""
    layer, x = make(kind, name)
    layer.double()
    x = x.double()
    v = torch.randn_like(x)
    _, forward = torch.func.jvp(layer, (x,), (v,))
    _, reverse = torch.autograd.functional.jvp(layer, x, v)
    torch.testing.assert_close(forward, reverse)
    forward.square().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
