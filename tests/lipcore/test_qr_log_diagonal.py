"""`qr_log_diagonal`: the gradient of (Q, log|diag R|) by the short formula equals the one of
`qr` followed by `log_abs_diagonal`, and autograd's own on full-rank input."""
from __future__ import annotations

import pytest
import torch

from lipcore.qr import log_abs_diagonal, qr, qr_log_diagonal


def _grads(fn, a: torch.Tensor, wq: torch.Tensor | None, wl: torch.Tensor) -> torch.Tensor:
    a = a.clone().requires_grad_(True)
    q, log_r = fn(a)
    loss = (log_r * wl).sum() + (0 if wq is None else (q * wq).sum())
    (grad,) = torch.autograd.grad(loss, a)
    return grad


def _general(a):
    q, r = qr(a)
    return q, log_abs_diagonal(r)


def _torch(a):
    q, r = torch.linalg.qr(a)
    return q, torch.log(torch.diagonal(r, dim1=-2, dim2=-1).abs())


@pytest.mark.parametrize("with_q", [True, False])
def test_full_rank_gradients_match_torchs_qr_and_the_general_backward(with_q):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 5, 7, 4, dtype=torch.float64, generator=g)
    wq = torch.randn(3, 5, 7, 4, dtype=torch.float64, generator=g) if with_q else None
    wl = torch.randn(3, 5, 4, dtype=torch.float64, generator=g)
    ours = _grads(qr_log_diagonal, a, wq, wl)
    assert torch.allclose(ours, _grads(_torch, a, wq, wl), rtol=1e-10, atol=1e-12)
    assert torch.allclose(ours, _grads(_general, a, wq, wl), rtol=1e-10, atol=1e-12)
    q, log_r = qr_log_diagonal(a)
    assert torch.allclose(q, torch.linalg.qr(a)[0]) and torch.allclose(log_r, _torch(a)[1])


def test_gradcheck():
    a = torch.randn(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(lambda x: qr_log_diagonal(x)[1].sum() + qr_log_diagonal(x)[0].sum(),
                                    (a.requires_grad_(True),))


def test_a_dead_column_takes_the_general_rank_safe_backward_and_stays_finite():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(4, 8, 4, dtype=torch.float64, generator=g)
    a[1, :, 2] = a[1, :, 0] * 2.0 - a[1, :, 1]  # matrix 1: its third column dead
    a[3, :, 3] = 0.0  # matrix 3: a zero column (a block's dead units)
    wq = torch.randn(4, 8, 4, dtype=torch.float64, generator=g)
    wl = torch.randn(4, 4, dtype=torch.float64, generator=g)
    ours = _grads(qr_log_diagonal, a, wq, wl)
    assert torch.isfinite(ours).all()
    assert torch.allclose(ours, _grads(_general, a, wq, wl), rtol=1e-10, atol=1e-12)
