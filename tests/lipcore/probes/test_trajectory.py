"""PCA of a planted planar trajectory, and the Lyapunov probe's two sources."""
import json
import math

import pytest
import torch

from lipcore.probes import run_probe
from lipcore.probes.params import flatten, get_params, unflatten
from lipcore.probes.pca import trajectory_pca
from tests.lipcore.probes.helpers import blobs, context, mlp, train


def test_pca_of_a_planar_path_explains_everything_and_keeps_distances():
    g = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(50, 2, generator=g, dtype=torch.float64))
    a = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    b = torch.tensor([0.0, 1.0, -1.0, 0.3, 0.0], dtype=torch.float64)
    final = torch.randn(50, generator=g, dtype=torch.float64)
    vectors = final + a[:, None] * u[:, 0] + b[:, None] * u[:, 1]
    out = trajectory_pca(vectors)
    assert float(out["explained"].sum()) == pytest.approx(1.0, abs=1e-12)
    coords = out["coords"]
    assert torch.allclose(coords.norm(dim=1), torch.sqrt(a ** 2 + b ** 2), atol=1e-10)
    assert torch.allclose(final + coords @ out["components"], vectors, atol=1e-10)


def test_pca_probe_on_checkpoints():
    data = blobs(n=48, seed=5)
    model = mlp([2, 6, 2], seed=0)
    ckpts = train(model, data, steps=60, checkpoint_every=10)
    out = run_probe("pca", context(model, data, checkpoints=ckpts), n_points=5)
    json.dumps(out)
    assert out["steps"] == [0, 10, 20, 30, 40, 50, 60]
    assert out["path"]["x"][-1] == 0.0 and out["path"]["y"][-1] == 0.0  # final at the origin
    assert len(out["grid"]["loss"]) == 5 and len(out["grid"]["loss"][0]) == 5
    assert 0 < sum(out["explained_variance"]) <= 1 + 1e-9
    assert out["path"]["loss"][0] > out["path"]["loss"][-1]
    with pytest.raises(ValueError, match="only 2 checkpoint"):
        run_probe("pca", context(model, data, checkpoints=ckpts[:2]))


def test_lyapunov_reads_logged_metrics():
    metrics = {"lyapunov/1": {"step": [10, 20], "value": [-0.5, -0.4]},
               "lyapunov/0": {"step": [10, 20], "value": [0.1, 0.05]},
               "train_loss": {"step": [10], "value": [1.0]}}
    data = blobs(n=8)
    out = run_probe("lyapunov", context(mlp([2, 3, 2]), data, metrics=metrics))
    assert out == {"step": [10, 20], "exponents": [[0.1, -0.5], [0.05, -0.4]],
                   "source": "metrics"}


def test_lyapunov_computes_at_each_checkpoint_with_the_given_function():
    data = blobs(n=16)
    model = mlp([2, 4, 2])
    ckpts = train(model, data, steps=20, checkpoint_every=10)

    def first_weight_log_norms(m, x, k):  # stand-in for lipcore.flossing.lyapunov_exponents
        return torch.log(torch.linalg.svdvals(m[0].weight))[:k]

    out = run_probe("lyapunov", context(model, data, checkpoints=ckpts,
                                        lyapunov_fn=first_weight_log_norms), k=2)
    assert out["step"] == [0, 10, 20] and out["source"] == "checkpoints"
    w0 = ckpts[0][1]["0.weight"]
    assert out["exponents"][0] == pytest.approx(torch.log(torch.linalg.svdvals(w0))[:2].tolist())
    assert math.isfinite(out["exponents"][-1][0])


def test_lyapunov_defaults_to_lipcore_flossing_on_each_checkpoint():
    # Blocks of c·I (identity activation): every exponent is log c (REFERENCES.md oracle).
    from lipcore.data.base import Dataset
    from lipcore.models.mlp import MLP

    model = MLP(4, 4, width=4, depth=3, activation="identity").double()
    states = []
    for step, c in ((0, 2.0), (5, 0.5)):
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(c * torch.eye(4) if name.endswith("weight") else torch.zeros_like(p))
        states.append((step, {k: v.clone() for k, v in model.state_dict().items()}))
    x = torch.randn(8, 4, dtype=torch.float64)
    data = Dataset(x, torch.zeros(8, 4, dtype=torch.float64), x, x, "regression")
    ctx = context(model, data, checkpoints=states)
    out = run_probe("lyapunov", ctx, k=3, n_examples=8)
    assert out["source"] == "checkpoints" and out["step"] == [0, 5]
    assert out["exponents"][0] == pytest.approx([math.log(2.0)] * 3, abs=1e-10)
    assert out["exponents"][1] == pytest.approx([math.log(0.5)] * 3, abs=1e-10)


def test_pca_trajectory_starts_at_the_rebuilt_init_when_step0_was_not_saved():
    from lipcore.config import validate
    from lipcore.data import build_dataset
    from lipcore.models import build_model

    cfg = validate({"data": {"name": "sine", "n_train": 16, "n_test": 8},
                    "model": {"name": "mlp", "width": 4, "depth": 1, "model_seed": 1}})
    data = build_dataset(cfg["data"])
    model = build_model(cfg["model"], data)
    states = []
    for step in (10, 20):
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1.5)
        states.append((step, {k: v.clone() for k, v in model.state_dict().items()}))
    ctx = context(model, data, checkpoints=states, config=cfg)
    ctx.loss_fn = torch.nn.MSELoss()
    out = run_probe("pca", ctx, n_points=3)
    assert out["steps"] == [0, 10, 20]
    with pytest.raises(ValueError, match="only 1 checkpoint"):
        run_probe("pca", context(model, data, checkpoints=states[:1]))
