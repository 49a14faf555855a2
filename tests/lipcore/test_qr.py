"""The flossing QR: torch's gradient where R is well conditioned, a finite one where A loses rank."""
import math

import pytest
import torch

from lipcore.qr import log_abs_diagonal, qr


def _loss(f, a, g_q, g_r):
    q, r = f(a)
    return (q * g_q).sum() + (r * g_r).sum() + log_abs_diagonal(r).sum()


def test_gradient_passes_gradcheck_on_full_rank_batches():
    a = torch.randn(3, 7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(qr, (a.requires_grad_(),))


def test_values_and_gradient_equal_torch_qr_on_full_rank_input():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(5, 6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    g_q, g_r = torch.randn(5, 6, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, 3, generator=g,
                                                                                 dtype=torch.float64)
    ours = torch.autograd.grad(_loss(qr, a, g_q, g_r), a)[0]
    theirs = torch.autograd.grad(_loss(torch.linalg.qr, a, g_q, g_r), a)[0]
    assert torch.allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    assert all(torch.equal(x, y) for x, y in zip(qr(a), torch.linalg.qr(a)))


def rank_one_tangents() -> torch.Tensor:
    """What a width-8 ReLU block with seven dead units does to 4 tangents: one live row."""
    a = torch.zeros(8, 4)
    a[2] = torch.tensor([0.3, -1.2, 0.7, 0.05])
    return a.requires_grad_()


def test_rank_deficient_tangents_get_a_finite_gradient_where_torch_qr_gives_nan():
    g = torch.Generator().manual_seed(2)
    g_q, g_r = torch.randn(8, 4, generator=g), torch.randn(4, 4, generator=g)
    a = rank_one_tangents()
    theirs = torch.autograd.grad(_loss(torch.linalg.qr, a, g_q, g_r), a)[0]
    assert not torch.isfinite(theirs).all()  # the failure the floored solve exists for
    ours = torch.autograd.grad(_loss(qr, a, g_q, g_r), a)[0]
    assert torch.isfinite(ours).all()


def test_a_dead_direction_counts_as_a_contraction_to_round_off():
    _, r = qr(rank_one_tangents())
    logs = log_abs_diagonal(r)
    assert logs[0].item() == pytest.approx(math.log(0.3), rel=1e-6)  # |first column|
    assert logs[1:].tolist() == pytest.approx([math.log(torch.finfo(torch.float32).eps)] * 3)


def test_wide_input_is_refused():
    with pytest.raises(ValueError, match="at least as many rows"):
        qr(torch.randn(2, 3))
