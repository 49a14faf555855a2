"""Every registered model builds from dataset sizes, exposes `.blocks` whose composition is
the model, is reproducible from `model_seed`, and trains (every parameter gets a gradient)."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from lipcore.models import MODELS, build_model
from lipcore.models.mlp import PRESETS

FLAT = SimpleNamespace(in_features=5, out_features=3, input_shape=(5,))
IMAGE = SimpleNamespace(in_features=3 * 8 * 8, out_features=4, input_shape=(3, 8, 8))
TOKENS = SimpleNamespace(in_features=6, out_features=7, input_shape=(6,))
SMALL = {"width": 8, "depth": 2, "size": "XS", "interior": 2}


def data_for(name):
    if name in ("convnet", "small_cnn", "resnet"):
        return IMAGE, torch.randn(4, 3, 8, 8)
    if name == "gpt":
        return TOKENS, torch.randint(0, 7, (4, 6))
    return FLAT, torch.randn(4, 5)


@pytest.mark.parametrize("name", MODELS.names())
def test_model_blocks_compose_to_the_model(name):
    data, x = data_for(name)
    model = build_model({"name": name, **SMALL}, data).eval()
    assert isinstance(model.blocks, nn.ModuleList) and len(model.blocks) >= 2
    y = model(x)
    assert y.shape == (4, data.out_features)
    z = x.flatten(1) if name not in ("convnet", "small_cnn", "resnet", "gpt") else x
    for block in model.blocks:
        z = block(z)
    torch.testing.assert_close(z, y)


@pytest.mark.parametrize("name", MODELS.names())
def test_model_seed_reproducible_and_every_parameter_trains(name):
    data, x = data_for(name)
    a = build_model({"name": name, "model_seed": 3, **SMALL}, data)
    b = build_model({"name": name, "model_seed": 3, **SMALL}, data)
    c = build_model({"name": name, "model_seed": 4, **SMALL}, data)
    sa, sc = a.state_dict(), c.state_dict()
    for k, v in b.state_dict().items():
        torch.testing.assert_close(sa[k], v)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())
    a.train()
    out = a(x)
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in a.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{name}.{pname} gets no gradient"


def test_missing_sizes_and_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="model.in_features"):
        build_model({"name": "mlp", "width": 4, "depth": 1})
    with pytest.raises(ValueError, match="model.name.*lipschitz_sequential"):
        build_model({"name": "nope"}, FLAT)
    with pytest.raises(ValueError, match="model.layer.*convolution"):
        build_model({"name": "lipschitz_sequential", "layer": "bcop"}, FLAT)
    with pytest.raises(ValueError, match="model.layer.*aol"):
        build_model({"name": "lipschitz_residual", "layer": "nope"}, FLAT)
    with pytest.raises(ValueError, match="model.lipschitz"):
        build_model({"name": "lipschitz_stacked", "layer": "ldlt", "lipschitz": 0.0}, FLAT)
    with pytest.raises(ValueError, match="model.width"):
        build_model({"name": "lipschitz_sequential", "layer": "aol", "width": 0}, FLAT)
    with pytest.raises(ValueError, match="model.activation"):
        build_model({"name": "lipschitz_sequential", "layer": "aol", "activation": "gelu"}, FLAT)
    with pytest.raises(ValueError, match="model.layer.*bcop"):
        build_model({"name": "convnet", "layer": "spectral"}, IMAGE)
    with pytest.raises(ValueError, match="model.preset.*medium"):
        build_model({"name": "mlp", "preset": "huge"}, FLAT)
    with pytest.raises(ValueError, match="model.size"):
        build_model({"name": "convnet", "size": "XL"}, IMAGE)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_mlp_presets(preset):
    depth, width = PRESETS[preset]
    model = build_model({"name": "mlp", "preset": preset}, FLAT)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == depth + 1
    assert all(lin.out_features == width for lin in linears[:-1])


def test_mlp_init_follows_activation():
    """He: Var = 2/fan_in for relu; Xavier with tanh gain 5/3: Var = gain²·2/(fan_in+fan_out)."""
    data = SimpleNamespace(in_features=400, out_features=3)
    relu = build_model({"name": "mlp", "width": 400, "depth": 1, "activation": "relu"}, data)
    tanh = build_model({"name": "mlp", "width": 400, "depth": 1, "activation": "tanh"}, data)
    assert relu.blocks[0][0].weight.var().item() == pytest.approx(2 / 400, rel=0.05)
    assert tanh.blocks[0][0].weight.var().item() == pytest.approx((5 / 3) ** 2 * 2 / 800, rel=0.05)
    he = build_model({"name": "mlp", "width": 400, "depth": 1, "activation": "tanh", "init": "he"}, data)
    assert he.blocks[0][0].weight.var().item() == pytest.approx(2 / 400, rel=0.05)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 1.5])
def test_deep_linear_init_scale(gamma):
    data = SimpleNamespace(in_features=300, out_features=300)
    model = build_model({"name": "deep_linear", "width": 300, "depth": 2, "gamma": gamma}, data)
    assert len(model.blocks) == 3 and all(b.bias is None for b in model.blocks)
    for block in model.blocks:
        assert block.weight.var().item() == pytest.approx(300 ** -gamma, rel=0.03)
    model.double()
    x = torch.randn(2, 300, dtype=torch.float64)
    torch.testing.assert_close(model(x), x @ model.end_to_end().t())


@pytest.mark.parametrize("size,expected", [("XS", 1.57e6), ("S", 6.28e6)])
def test_convnet_parameter_counts_match_seed_004(size, expected):
    data = SimpleNamespace(in_features=3 * 32 * 32, out_features=10, input_shape=(3, 32, 32))
    model = build_model({"name": "convnet", "size": size, "layer": "aol"}, data)
    n = sum(p.numel() for p in model.parameters())
    assert n == pytest.approx(expected, rel=0.005)
    assert len(model.blocks) == 6 and model.lipschitz_bound == 1.0
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_unconstrained_models_promise_nothing():
    model = build_model({"name": "lipschitz_sequential", "layer": "unconstrained"}, FLAT)
    assert model.lipschitz_bound == math.inf


@pytest.mark.parametrize("size,expected", [("M", 25.1e6), ("L", 100.5e6)])
def test_large_convnet_parameter_counts_on_the_meta_device(size, expected):
    data = SimpleNamespace(in_features=3 * 32 * 32, out_features=10, input_shape=(3, 32, 32))
    with torch.device("meta"):
        model = build_model({"name": "convnet", "size": size, "layer": "unconstrained"}, data)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(expected, rel=0.005)


@pytest.mark.parametrize("name", MODELS.names())
def test_model_save_load_round_trip(name):
    import io

    data, x = data_for(name)
    a = build_model({"name": name, "model_seed": 1, **SMALL}, data)
    with torch.no_grad():
        for p in a.parameters():
            p.add_(0.05 * torch.randn_like(p))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = build_model({"name": name, "model_seed": 2, **SMALL}, data)
    b.load_state_dict(torch.load(buf))
    a.eval()
    b.eval()
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x))


@pytest.mark.parametrize("name", MODELS.names())
def test_no_parameter_appears_on_the_first_forward(name):
    data, x = data_for(name)
    model = build_model({"name": name, **SMALL}, data)
    before = [(n, p.shape) for n, p in model.named_parameters()]
    model(x)
    assert [(n, p.shape) for n, p in model.named_parameters()] == before
