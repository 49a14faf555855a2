"""Block-wise sequential training and the measurement units."""
import pytest
import torch
from torch import nn

from lipcore import run_experiment
from lipcore.reporting import ListReporter
from lipcore.training.blockwise import prox_lambdas
from lipcore.training.measurements import interaction_matrix
from tests.lipcore.training.helpers import config


def digits(**training):
    return config(data={"name": "digits", "n_train": 512, "n_test": 256},
                  model={"depth": 2, "width": 32, "activation": "relu"},
                  training={"mode": "blockwise_sequential", "optimizer": "sgd", "lr": 0.05,
                            "batch_size": 64, "K": 3, "rounds": 30, "eval_every": 10,
                            "prox_lambda": 0.01, "gamma": 1.0, **training})


def test_blockwise_training_lowers_the_loss_on_digits():
    r = ListReporter()
    summary = run_experiment(digits(), r)
    loss = r.series("test_loss")
    assert summary["status"] == "succeeded" and summary["steps"] == 30
    assert loss[-1] < 0.5 * loss[0] and r.series("test_acc")[-1] > 0.6


def test_gamma_zero_changes_nothing():
    r = ListReporter()
    run_experiment(digits(gamma=0.0, metrics=["weight_norm"]), r)
    assert len(set(r.series("weight_norm"))) == 1


def test_huge_prox_lambda_pins_blocks_to_their_anchor():
    small, big = ListReporter(), ListReporter()
    run_experiment(digits(prox_lambda=0.0, metrics=["weight_norm"], rounds=10), small)
    run_experiment(digits(prox_lambda=[1e4, 1e4, 1e4], optimizer="sgd", lr=1e-5,
                          metrics=["weight_norm"], rounds=10), big)
    assert small.series("weight_norm")[-1] != big.series("weight_norm")[-1]
    w = big.series("weight_norm")
    assert abs(w[-1] - w[0]) < 1e-2


def test_prox_lambda_per_block_must_match_the_blocks():
    assert prox_lambdas({"prox_lambda": [1, 2]}, 2) == [1.0, 2.0]
    with pytest.raises(ValueError, match="training.prox_lambda"):
        prox_lambdas({"prox_lambda": [1, 2]}, 3)


def test_hessian_block_interaction_equals_block_frobenius_norms():
    # f(θ) = ½ θᵀAθ over two blocks: H = A, so M_ij = ‖A_ij‖_F (exact probing)
    torch.manual_seed(0)
    a = torch.randn(5, 5, dtype=torch.float64)
    a = a @ a.T

    class Quad(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 1, bias=False), nn.Linear(3, 1, bias=False)])
            self.double()

        def forward(self, x):
            theta = torch.cat([self.blocks[0].weight.reshape(-1), self.blocks[1].weight.reshape(-1)])
            return (0.5 * theta @ a @ theta).expand(len(x))

    model = Quad()
    m = interaction_matrix(model, lambda out, y: out.mean(), torch.zeros(1, 1), None, exact=True)
    expected = [[a[:2, :2].norm(), a[:2, 2:].norm()], [a[2:, :2].norm(), a[2:, 2:].norm()]]
    assert m.numpy() == pytest.approx(torch.tensor(expected).numpy(), rel=1e-6)
    est = interaction_matrix(model, lambda out, y: out.mean(), torch.zeros(1, 1), None, n_probes=400)
    assert est.numpy() == pytest.approx(torch.tensor(expected).numpy(), rel=0.15)


def test_measurements_run_every_n_steps(tmp_path):
    r = ListReporter()
    run_experiment(digits(rounds=4, measurements=["memory", "hessian_block_interaction"],
                          measurement_every=2), r, workdir=tmp_path)
    assert r.steps("memory/params_bytes") == [2, 4]
    params = (64 * 32 + 32) + (32 * 32 + 32) + (32 * 10 + 10)
    assert r.series("memory/params_bytes")[0] == 4 * params
    assert r.series("memory/activation_bytes")[0] > 0
    assert 0 <= r.series("hessian/offdiag_share")[0] <= 1
    assert any(kind == "measurement" for _, _, kind in r.artifacts)
    assert len(list((tmp_path / "measurements").glob("*.json"))) == 2


def test_memory_unit_counts_each_byte_once_by_hand():
    """Linear(3, 5) → ReLU → Linear(5, 2) on a batch of 4, loss out.sum(), SGD with momentum
    after one step. Parameters 3·5+5+5·2+2 = 32 floats; one gradient and one momentum buffer
    each; autograd saves the input x (4×3) and the ReLU output (4×5, which the second Linear
    also saves: the same storage), never the weights (they are parameters): (12 + 20)·4 bytes."""
    from types import SimpleNamespace

    from lipcore.training.measurements import memory
    from lipcore.training.guard import NumericGuard
    from lipcore.training.members import Member

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(4, 3), torch.zeros(4, 2)
    model(x).sum().backward()
    opt.step()
    member = Member(model, {}, lambda out, _: out.sum(), opt, NumericGuard(model, torch.device("cpu"), ""))
    engine = SimpleNamespace(members=[member], control=SimpleNamespace(batch_size=4),
                             data_dev=SimpleNamespace(x_train=torch.cat([x, x]), y_train=torch.cat([y, y])))
    out = memory(engine)
    assert out["memory/params_bytes"] == 32 * 4
    assert out["memory/grads_bytes"] == 32 * 4
    assert out["memory/optimizer_bytes"] == 32 * 4
    assert out["memory/activation_bytes"] == (12 + 20) * 4
    assert out["memory/peak_bytes"] == (3 * 32 + 32) * 4 and out["memory/peak_source"] == 0.0
