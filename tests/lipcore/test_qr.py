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
    assert logs[1:].tolist() == pytest.approx([math.log(100 * torch.finfo(torch.float32).eps)] * 3)


def test_wide_input_is_refused():
    with pytest.raises(ValueError, match="at least as many rows"):
        qr(torch.randn(2, 3))


def dependent_last_column(dtype=torch.float64) -> torch.Tensor:
    """8 × 4 whose last column is a combination of the others plus a residual of 1e-14 (≈ 14
    eps·‖A‖, the case an eps-sized floor missed) orthogonal to them: round-off alone leaves a
    residual anywhere from below eps to a few eps, by the machine's BLAS."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 4, dtype=torch.float64, generator=g)
    q, _ = torch.linalg.qr(a[:, :3])
    v = torch.randn(8, dtype=torch.float64, generator=g)
    v = v - q @ (q.T @ v)
    a[:, 3] = a[:, 0] + 2 * a[:, 1] + 1e-14 * v / v.norm()
    return a.to(dtype)


def test_a_dead_last_column_gets_the_gradient_of_the_live_columns_qr():
    """Oracle: torch's QR of the three live columns, the dead column entering R only through
    q_jᵀ a_3 (j < 3); its arbitrary q_3 and R_33 are constants."""
    g = torch.Generator().manual_seed(3)
    g_q = torch.randn(8, 4, dtype=torch.float64, generator=g)
    g_r = torch.randn(4, 4, dtype=torch.float64, generator=g).triu()
    a = dependent_last_column().requires_grad_()
    q, r = qr(a)
    assert r[3, 3].abs() < 1e-13 and r[3, 3].abs() > torch.finfo(torch.float64).eps * r.diagonal().abs().max()
    ours = torch.autograd.grad((q * g_q).sum() + (r * g_r).sum(), a)[0]
    b = a.detach().clone().requires_grad_()
    q3, r3 = torch.linalg.qr(b[:, :3])
    oracle = (q3 * g_q[:, :3]).sum() + (r3 * g_r[:3, :3]).sum() + ((q3.T @ b[:, 3]) * g_r[:3, 3]).sum()
    expected = torch.autograd.grad(oracle, b)[0]
    assert torch.allclose(ours, expected, rtol=1e-10, atol=1e-10)


def test_a_dead_column_in_the_middle_gets_a_gradient_of_the_inputs_size():
    """Rank 3 with the dead column second: no division by round-off (the eps floor gave ~1e14)."""
    g = torch.Generator().manual_seed(4)
    a = torch.randn(8, 4, dtype=torch.float64, generator=g)
    a[:, 1] = 3 * a[:, 0]
    a.requires_grad_()
    g_q, g_r = torch.randn(8, 4, dtype=torch.float64, generator=g), torch.randn(4, 4, dtype=torch.float64, generator=g)
    grad = torch.autograd.grad(_loss(qr, a, g_q, g_r), a)[0]
    assert torch.isfinite(grad).all() and grad.abs().max() < 100


def test_vmapped_and_eager_backwards_agree_on_dead_and_live_columns():
    """Under vmap (packed members) the backward cannot look at the values first; the masked
    formula it takes equals the eager one, which branches on whether any column is dead."""
    g = torch.Generator().manual_seed(5)
    a = torch.stack([dependent_last_column(), torch.randn(8, 4, dtype=torch.float64, generator=g)])
    g_q, g_r = torch.randn(2, 8, 4, dtype=torch.float64, generator=g), torch.randn(2, 4, 4, dtype=torch.float64, generator=g)

    def loss(x, gq, gr):
        return _loss(qr, x, gq, gr)

    batched = torch.func.vmap(torch.func.grad(loss))(a, g_q, g_r)  # the masked formula
    each = []
    for x, gq, gr in zip(a, g_q, g_r):  # plain autograd: the branching one
        leaf = x.clone().requires_grad_()
        each.append(torch.autograd.grad(loss(leaf, gq, gr), leaf)[0])
    assert torch.allclose(batched, torch.stack(each), rtol=1e-10, atol=1e-10)


def test_a_batch_takes_the_masked_formula_only_where_a_matrix_has_a_dead_column():
    """A packed pack's QR is one batch; eager autograd gives each matrix the gradient it has
    alone, dead column or not (oracle: the same matrices one by one)."""
    g = torch.Generator().manual_seed(6)
    live = [torch.randn(8, 4, dtype=torch.float64, generator=g) for _ in range(3)]
    a = torch.stack([live[0], dependent_last_column(), live[1], live[2]])
    g_q, g_r = torch.randn(4, 8, 4, dtype=torch.float64, generator=g), torch.randn(4, 4, 4, dtype=torch.float64, generator=g)
    leaf = a.clone().requires_grad_()
    together = torch.autograd.grad(_loss(qr, leaf, g_q, g_r), leaf)[0]
    each = []
    for x, gq, gr in zip(a, g_q, g_r):
        one = x.clone().requires_grad_()
        each.append(torch.autograd.grad(_loss(qr, one, gq, gr), one)[0])
    assert torch.isfinite(together).all()
    assert torch.allclose(together, torch.stack(each), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("with_g_q", [True, False])
def test_the_log_diagonal_backward_equals_torch_qr_autograd(with_g_q):
    """The flossing chain's four-op backward (ḡ_R only through Σ g_i log|R_ii|, transposed
    layout) against autograd through torch.linalg.qr, negative R_ii included."""
    from lipcore.qr import log_diagonal_backward

    g = torch.Generator().manual_seed(7)
    a = torch.randn(6, 9, 4, dtype=torch.float64, generator=g, requires_grad=True)
    g_q = torch.randn(6, 9, 4, dtype=torch.float64, generator=g) if with_g_q else torch.zeros(6, 9, 4, dtype=torch.float64)
    weights = torch.randn(6, 4, dtype=torch.float64, generator=g)
    q, r = torch.linalg.qr(a)
    assert (r.diagonal(dim1=-2, dim2=-1) < 0).any()
    loss = (q * g_q).sum() + (weights * r.diagonal(dim1=-2, dim2=-1).abs().log()).sum()
    expected = torch.autograd.grad(loss, a)[0]
    ours = log_diagonal_backward(q.detach().mT, r.detach(), g_q.mT if with_g_q else None, torch.diag_embed(weights))
    assert torch.allclose(ours.mT, expected, rtol=1e-12, atol=1e-12)
