"""A reduced QR whose gradient stays finite when the input loses rank.

`torch.linalg.qr`'s backward for A = QR (A: (..., m, n), m ≥ n) is

    M  = R ḡ_Rᵀ − ḡ_Qᵀ Q,     ḡ_A = (ḡ_Q + Q·copyltu(M)) R⁻ᵀ,

copyltu(M) = tril(M, −1) + tril(M, −1)ᵀ + diag(M) (Walter & Lehmann 2018; Liao et al. 2019).
R⁻ᵀ is undefined when a diagonal entry of R is 0, i.e. when A's columns are linearly
dependent, and torch then returns inf/NaN. A flossing tangent block J·Q loses rank whenever
fewer units than tangents are alive (a ReLU block of width 8 with five dead units for an
example, and k = 4 tangents), so this is an everyday event, not a corner case.

`qr` returns torch's Q and R unchanged. Where every |R_ii| is above `rank_floor(R)` (round-off
of the factorisation) its gradient is torch's exactly. A column i below it is *dead*: its
residual after the projections is round-off, so Householder completes Q with an arbitrary
unit vector q_i (set by that round-off) and R_ii ≈ 0. Dividing by R_ii (or by a floor of
eps size, as this module did first) turns round-off into gradients of 1e7 (float32) to 1e14
(float64) that a gradient clip then lets dominate the step: on a width-8 ReLU LDLT net a
quarter of the flossing tangent columns are dead and the penalty's gradient spiked to ~1e3.
So the backward treats the completion as a constant: A + s·q_i e_iᵀ (s the scale of R) has
the same Q and R but R_ii = s, a well-conditioned factorisation, and the formula above runs
on that R
(`completed`) with no gradient through the arbitrary q_i nor through R's row i (q_iᵀ a_l).
The dead column's own gradient is then what its entries above the diagonal (q_jᵀ a_i, j < i,
well defined) give. For a dead last column this is exactly the gradient of the QR of the
live columns (tests/lipcore/test_qr.py), and nothing in it depends on round-off.
"""
from __future__ import annotations

import torch


#: |R_ii| below ROUND_OFF · eps · scale is the round-off of a Householder QR, not a direction
ROUND_OFF = 100.0


def rank_floor(r: torch.Tensor) -> torch.Tensor:
    """(..., 1): the size below which |R_ii| is round-off, ROUND_OFF · eps · max(max_j |R_jj|, 1)
    per matrix.

    A column that lies in the span of the ones before it leaves a residual of a few eps·‖A‖
    after Householder's projections (1.1e-15 for a float64 8 × 4 example whose largest |R_jj|
    is 3.3: 1.5 eps·scale), so the floor sits two decades above eps. The 1 keeps it positive
    for an all-zero A; tangent blocks have unit-norm inputs (Q's columns), so their R entries
    are O(1) and the floor is about 100 eps (1.2e-5 in float32)."""
    return floor_of(torch.diagonal(r, dim1=-2, dim2=-1).abs())


def floor_of(diag: torch.Tensor) -> torch.Tensor:
    """`rank_floor` from |diag(R)| (..., n), for a caller that has it already."""
    return ROUND_OFF * torch.finfo(diag.dtype).eps * diag.amax(-1, keepdim=True).clamp_min(1.0)


def dead_directions(r: torch.Tensor) -> torch.Tensor:
    """(..., n) bool: the columns whose |R_ii| is below `rank_floor(R)`."""
    return torch.diagonal(r, dim1=-2, dim2=-1).abs() < rank_floor(r)


def completed(r: torch.Tensor, dead: torch.Tensor) -> torch.Tensor:
    """R with each dead diagonal entry set to the matrix's scale (max(max_j |R_jj|, 1)): the R
    of A with each dead column's arbitrary completion q_i added to it (module docstring)."""
    scale = torch.diagonal(r, dim1=-2, dim2=-1).abs().amax(-1, keepdim=True).clamp_min(1.0)
    diag = torch.diagonal(r, dim1=-2, dim2=-1)
    out = r.clone()
    torch.diagonal(out, dim1=-2, dim2=-1).copy_(torch.where(dead, scale.expand_as(diag), diag))
    return out


