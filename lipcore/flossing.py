"""Lyapunov exponents along a model's `.blocks` and the gradient-flossing loss (Engelken 2023).

QR method: Q₀ (N, k) orthonormal; for each block t, Q ← J_t Q by Jacobian-vector products
instead of full Jacobians (explicit rules of `lipcore.tangents` for the common modules,
forward-mode dual numbers for the others), then Q, R = qr(Q) and λ_i += log|R_ii|. Dividing by the number of blocks T gives natural-log
growth per block.

Re-orthonormalisation interval (`qr_every` = m, Engelken's t_ONS): the QR is taken after every
m-th block and after the last, the tangents carried un-normalised in between. A QR of
J_{t+m}⋯J_{t+1}Q has R = R_{t+m}⋯R_{t+1} (triangular factors multiply, diagonals with them),
so Σ log|R_ii| and the exponents are those of m = 1 in exact arithmetic, for one QR (and its
backward) per m blocks instead of per block. In floating point the weakest of the k
directions keeps about eps·exp((λ₁ − λ_k)·m) relative accuracy, so m must keep
(λ₁ − λ_k)·m well below ln(1/eps) (≈ 16 in float32); and a direction that dies inside a group
counts as one contraction to round-off for the group, not one per block. The computation is differentiable, so mean(λ²) can be minimised; the QR
is `lipcore.qr.qr`, whose gradient stays finite when dead ReLU units leave a block's tangents
rank-deficient (|R_ii| at round-off counts as log eps and passes no gradient).

The chain starts at the first block whose input has at least k features and ends before the
first block whose output has fewer than k (e.g. a regression head), so k tangents always fit.
`forward_and_flossing_loss` runs a training batch and the flossing rows' tangents through the
blocks in one pass (docs/training.md, "Gradient flossing", for the costs).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from lipcore import tangent_chain
from lipcore.qr import qr_log_diagonal
from lipcore.tangents import propagate


def dual_tangents(module: nn.Module, h: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(module(h), J q) by forward-mode dual numbers, for any module: h (B, ...), q (k, n, ...)
    for the first n ≤ B examples.

    One pass over the k·n rows (h[:n] repeated k times): modules map each example on its own,
    so row (i, b) carries J_b q_i; the other B − n rows are a plain forward."""
    k, n = q.shape[0], q.shape[1]
    with fwAD.dual_level():
        dual = fwAD.make_dual(h[:n].repeat(k, *[1] * (h.dim() - 1)), q.reshape(k * n, *h.shape[1:]))
        out, tangents = fwAD.unpack_dual(module(dual))
    return _with_rest(module, h, out[:n]), tangents.reshape(k, n, *out.shape[1:])


