"""Band Lanczos with full re-orthogonalisation: eigenpairs of a symmetric operator from products.

`Krylov` grows an orthonormal basis Q (n, P) of the block Krylov space of a start block
V (b, P), span{V, HV, H²V, …}, one operator product at a time: H is applied to the next basis
vector not yet applied, the product is orthogonalised against the whole basis (twice: float32
round-off would otherwise let the basis lose orthogonality and repeat converged directions),
and what is left, normalised, becomes a new basis vector. The coefficients are the projected
matrix T = QᵀHQ, so after m products the Rayleigh–Ritz pairs of T[:m, :m] (θ, s) give Ritz
vectors y = Q[:m]ᵀs whose residual ‖Hy − θy‖ = ‖T[m:n, :m] s‖ costs no extra product
(H Q[:m] lies in span Q[:n]). With b = 1 this is classic Lanczos (T tridiagonal); `b` start
vectors find an eigenvalue of multiplicity up to b (one start vector sees one copy only).

`top_eigenpairs` runs it until the k largest-magnitude Ritz pairs each have
‖Hy − θy‖ ≤ tol·|θ| (|θ − λ| ≤ that residual for some eigenvalue λ of H).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch

HVP = Callable[[torch.Tensor], torch.Tensor]


class Krylov:
    """Basis Q (n, P) in the operator's dtype/device, projected matrix T (n, n) float64 on the CPU.

    `applied` (m) basis vectors have had H applied; the other n − m wait their turn. A product
    whose part outside the basis is below `deflation` × the largest product norm so far (an
    estimate of ‖H‖: round-off of a null vector's product must not count) adds no vector (the
    space is invariant in that direction); `exhausted` when every basis vector has been applied.
    """

    def __init__(self, hvp: HVP, start: torch.Tensor, capacity: int):
        self.hvp, self.dim = hvp, start.shape[1]
        self.capacity = min(capacity, self.dim)
        self.q = start.new_empty(min(self.capacity, 2 * start.shape[0] + 8), self.dim)
        self.t = torch.zeros(self.capacity, self.capacity, dtype=torch.float64)
        self.n = self.applied = 0
        self.norm = 0.0
        self.deflation = 100 * torch.finfo(start.dtype).eps
        for v in start:
            self.extend(v)

    def _project(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(w without its components along the basis, those components (n,)); twice is enough."""
        basis = self.q[: self.n]
        coef = torch.zeros(self.n, dtype=w.dtype, device=w.device)
        for _ in range(2):
            c = basis @ w
            w = w - c @ basis
            coef = coef + c
        return w, coef

    def extend(self, v: torch.Tensor) -> float:
        """Appends v orthonormalised against the basis unless negligible (≤ deflation × ‖v‖);
        returns the norm of the part appended (0.0 if none)."""
        return self._append(self._project(v)[0], float(v.norm()))

    def _append(self, w: torch.Tensor, scale: float) -> float:
        """Appends w (already orthogonal to the basis) normalised, unless ≤ deflation × scale."""
        size = float(w.norm())
        if self.n >= self.capacity or size <= self.deflation * scale:
            return 0.0
        if self.n == self.q.shape[0]:
            grown = self.q.new_empty(min(2 * self.n, self.capacity), self.dim)
            grown[: self.n] = self.q
            self.q = grown
        self.q[self.n] = w / size
        self.n += 1
        return size

    @property
    def exhausted(self) -> bool:
        return self.applied == self.n

    def step(self) -> None:
        """One product: H q_m, its projection onto the basis into T, the rest as a new vector."""
        j = self.applied
        hq = self.hvp(self.q[j])
        rest, coef = self._project(hq)
        col = coef.double().cpu()
        self.t[: self.n, j] = col
        self.t[j, : self.n] = col
        self.norm = max(self.norm, float(hq.norm()))
        size = self._append(rest, self.norm)
        if size:
            self.t[self.n - 1, j] = self.t[j, self.n - 1] = size
        self.applied += 1

    def ritz(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Ritz values θ (m,) ascending, coefficient vectors S (m, m) (columns), residual norms
        ‖Hy − θy‖ (m,), over the m applied basis vectors."""
        m = self.applied
        theta, s = torch.linalg.eigh(self.t[:m, :m])
        residual = (self.t[m: self.n, :m] @ s).norm(dim=0)
        return theta, s, residual

    def vectors(self, s: torch.Tensor) -> torch.Tensor:
        """Ritz vectors Q[:m]ᵀ s: (columns of s, P) from coefficient columns s (m, c)."""
        return s.T.to(self.q.dtype).to(self.q.device) @ self.q[: s.shape[0]]


class Eigenpairs(NamedTuple):
    """values: k floats, largest magnitude first; vectors: (k, P) unit Ritz vectors; residuals:
    ‖Hy − θy‖ per pair; products: H·v evaluated; converged: every residual ≤ tol·|θ|."""
    values: list[float]
    vectors: torch.Tensor
    residuals: list[float]
    products: int
    converged: bool


def top_eigenpairs(hvp: HVP, dim: int, k: int, max_iter: int = 200, tol: float = 1e-6,
                   seed: int = 0, dtype=torch.float32, device="cpu",
                   block: int | None = None) -> Eigenpairs:
    """The k largest-magnitude eigenpairs of the symmetric operator `hvp` on R^dim.

    Band Lanczos from `block` random start vectors (default k: an eigenvalue repeated up to k
    times is found with its multiplicity), stopped when each of the k pairs has residual
    ‖Hy − θy‖ ≤ tol·|θ|, after at most max(max_iter, k) products, or when the Krylov space
    is invariant (then the pairs are exact). A space exhausted before k Ritz pairs exist
    (a start block in a small invariant subspace) restarts from a random vector orthogonal to
    it. Memory: the basis, (products + block) × dim.
    """
    if k > dim:
        raise ValueError(f"hessian.k: {k} eigenvalues asked of a {dim}-parameter model")
    block = min(block or k, dim)
    g = torch.Generator().manual_seed(seed)
    draw = lambda n: torch.randn(n, dim, generator=g, dtype=dtype).to(device)  # noqa: E731
    budget = max(max_iter, k)
    space = Krylov(hvp, draw(block), budget + block)
    while True:
        if space.exhausted and space.applied < k and space.n < dim:
            space.extend(draw(1)[0])
        space.step()
        if space.applied < k and not space.exhausted:
            continue
        theta, s, residual = space.ritz()
        top = theta.abs().argsort(descending=True)[:k]
        converged = len(top) == k and bool((residual[top] <= tol * theta[top].abs()).all())
        if converged or space.applied >= budget or (space.exhausted and space.n == dim):
            return Eigenpairs(theta[top].tolist(), space.vectors(s[:, top]),
                              residual[top].tolist(), space.applied, converged)