def _qr_backward(q: torch.Tensor, r: torch.Tensor, g_q: torch.Tensor | None,
                 g_r: torch.Tensor | None, may_branch: bool = False,
                 dead: torch.Tensor | None = None) -> torch.Tensor | None:
    """ḡ_A from Q, R and their gradients (None where absent): the module docstring's formula,
    on the completed R when a column is dead. `may_branch`: look at the values first and take
    the plain formula when no column is dead, and the masked one only on the matrices of a
    batch that have a dead column (eager autograd on the CPU, where that read costs nothing;
    not under vmap nor on a GPU, where it would be a sync). `dead`: `dead_directions(r)` when
    the caller has it."""
    if g_q is None and g_r is None:
        return None
    if dead is None:
        dead = dead_directions(r)  # (..., n)
    if may_branch:
        return _live_then_dead(dead, lambda: _formula(q, r, g_q, g_r),
                               lambda pick: _masked(*pick(q, r, g_q, g_r, dead)))
    return _masked(q, r, g_q, g_r, dead)


def _live_then_dead(dead: torch.Tensor, live, masked) -> torch.Tensor:
    """A batch's ḡ_A by `live()` (a formula for matrices without a dead column, not finite on
    the others) where no column is `dead` (..., n), and by `masked(pick)` on the matrices with
    one, overwriting them: `pick(*tensors)` selects those matrices of each tensor (None stays
    None). Reads `dead` on the host: eager autograd on the CPU only."""
    hit = dead.any(-1)  # (...): the matrices with a dead column
    if not bool(hit.any()):
        return live()
    if hit.dim() == 0 or bool(hit.all()):
        return masked(lambda *ts: ts)
    grad = live()
    grad[hit] = masked(lambda *ts: tuple(None if t is None else t[hit] for t in ts))
    return grad


def _masked(q: torch.Tensor, r: torch.Tensor, g_q: torch.Tensor | None, g_r: torch.Tensor | None,
            dead: torch.Tensor) -> torch.Tensor:
    """ḡ_A with the `dead` (..., n) columns' completions held constant (module docstring)."""
    # A dead column i: q_i and R's row i are constants (no gradient); R's entries above it,
    # q_jᵀ a_i, give a_i the gradient Σ_j q_j ḡ_R[j, i] and q_j the gradient a_i ḡ_R[j, i]
    # (a_i = Q R[:, i]); the rest is the QR of A with its dead columns completed, held constant.
    g_q = torch.zeros_like(q) if g_q is None else g_q.masked_fill(dead.unsqueeze(-2), 0.0)
    g_r = torch.zeros_like(r) if g_r is None else g_r.masked_fill(dead.unsqueeze(-1), 0.0)
    above = g_r * dead.unsqueeze(-2)  # ḡ_R's dead columns (rows j < i), others zero
    g_q = g_q + (q @ r) @ above.mT
    grad = _formula(q, completed(r, dead), g_q, g_r - above).masked_fill(dead.unsqueeze(-2), 0.0)
    return grad + q @ above


def _formula(q: torch.Tensor, r: torch.Tensor, g_q: torch.Tensor | None,
             g_r: torch.Tensor | None) -> torch.Tensor:
    """(ḡ_Q + Q·copyltu(M)) R⁻ᵀ with M = R ḡ_Rᵀ − ḡ_Qᵀ Q, a term left out where its gradient
    is absent (flossing's last Q has none): fewer small ops, the same values."""
    if g_r is None:
        m = -(g_q.mT @ q)
    elif g_q is None:
        m = r @ g_r.mT
    else:
        m = r @ g_r.mT - g_q.mT @ q
    copyltu = m.tril() + m.tril(-1).mT
    b = q @ copyltu if g_q is None else g_q + q @ copyltu
    # b R⁻ᵀ: solve X Rᵀ = b, Rᵀ lower triangular
    return torch.linalg.solve_triangular(r.mT, b, upper=False, left=False)


_LOWER: dict = {}


def _lower(k: int, device: torch.device) -> torch.Tensor:
    """(k, k) bool: the lower triangle with the diagonal (cached per size and device)."""
    key = (k, device)
    if key not in _LOWER:
        _LOWER[key] = torch.ones(k, k, dtype=torch.bool, device=device).tril()
    return _LOWER[key]


#: `log_diagonal_backward` applies C and R⁻¹ by rows on the CPU for matrices of at most this
#: many columns and rows, in batches of at least this many matrices (`by_rows`)
BY_ROWS, BY_ROWS_HEIGHT, BY_ROWS_BATCH = 4, 16, 512


def by_rows(b: int, m: int, n: int, cuda: bool) -> bool:
    """Whether `_by_rows` is the cheaper form for B = b matrices (m × n) on this device.

    Its ~20 row ops cost a fixed dispatch each, where the batched product and LAPACK solve
    loop over the b matrices: per call, 1 thread, n = 4 (µs, batched → by rows):
    b = 16: 23 → 105; 256: 168 → 191; 512: 323 → 280 (m = 16), 231 → 322 (m = 32);
    1600: 967 → 716 (m = 16), 680 → 1334 (m = 32). So only the packed sine net's flossing
    (1600 QRs of 16 × 4) takes it; the fused MLP chain's 16 QRs a block stay batched."""
    return not cuda and n <= BY_ROWS and m <= BY_ROWS_HEIGHT and b >= BY_ROWS_BATCH


