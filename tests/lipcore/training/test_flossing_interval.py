"""The re-orthonormalisation interval (`flossing.qr_every`): fewer QRs, the same exponents.

The oracle is the textbook QR method on brute-force per-example Jacobians (a QR after every
block, float64), independent of the tangent rules and of the interval's bookkeeping.
"""
import math

import pytest
import torch
from torch import nn

from lipcore import run_experiment
from lipcore.flossing import flossing_loss, forward_and_flossing_loss, lyapunov_exponents
from lipcore.models import build_model
from lipcore.reporting import ListReporter
from tests.lipcore.training.helpers import Chain, config


def brute_force_exponents(chain: nn.Module, x: torch.Tensor, k: int, seed: int) -> list[float]:
    """Mean over examples of Σ_t log|R_ii| / T, one QR per block of J_t (autograd Jacobians)."""
    q0, _ = torch.linalg.qr(torch.randn(x.shape[1], k, generator=torch.Generator().manual_seed(seed),
                                        dtype=x.dtype))
    per_example = []
    for xi in x:
        q, total, h = q0, torch.zeros(k, dtype=x.dtype), xi
        for block in chain.blocks:
            q, r = torch.linalg.qr(torch.autograd.functional.jacobian(block, h) @ q)
            total += torch.log(torch.diagonal(r).abs())
            h = block(h)
        per_example.append(total / len(chain.blocks))
    return torch.stack(per_example).mean(0).sort(descending=True).values.tolist()


@pytest.mark.parametrize("qr_every", [1, 2, 3, 7, 50])
def test_any_interval_gives_the_per_block_exponents(qr_every):
    # 7 tanh blocks: intervals that divide it, that do not (a last partial group), and one
    # longer than the chain (a single QR at its end)
    torch.manual_seed(0)
    chain = Chain([torch.randn(6, 6, dtype=torch.float64) for _ in range(7)], act=nn.Tanh())
    x = torch.randn(4, 6, dtype=torch.float64)
    lam = lyapunov_exponents(chain, x, 3, torch.Generator().manual_seed(2), qr_every=qr_every)
    assert lam.detach().tolist() == pytest.approx(brute_force_exponents(chain, x, 3, 2), rel=1e-10, abs=1e-12)


def test_scaled_identities_give_log_c_for_every_interval():
    for m in (1, 4, 8):
        lam = lyapunov_exponents(Chain([1.7 * torch.eye(6)] * 8), torch.randn(5, 6), 4, qr_every=m)
        assert lam.detach() == pytest.approx([math.log(1.7)] * 4, abs=1e-5)


def test_interval_keeps_the_gradient_and_the_training_forward():
    # depth 12 tanh MLP in float64: penalty, its gradient and the one-pass output agree
    model = build_model({"name": "mlp", "activation": "tanh", "depth": 12, "width": 16,
                         "in_features": 1, "out_features": 1, "model_seed": 3}).double()
    x = torch.linspace(-3, 3, 20, dtype=torch.float64)[:, None]

    def run(m):
        model.zero_grad()
        out, penalty, lam = forward_and_flossing_loss(model, x, 8, 4, torch.Generator().manual_seed(0),
                                                      qr_every=m)
        (penalty + out.sum()).backward()
        return out.detach(), lam.detach(), [p.grad.clone() for p in model.parameters()]

    out1, lam1, grads1 = run(1)
    out5, lam5, grads5 = run(5)
    assert torch.equal(out1, out5)
    assert torch.allclose(lam5, lam1, rtol=1e-9, atol=1e-12)
    for g1, g5 in zip(grads1, grads5):
        assert torch.allclose(g5, g1, rtol=1e-7, atol=1e-12)
    # the standalone penalty takes the same interval
    assert flossing_loss(model, x[:8], 4, torch.Generator().manual_seed(0), qr_every=5)[1].detach() \
        == pytest.approx(lam1.tolist(), rel=1e-9)


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="qr_every"):
        lyapunov_exponents(Chain([torch.eye(4)] * 3), torch.randn(2, 4), 2, qr_every=0)


def test_loop_takes_the_interval_from_the_config(monkeypatch):
    # depth 6 MLP: 5 blocks keep ≥ k features → 5 QRs a flossing step (8 rows) at m = 1, 2 at
    # m = 3; the `lyapunov` metric at evaluations (32 test rows) stays a per-block measurement.
    # The losses agree to rounding either way.
    import lipcore.flossing as flossing
    from lipcore import tangent_chain

    calls = []

    def counting_qr(a):
        calls.append(a.shape[0])
        return qr_log_diagonal(a)

    def counting_run(plan, h, q):  # the fused path's QRs (lipcore.tangent_chain)
        calls.extend([q.shape[1]] * plan.count(tangent_chain.QR))
        return run(plan, h, q)

    qr_log_diagonal, run = flossing.qr_log_diagonal, tangent_chain.run
    monkeypatch.setattr(flossing, "qr_log_diagonal", counting_qr)
    monkeypatch.setattr(tangent_chain, "run", counting_run)
    losses, counts = {}, {}
    for m in (1, 3):
        calls.clear()
        cfg = config(model={"depth": 6}, training={"epochs": 2},
                     flossing={"enabled": True, "weight": 0.1, "num_exponents": 2, "batch_size": 8,
                               "qr_every": m})
        rep = ListReporter()
        run_experiment(cfg, reporter=rep)
        losses[m] = [v for _, key, v in rep.points if key == "train_loss"]
        counts[m] = (calls.count(8), calls.count(32))
    steps = counts[1][0] // 5
    assert steps > 0 and counts[3][0] == 2 * steps
    assert counts[1][1] == counts[3][1] > 0
    assert losses[1] and losses[3] == pytest.approx(losses[1], rel=1e-4)
