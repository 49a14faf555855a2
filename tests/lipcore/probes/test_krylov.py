"""Band Lanczos top-k eigenpairs against dense oracles: explicit symmetric matrices with a known
spectrum (negative eigenvalues of larger magnitude, repeated eigenvalues, rank deficiency), a tiny
MLP's dense Hessian in float64; and its product count against power iteration's."""
import pytest
import torch
from torch import nn

from lipcore.probes.hessian import make_hvp, power_iteration
from lipcore.probes.krylov import top_eigenpairs
from tests.lipcore.probes.helpers import blobs, matrix_with_spectrum, mlp, train


def by_magnitude(a: torch.Tensor, k: int) -> list[float]:
    ev = torch.linalg.eigvalsh(a.double())
    return ev[ev.abs().argsort(descending=True)][:k].tolist()


def counted(a: torch.Tensor):
    """v ↦ A v that counts its calls in .calls[0]."""
    calls = [0]

    def hvp(v):
        calls[0] += 1
        return a @ v
    hvp.calls = calls
    return hvp


def assert_eigenpairs(a: torch.Tensor, out, tol: float):
    """Each Ritz pair's residual, recomputed with the dense matrix, is the one reported and
    within tol·|θ|; the Ritz vectors are orthonormal."""
    y = out.vectors.double()
    theta = torch.tensor(out.values, dtype=torch.float64)
    residual = (y @ a.double() - theta[:, None] * y).norm(dim=1)
    assert residual.tolist() == pytest.approx(out.residuals, abs=1e-6 * float(theta.abs().max()))
    assert bool((residual <= tol * theta.abs() + 1e-6 * float(theta.abs().max())).all())
    assert torch.allclose(y @ y.T, torch.eye(len(theta), dtype=torch.float64), atol=1e-5)


SPECTRUM = [-9.0, 7.0, 7.0, 3.0, 3.0, 3.0] + torch.linspace(-1.5, 1.5, 54).tolist()


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_top_eigenpairs_of_a_matrix_with_negative_and_repeated_eigenvalues(dtype, tol):
    a = matrix_with_spectrum(SPECTRUM, seed=1)
    out = top_eigenpairs(lambda v: a.to(dtype) @ v, len(SPECTRUM), k=4, max_iter=200, tol=tol,
                         dtype=dtype)
    assert out.converged and out.vectors.dtype == dtype and out.vectors.shape == (4, 60)
    assert out.values == pytest.approx([-9.0, 7.0, 7.0, 3.0], rel=10 * tol)
    assert by_magnitude(a, 4) == pytest.approx([-9.0, 7.0, 7.0, 3.0])
    assert_eigenpairs(a, out, tol)


def test_one_start_vector_sees_a_repeated_eigenvalue_once_hence_k_start_vectors():
    """A single Krylov sequence holds one direction of the eigenspace of 7 (until it has
    exhausted all 56 distinct eigenvalues); k start vectors hold up to k."""
    a = matrix_with_spectrum(SPECTRUM, seed=1)
    one = top_eigenpairs(lambda v: a @ v, 60, k=3, tol=1e-6, dtype=torch.float64, block=1)
    assert one.values == pytest.approx([-9.0, 7.0, 3.0]) and one.products < 56
    assert top_eigenpairs(lambda v: a @ v, 60, k=3, tol=1e-6,
                          dtype=torch.float64).values == pytest.approx([-9.0, 7.0, 7.0])


@pytest.mark.parametrize("block", [None, 1])
def test_rank_deficient_operator_exhausts_the_krylov_space_and_pads_with_zeros(block):
    """Rank 2 in R^30: the space from k start vectors is invariant after k + 2 products (one
    start vector: 3, then a restart from a vector in the null space); the pairs are exact."""
    a = matrix_with_spectrum([5.0, -2.0] + [0.0] * 28, seed=2)
    hvp = counted(a)
    out = top_eigenpairs(hvp, 30, k=4, max_iter=100, tol=1e-12, dtype=torch.float64, block=block)
    assert out.values[:2] == pytest.approx([5.0, -2.0], rel=1e-12)
    assert out.values[2:] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert out.converged and out.products == hvp.calls[0] == (6 if block is None else 4)
    assert_eigenpairs(a, out, 1e-12)


def test_zero_operator_gives_zero_eigenvalues():
    out = top_eigenpairs(lambda v: torch.zeros_like(v), 5, k=2, tol=1e-6, dtype=torch.float64)
    assert out.values == [0.0, 0.0] and out.converged and out.products == 2


def test_k_above_dimension_is_refused_and_max_iter_caps_the_products():
    a = matrix_with_spectrum(SPECTRUM, seed=1)
    with pytest.raises(ValueError, match="hessian.k"):
        top_eigenpairs(lambda v: a @ v, 60, k=61)
    hvp = counted(a)
    out = top_eigenpairs(hvp, 60, k=3, max_iter=5, tol=1e-14, dtype=torch.float64)
    assert not out.converged and out.products == hvp.calls[0] == 5 and len(out.values) == 3
    few = top_eigenpairs(lambda v: a @ v, 60, k=3, max_iter=1, dtype=torch.float64, block=1)
    assert few.products == 3 and len(few.values) == 3


def test_fewer_products_than_power_iteration_on_a_clustered_spectrum():
    """Top three 10, 9.9, 9.8 over a bulk in [-5, 5]: power iteration's rate 9.9/10 per product
    for the first; Krylov converges at the cluster-to-bulk gap. Same tolerance, both checked."""
    spectrum = [10.0, 9.9, 9.8] + torch.linspace(-5, 5, 197).tolist()
    a = matrix_with_spectrum(spectrum, seed=3)
    power, lanczos = counted(a), counted(a)
    values, _, _ = power_iteration(power, 200, 3, max_iter=5000, tol=1e-8, dtype=torch.float64)
    out = top_eigenpairs(lanczos, 200, 3, max_iter=5000, tol=1e-8, dtype=torch.float64)
    assert out.values == pytest.approx([10.0, 9.9, 9.8], rel=1e-10)
    assert values == pytest.approx([10.0, 9.9, 9.8], rel=1e-3)
    assert lanczos.calls[0] * 5 < power.calls[0]


@pytest.fixture(scope="module")
def tiny_mlp_hessian():
    data = blobs(n=48, classes=3, seed=2)
    model = mlp([2, 6, 5, 3], seed=3)
    train(model, data, steps=60)
    loss = nn.CrossEntropyLoss()
    return model, loss, (data.x_train, data.y_train)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-3)])
def test_top_eigenpairs_of_a_tiny_mlp_match_its_dense_float64_hessian(tiny_mlp_hessian, dtype, tol):
    model, loss, (x, y) = tiny_mlp_hessian
    hvp, dim = make_hvp(model, loss, (x, y))
    h = torch.stack([hvp(e) for e in torch.eye(dim, dtype=torch.float64)])
    h = (h + h.T) / 2
    model32 = mlp([2, 6, 5, 3]).to(dtype)
    model32.load_state_dict(model.state_dict())
    hvp32, _ = make_hvp(model32, loss, (x.to(dtype), y))
    out = top_eigenpairs(hvp32, dim, k=3, max_iter=dim, tol=tol, dtype=dtype)
    exact = by_magnitude(h, 3)
    assert out.converged and out.products < dim
    assert out.values == pytest.approx(exact, rel=tol if dtype == torch.float64 else 1e-4)
    assert_eigenpairs(h, out, tol)