def log_diagonal_backward(qt: torch.Tensor, r: torch.Tensor, g_qt: torch.Tensor | None,
                          d: torch.Tensor) -> torch.Tensor:
    """ḡ_Aᵀ (B, n, m) for A = QR (m ≥ n, no dead column) when R gets its gradient only through
    Σ_i g_i log|R_ii|, everything transposed and batched: qt = Qᵀ (B, n, m), g_qt = ḡ_Qᵀ (None:
    absent), d = diag_embed(g) (B, n, n).

    `_formula` with ḡ_R = diag(g_i / R_ii): R ḡ_Rᵀ is upper triangular with diagonal g, so
    copyltu(M) = −C with C = copyltu(ḡ_Qᵀ Q − D), symmetric, and
    ḡ_Aᵀ = R⁻¹ (ḡ_Qᵀ − C Qᵀ). Four batched ops (two products, C's copy of its lower triangle by
    one `where`, the triangular solve) instead of `_formula`'s eleven, for the flossing chain's
    per-block QR, where each small op costs more in dispatch than in arithmetic; on the CPU
    where `by_rows` says so the product with C and the solve go by rows (`_by_rows`)."""
    if g_qt is None:
        x = torch.diagonal(d, dim1=-2, dim2=-1).unsqueeze(-1) * qt
    else:
        n = torch.baddbmm(d, g_qt, qt.mT, alpha=1.0, beta=-1.0)
        c = torch.where(_lower(n.shape[-1], n.device), n, n.mT)
        if by_rows(qt.shape[0], qt.shape[-1], qt.shape[-2], qt.is_cuda):
            return _by_rows(c, qt, g_qt, r)
        x = torch.baddbmm(g_qt, c, qt, alpha=-1.0)
    # R⁻¹ x as (xᵀ R⁻ᵀ)ᵀ: xᵀ is column-major as LAPACK takes it, and the result comes back row-major
    return torch.linalg.solve_triangular(r.mT, x.mT, upper=False, left=False).mT


