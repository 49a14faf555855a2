"""`qr_log_diagonal`: the gradient of (Q, log|diag R|) by the short formula equals the one of
`qr` followed by `log_abs_diagonal`, and autograd's own on full-rank input."""
from __future__ import annotations

import pytest
import torch

from lipcore import qr as qr_module
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


@pytest.mark.parametrize("with_q", [True, False])
def test_a_batch_mixing_dead_and_live_matrices_gets_each_ones_own_gradient(with_q):
    """The short formula on the batch, the general one on the matrices with a dead column:
    each live matrix's gradient is torch's own QR's, each dead one's the rank-safe `qr`'s
    (each matrix taken alone, so neither depends on what else is in the batch)."""
    g = torch.Generator().manual_seed(4)
    a = torch.randn(2, 5, 8, 4, dtype=torch.float64, generator=g)
    a[0, 1, :, 2] = a[0, 1, :, 0] - 0.5 * a[0, 1, :, 1]  # a dead third column
    a[1, 3, :, 3] = 0.0  # a zero column (a block's dead units)
    a[1, 4, :, 1:] = 0.0  # three dead columns
    wq = torch.randn(2, 5, 8, 4, dtype=torch.float64, generator=g) if with_q else None
    wl = torch.randn(2, 5, 4, dtype=torch.float64, generator=g)
    ours = _grads(qr_log_diagonal, a, wq, wl)
    assert torch.isfinite(ours).all()
    for i in range(2):
        for j in range(5):
            wq_ij = None if wq is None else wq[i, j]
            oracle = _general if (i, j) in [(0, 1), (1, 3), (1, 4)] else _torch
            want = _grads(oracle, a[i, j], wq_ij, wl[i, j])
            assert torch.allclose(ours[i, j], want, rtol=1e-10, atol=1e-12), (i, j)


@pytest.mark.parametrize("shape", [(600, 16, 4), (600, 12, 3), (16, 16, 4), (600, 32, 4)])
def test_both_forms_of_the_short_backward_match_torchs_qr(shape):
    """Large batches of small matrices take the by-rows form, the others the batched one
    (`qr.by_rows`); each equals torch's QR backward."""
    g = torch.Generator().manual_seed(5)
    a = torch.randn(*shape, dtype=torch.float64, generator=g)
    wq, wl = torch.randn(*shape, dtype=torch.float64, generator=g), torch.randn(*shape[:-2], shape[-1], dtype=torch.float64, generator=g)
    assert qr_module.by_rows(*shape, cuda=False) == (shape[0] >= 512 and shape[1] <= 16)
    assert torch.allclose(_grads(qr_log_diagonal, a, wq, wl), _grads(_torch, a, wq, wl), rtol=1e-9, atol=1e-11)