def func_jvp_tangents(module: nn.Module, h: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same products by `torch.func.jvp`, which composes with `vmap` (dual tensors made by
    `forward_ad.make_dual` have no batching rule)."""
    k, n = q.shape[0], q.shape[1]
    out, tangents = torch.func.jvp(module, (h[:n].repeat(k, *[1] * (h.dim() - 1)),),
                                   (q.reshape(k * n, *h.shape[1:]),))
    return _with_rest(module, h, out[:n]), tangents.reshape(k, n, *out.shape[1:])


def _with_rest(module: nn.Module, h: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """module(h) given head = module(h[:n]): the remaining rows by a plain forward."""
    n = head.shape[0]
    return head if n == h.shape[0] else torch.cat([head, module(h[n:])])


def rule_tangents(block: nn.Module, h: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(block(h), J q) for h: (B, N) and tangents q: (k, B, N) → (B, M), (k, B, M): the
    explicit rules of `lipcore.tangents`, dual numbers for modules without one, each op on
    autograd's tape (the default before `lipcore.tangent_chain`; what it falls back to)."""
    return propagate(block, h, q, dual_tangents)


def jvp_block_tangents(block: nn.Module, h: torch.Tensor,
                       q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """As `rule_tangents` with `torch.func.jvp` for modules without a rule, so it composes
    with `vmap`: packed training takes this one."""
    return propagate(block, h, q, func_jvp_tangents)


Tangents = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _chain(model: nn.Module, x: torch.Tensor, n: int, k: int, generator: torch.Generator | None,
           tangents: Tangents | None, finish: bool, qr_every: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Run x (B, ...) through model.blocks with k tangents on its first n rows, re-orthonormalised
    by a QR after every `qr_every`-th block of the chain and after its last. `tangents` None:
    fused runs (`lipcore.tangent_chain`) where the blocks allow, `rule_tangents` elsewhere.

    Returns (h, log_r): h the last block output reached (B, ...) — the model's output when
    `finish`, which runs the blocks after the chain too — and log_r (n, k) = Σ log|R_ii| / T
    over the QRs taken, T the number of blocks in the chain."""
    blocks = getattr(model, "blocks", None)
    if blocks is None or len(blocks) == 0:
        raise ValueError("lyapunov_exponents: the model has no .blocks")
    h = x.flatten(1) if x.dim() > 2 else x
    return walk(blocks, lambda block, h: block(h), tangents or rule_tangents, h, n, k, generator, finish,
                qr_every, fuse=tangents is None)


def walk(blocks: Sequence, apply: Callable, tangents: Callable, h: torch.Tensor, n: int, k: int,
         generator: torch.Generator | None, finish: bool, qr_every: int = 1,
         lead: int = 0, fuse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """`_chain` over any sequence of blocks: `apply(block, h)` → out, `tangents(block, h, q)` →
    (out, J q). With `lead` leading member dims (a pack's stacked members, each its own
    parameters): h (*L, B, …), tangents (*L, k, n, …), log_r (*L, n, k); every member starts
    from the same Q₀. `fuse` (no lead dims): consecutive blocks whose modules all have a fused
    rule run with their QRs as one autograd node (`lipcore.tangent_chain`), the others by
    `tangents`."""
    if qr_every < 1:
        raise ValueError(f"flossing: qr_every must be >= 1, got {qr_every}")
    features = lead + 1
    q = None
    logs = []  # the log-diagonal (*L, n, k) of each QR's R
    fused_logs = []  # (n, k) Σ log-diagonals of each fused run
    plan = []  # fused steps not yet run
    plan_width = 0  # features after them
    length = pending = 0  # blocks in the chain; of them, blocks since the last QR
    done = False

    def orthonormalise(jq: torch.Tensor) -> torch.Tensor:
        qm, log_r = qr_log_diagonal(jq.movedim(lead, -1))  # (*L, n, M, k): columns are the
        logs.append(log_r)  # tangents; finite gradients when dead units leave them rank-deficient
        return qm.movedim(-1, lead)

    def flush() -> None:
        nonlocal h, q
        if plan:
            h, q, log_sum = tangent_chain.run(plan, h, q)
            fused_logs.append(log_sum)
            plan.clear()

    for block in blocks:
        if done or q is None and h.shape[features] < k:
            h = apply(block, h)
            continue
        if q is None:
            g = generator or torch.Generator().manual_seed(0)
            q0, _ = torch.linalg.qr(torch.randn(h.shape[features], k, generator=g, dtype=h.dtype))
            q = q0.T.to(h.device)[:, None, :].expand(*h.shape[:lead], k, n, h.shape[features])
        steps = tangent_chain.leaves(block) if fuse else None
        if steps is not None:
            width = h.shape[features] if not plan else plan_width
            for rule, module in steps:
                width = rule.width(module, width)
            if width < k:  # the chain ends before this block: no tangents through it
                if pending:
                    plan.append(tangent_chain.QR)
                    pending = 0
                flush()
                if not finish:
                    break
                h, done = apply(block, h), True
                continue
            plan += steps
            plan_width, length, pending = width, length + 1, pending + 1
            if pending == qr_every:
                plan.append(tangent_chain.QR)
                pending = 0
            continue
        flush()
        out, jq = tangents(block, h, q)
        h = out
        if out.shape[features] < k:  # e.g. a regression head: the chain ends before it
            if not finish:
                break
            done = True
            continue
        q, length, pending = jq, length + 1, pending + 1
        if pending == qr_every:
            q, pending = orthonormalise(q), 0
    if pending and plan:
        plan.append(tangent_chain.QR)
    elif pending:
        orthonormalise(q)
    flush()
    if not logs and not fused_logs:
        raise ValueError(f"lyapunov_exponents: no block keeps at least k={k} features")
    parts = fused_logs + ([torch.stack(logs).sum(0)] if logs else [])
    total = functools.reduce(torch.add, parts)  # not sum(…) + 0: each 0 + x is an op and a node
    return h, total / length


def step_generator(floss: dict, step: int) -> torch.Generator:
    """The generator of step `step`'s tangent seed Q₀ for the `flossing` section `floss`."""
    return torch.Generator().manual_seed(floss.get("seed", 0) * 1_000_003 + step)


def exponents(log_r: torch.Tensor) -> torch.Tensor:
    """(*L, n, k) per-row log growths → (*L, k) exponents, descending."""
    return torch.sort(log_r.mean(-2), descending=True).values


def lyapunov_exponents(model: nn.Module, x: torch.Tensor, k: int,
                       generator: torch.Generator | None = None,
                       tangents: Tangents | None = None, qr_every: int = 1) -> torch.Tensor:
    """The k largest finite-time Lyapunov exponents (descending), averaged over the batch x.

    x: (B, in_features); returns a (k,) tensor with gradients to the model's parameters.
    `tangents(block, h, q)` gives (block(h), J q); None (the default): fused runs of blocks
    and QRs (`lipcore.tangent_chain`) where every module has a fused rule, `rule_tangents`
    (explicit rules of `lipcore.tangents`, dual numbers for modules without one) elsewhere. `qr_every`: the
    re-orthonormalisation interval in blocks (module docstring).
    """
    return exponents(_chain(model, x, len(x), k, generator, tangents, finish=False, qr_every=qr_every)[1])


def flossing_loss(model: nn.Module, x: torch.Tensor, k: int,
                  generator: torch.Generator | None = None,
                  tangents: Tangents | None = None, qr_every: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean(λ²), λ): the penalty that drives the k exponents towards 0."""
    lam = lyapunov_exponents(model, x, k, generator, tangents, qr_every)
    return (lam ** 2).mean(), lam


def forward_and_flossing_loss(model: nn.Module, x: torch.Tensor, n: int, k: int,
                              generator: torch.Generator | None = None,
                              tangents: Tangents | None = None, qr_every: int = 1
                              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(model(x), *flossing_loss(model, x[:n], k)) in one pass where the model allows it.

    A model whose forward is exactly its blocks applied in order to x.flatten(1) says so with
    `chain_forward = True`; for it the training forward is the tangent propagation's primal,
    so every block's constrained weight (AOL rescaling, LDLT factors, …) and activations are
    computed once for both instead of twice. Other models take model(x) and `flossing_loss`.
    The results equal the two separate calls up to rounding (tests/lipcore/training/
    test_tangent_rules.py)."""
    if not getattr(model, "chain_forward", False):
        penalty, lam = flossing_loss(model, x[:n], k, generator, tangents, qr_every)
        return model(x), penalty, lam
    out, log_r = _chain(model, x, min(n, len(x)), k, generator, tangents, finish=True, qr_every=qr_every)
    lam = exponents(log_r)
    return out, (lam ** 2).mean(), lam