def _by_rows(c: torch.Tensor, qt: torch.Tensor, g_qt: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """R⁻¹ (ḡ_Qᵀ − C Qᵀ) (B, n, m) for c (B, n, n), qt and g_qt (B, n, m), r (B, n, n) upper:
    C Qᵀ as n broadcast products of a column of C with a row of Qᵀ, then back substitution row
    by row. For a small n these few ops on (B, n, m) and (B, m) rows cost about half of
    batched products and a solve, which on the CPU loop over the B tiny matrices one call
    each (1600 QRs of 16 × 4 in the sine pack's flossing: ≈ 0.4 vs 0.7 ms for the two)."""
    x = g_qt
    for j in range(c.shape[-1]):
        x = x - c[..., j:j + 1] * qt[..., j:j + 1, :]
    rows: list[torch.Tensor] = [x] * x.shape[-2]
    for i in reversed(range(x.shape[-2])):
        y = x[..., i, :]
        for j in range(i + 1, x.shape[-2]):
            y = y - r[..., i, j, None] * rows[j]
        rows[i] = y / r[..., i, i, None]
    return torch.stack(rows, -2)


class _QR(torch.autograd.Function):
    """Under `torch.func` transforms: packed training takes the exponents of stacked members
    under vmap, and this form (forward without ctx, `setup_context`) has a generated vmap rule."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, r = torch.linalg.qr(a)
        return q, r  # a plain tuple: vmap's generated rule cannot flatten torch's result type

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*output)
        ctx.set_materialize_grads(False)  # an absent gradient stays None, not a zero tensor

    @staticmethod
    def backward(ctx, g_q: torch.Tensor | None, g_r: torch.Tensor | None) -> torch.Tensor | None:
        return _qr_backward(*ctx.saved_tensors, g_q, g_r)


class _EagerQR(torch.autograd.Function):
    """The same Function in the classic form, for plain eager autograd: its `apply` costs about
    half of `_QR`'s (~50 µs vs ~100 µs a call on the CPU), which the flossing chain pays per block."""

    @staticmethod
    def forward(ctx, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, r = torch.linalg.qr(a)
        ctx.save_for_backward(q, r)
        ctx.set_materialize_grads(False)
        return q, r

    @staticmethod
    def backward(ctx, g_q: torch.Tensor | None, g_r: torch.Tensor | None) -> torch.Tensor | None:
        q, r = ctx.saved_tensors
        return _qr_backward(q, r, g_q, g_r, may_branch=not r.is_cuda)


def qr(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reduced QR of a: (..., m, n) with m ≥ n → Q (..., m, n), R (..., n, n), as
    `torch.linalg.qr`, with a backward that is finite for rank-deficient a (module docstring)."""
    if a.shape[-2] < a.shape[-1]:
        raise ValueError(f"qr: needs at least as many rows as columns, got {tuple(a.shape[-2:])}")
    if torch._C._functorch.peek_interpreter_stack() is None:  # no vmap/grad/jvp transform active
        return _EagerQR.apply(a)
    return _QR.apply(a)


def log_abs_diagonal(r: torch.Tensor) -> torch.Tensor:
    """log max(|R_ii|, `rank_floor(R)`): (..., n). A numerically dead direction counts as a
    contraction to round-off (log(100 eps), ≈ −11.3 in float32) and passes no gradient."""
    diag = torch.diagonal(r, dim1=-2, dim2=-1).abs()
    return torch.log(torch.maximum(diag, rank_floor(r.detach())))


def _log_diagonal_formula(q: torch.Tensor, r: torch.Tensor, g_q: torch.Tensor | None,
                          g: torch.Tensor) -> torch.Tensor:
    """`log_diagonal_backward` for q (..., m, n), r (..., n, n), g_q (..., m, n) or None and
    the log-diagonal's gradient g (..., n), any number of leading dims: ḡ_A (..., m, n)."""
    m, n = q.shape[-2:]
    qt = q.reshape(-1, m, n).mT
    g_qt = None if g_q is None else g_q.reshape(-1, m, n).mT
    d = torch.diag_embed(g.reshape(-1, n))
    return log_diagonal_backward(qt, r.reshape(-1, n, n), g_qt, d).mT.reshape(q.shape)


def _log_diagonal_grad(r: torch.Tensor, g: torch.Tensor, dead: torch.Tensor) -> torch.Tensor:
    """ḡ_R = diag(g_i / R_ii) (..., n, n) from the log-diagonal's gradient g (..., n), zero on
    the `dead` columns (g is zero there already; their R_ii is round-off)."""
    return torch.diag_embed(g / torch.diagonal(r, dim1=-2, dim2=-1).masked_fill(dead, 1.0))


class _QRLogDiagonal(torch.autograd.Function):
    """(Q, log max(|R_ii|, floor)) with the backward above. On the CPU the short formula runs
    on the whole batch and the general masked one (`_masked`) only on the matrices with a
    dead column, overwriting them: with ReLU nets nearly every batch of small QRs has one,
    and the general formula on all of them cost twice the short one. On a GPU, where reading
    the mask would be a sync, the general one on all."""

    @staticmethod
    def forward(ctx, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, r = torch.linalg.qr(a)
        diag = torch.diagonal(r, dim1=-2, dim2=-1)
        floor = floor_of(diag.abs())
        dead = diag.abs() < floor
        ctx.save_for_backward(q, r, dead)
        ctx.set_materialize_grads(False)
        return q, torch.log(torch.maximum(diag.abs(), floor))

    @staticmethod
    def backward(ctx, g_q: torch.Tensor | None, g_log: torch.Tensor | None) -> torch.Tensor | None:
        q, r, dead = ctx.saved_tensors
        if g_log is None:
            return _qr_backward(q, r, g_q, None, may_branch=not r.is_cuda, dead=dead)
        g = g_log.masked_fill(dead, 0.0)  # d log|R_ii| / dR_ii = 1 / R_ii where alive
        if r.is_cuda:
            return _qr_backward(q, r, g_q, _log_diagonal_grad(r, g, dead), dead=dead)

        def masked(pick) -> torch.Tensor:
            q_, r_, g_q_, g_, dead_ = pick(q, r, g_q, g, dead)
            return _masked(q_, r_, g_q_, _log_diagonal_grad(r_, g_, dead_), dead_)
        return _live_then_dead(dead, lambda: _log_diagonal_formula(q, r, g_q, g), masked)


def qr_log_diagonal(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q (..., m, n), `log_abs_diagonal(R)` (..., n)) of a (..., m, n): what flossing keeps of
    each QR, with a backward that knows R reaches the loss only through its log-diagonal (the
    same gradient as `qr` followed by `log_abs_diagonal`, in fewer ops)."""
    if torch._C._functorch.peek_interpreter_stack() is not None:  # under vmap/grad/jvp
        q, r = qr(a)
        return q, log_abs_diagonal(r)
    if a.shape[-2] < a.shape[-1]:
        raise ValueError(f"qr: needs at least as many rows as columns, got {tuple(a.shape[-2:])}")
    return _QRLogDiagonal.apply(a)
