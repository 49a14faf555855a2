"""Lyapunov exponents against closed forms, and flossing driving them to zero."""
import math

import pytest
import torch
from torch import nn

from lipcore import run_experiment
from lipcore.flossing import flossing_loss, lyapunov_exponents
from lipcore.reporting import ListReporter
from tests.lipcore.training.helpers import Chain, config


def test_chain_of_scaled_identities_gives_log_c():
    lam = lyapunov_exponents(Chain([1.7 * torch.eye(6)] * 8), torch.randn(5, 6), 4)
    assert lam.detach() == pytest.approx([math.log(1.7)] * 4, abs=1e-5)


def test_orthogonal_blocks_give_zero():
    g = torch.Generator().manual_seed(0)
    mats = [torch.linalg.qr(torch.randn(8, 8, generator=g))[0] for _ in range(12)]
    lam = lyapunov_exponents(Chain(mats), torch.randn(4, 8), 5)
    assert lam.detach().abs().max() < 1e-5


def test_repeated_diagonal_converges_to_sorted_log_d():
    d = torch.tensor([0.5, 3.0, 1.5, 0.1, 2.0, 1.0], dtype=torch.float64)
    lam = lyapunov_exponents(Chain([torch.diag(d)] * 400), torch.randn(2, 6, dtype=torch.float64), 3)
    expected = torch.log(d).sort(descending=True).values[:3]
    # finite-time estimates converge as O(1/T): the transient of Q0 costs ~log(cond)/T
    assert lam.detach() == pytest.approx(expected.tolist(), abs=0.02)


def test_tangents_follow_each_sample_jacobian():
    # x ↦ tanh(Wx): the Jacobian differs per sample; compare with brute-force autograd Jacobians
    torch.manual_seed(0)
    chain = Chain([torch.randn(5, 5) for _ in range(3)], act=nn.Tanh())
    x = torch.randn(3, 5)
    lam = lyapunov_exponents(chain, x, 2, torch.Generator().manual_seed(1))
    q0, _ = torch.linalg.qr(torch.randn(5, 2, generator=torch.Generator().manual_seed(1)))
    per_sample = []
    for xi in x:
        q, total, h = q0, torch.zeros(2), xi
        for block in chain.blocks:
            jac = torch.autograd.functional.jacobian(block, h)
            q, r = torch.linalg.qr(jac @ q)
            total += torch.log(torch.diagonal(r).abs())
            h = block(h)
        per_sample.append(total / 3)
    expected = torch.stack(per_sample).mean(0).sort(descending=True).values
    assert lam.detach() == pytest.approx(expected.tolist(), abs=1e-5)


def test_chain_skips_blocks_narrower_than_k():
    # a 1 → 6 input block and a 6 → 1 head: only the 6 → 6 blocks count
    mats = [torch.ones(6, 1)] + [2.0 * torch.eye(6)] * 3 + [torch.ones(1, 6)]
    lam = lyapunov_exponents(Chain(mats), torch.randn(4, 1), 3)
    # first counted block is 6→6 (input 6), the head (output 1 < k) ends the chain
    assert lam.detach() == pytest.approx([math.log(2.0)] * 3, abs=1e-5)


def test_gradient_through_qr_passes_gradcheck():
    torch.manual_seed(0)
    w = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, 4, dtype=torch.float64)

    def f(weight):
        chain = Chain([torch.zeros(4, 4, dtype=torch.float64)] * 3, act=nn.Tanh())
        for block in chain.blocks:
            del block[0].weight
            block[0].weight = weight
        return lyapunov_exponents(chain, x, 2, torch.Generator().manual_seed(0))

    assert torch.autograd.gradcheck(f, (w,), eps=1e-6, atol=1e-5)


def test_flossing_drives_exponents_towards_zero():
    torch.manual_seed(0)
    depth, width = 20, 16
    chain = Chain([2.0 * torch.randn(width, width) / width ** 0.5 for _ in range(depth)], act=nn.Tanh())
    x = torch.randn(32, width)
    opt = torch.optim.Adam(chain.parameters(), lr=3e-3)
    before = lyapunov_exponents(chain, x, 4).detach().abs().max()
    for _ in range(150):
        loss, lam = flossing_loss(chain, x, 4)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = lyapunov_exponents(chain, x, 4).detach().abs().max()
    assert before > 0.1 and after < 0.25 * before


def test_flossing_in_the_loop_logs_exponents_and_pre_flosses():
    cfg = config(model={"depth": 6, "width": 8},
                 flossing={"enabled": True, "num_exponents": 3, "pre_epochs": 2})
    r = ListReporter()
    summary = run_experiment(cfg, r)
    assert summary["status"] == "succeeded"
    assert {f"lyapunov/{i}" for i in range(3)} <= {k for _, k, _ in r.points}
    l0, l1 = r.series("lyapunov/0"), r.series("lyapunov/1")
    assert all(a >= b for a, b in zip(l0, l1))
