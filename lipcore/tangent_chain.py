"""Fused tangent chains: a run of flossing blocks and their QRs as one autograd node.

The per-module path (`lipcore.tangents.propagate`, then `lipcore.qr.qr` after every
`qr_every` blocks) records ~10 autograd nodes per block (two linear maps, the activation and
its tangent product, the QR, the log-diagonal) and on the CPU each small op costs more in
dispatch and graph bookkeeping than in arithmetic (width 32, k = 4: docs/training.md, "Gradient
flossing", for the breakdown). A run of consecutive chain blocks whose leaf modules all have a
fused rule is instead one `torch.autograd.Function`: its forward computes the primal, the
tangents and the QRs block by block with explicit products and no graph, keeping only what the
backward needs; its backward applies the hand-written vector-Jacobian products in reverse.

Layout inside a run: the batch p (B, N) and the tangents t (n, k, N), the k tangents of each
of the first n examples as rows, so a linear map is one matmul for all n·k of them, and t.mT
(n, N, k) is the column-major matrix LAPACK's QR takes (and Q.mT comes back contiguous). At a
QR t is replaced by Q and log max(|R_ii|, floor) (n, k) is summed into the run's output; its
backward is `lipcore.qr`'s: `log_diagonal_backward` (four ops, ḡ_R being diagonal) where the
QR saw no dead column, the masked formula where it did (the mask kept from the forward, so no
host sync on a GPU). Parameter gradients that the reverse walk does not need (Linear's weight
and bias) are left as `lipcore.batched_grads` placeholders and taken for the whole run at once.

A rule is registered for a module class with `@fused(cls)` and found along the MRO; a block
(an `nn.Sequential` is flattened) with a leaf that has none takes the per-module path.
Second derivatives through a run are refused (`once_differentiable`).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from lipcore.batched_grads import Gram, RowSum, resolve
from lipcore.qr import _qr_backward, floor_of, log_diagonal_backward
from lipcore.tangents import by_mro

Plan = Sequence  # of (FusedRule, module) pairs and QR


class FusedRule:
    """How one module type maps (p, t) forward and their gradients back: p (B, N) the batch,
    t (n, k, N) the k tangents of each of its first n rows (module docstring)."""

    def supports(self, module: nn.Module) -> bool:
        """Whether this instance's settings are covered (else the per-module path)."""
        return True

    def params(self, module: nn.Module) -> tuple[torch.Tensor | None, ...]:
        """The tensors the map reads and may pass gradients to (None for an absent bias)."""
        return ()

    def width(self, module: nn.Module, n_in: int) -> int:
        """Output features for n_in input features."""
        return n_in

    def forward(self, module, params, p: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """(p_out (B, M), t_out (n, k, M), saved for `backward`)."""
        raise NotImplementedError

    def backward(self, module, params, saved: tuple, gp: torch.Tensor,
                 gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """(ḡ_p, ḡ_t, ḡ of each of `params`) from the output gradients; a parameter's ḡ may be
        a `lipcore.batched_grads` placeholder, computed with the run's others of its shape."""
        raise NotImplementedError


FUSED: dict[type, FusedRule] = {}


def fused(*classes: type):
    """Register a `FusedRule` subclass (instantiated once) for `classes` and their subclasses."""
    def register(cls: type[FusedRule]) -> type[FusedRule]:
        for c in classes:
            FUSED[c] = cls()
        return cls
    return register


def find_fused(module: nn.Module) -> FusedRule | None:
    return by_mro(FUSED, module)


def leaves(block: nn.Module) -> list[tuple[FusedRule, nn.Module]] | None:
    """The block's leaf modules in order with their rules; None when one has no rule."""
    if isinstance(block, nn.Sequential):
        out = []
        for child in block:
            part = leaves(child)
            if part is None:
                return None
            out += part
        return out
    rule = find_fused(block)
    return None if rule is None or not rule.supports(block) else [(rule, block)]


def per_example(o: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """o's first n rows (n, 1, M), to broadcast over the k tangents of t (n, k, M)."""
    return o[: t.shape[0]].unsqueeze(1)


class Linear(FusedRule):
    """p Wᵀ + b and t Wᵀ (tangents carry no bias); ḡ_W = ḡ_pᵀ p + Σ ḡ_tᵀ t and ḡ_b = Σ ḡ_p,
    taken for all the run's Linear steps at once (`lipcore.batched_grads`)."""

    def params(self, module):
        return module.weight, module.bias

    def width(self, module, n_in):
        return module.out_features

    def forward(self, module, params, p, t):
        w, b = params
        return F.linear(p, w, b), F.linear(t, w), (p, t)

    def backward(self, module, params, saved, gp, gt):
        (p, t), (w, b) = saved, params
        return gp @ w, gt @ w, (Gram((gp, p), (gt, t)), None if b is None else RowSum(gp))


fused(nn.Linear)(Linear)


@fused(nn.Identity)
class Identity(FusedRule):
    def forward(self, module, params, p, t):
        return p, t, ()

    def backward(self, module, params, saved, gp, gt):
        return gp, gt, ()


@fused(nn.Tanh)
class Tanh(FusedRule):
    """o = tanh(p); tangents s·(1 − o²) with o the example's output. The tangent factor depends
    on p too: ḡ_p[:n] gains −2 o Σ_i ḡ_t_i s_i (1 − o²) = −2 o Σ_i ḡ_s_i s_i, with ḡ_s = ḡ_t (1 − o²)
    the tangents' own gradient (one product fewer)."""

    def forward(self, module, params, p, t):
        o = torch.tanh(p)
        head = o[: t.shape[0]]  # (n, M): the examples that carry tangents
        on = head.unsqueeze(1)
        return o, torch.ops.aten.tanh_backward(t, on), (o, head, on, t)

    def backward(self, module, params, saved, gp, gt):
        o, head, on, s = saved
        g = torch.ops.aten.tanh_backward(gp, o)
        gs = torch.ops.aten.tanh_backward(gt, on)
        g[: s.shape[0]].addcmul_(torch.linalg.vecdot(gs, s, dim=1), head, value=-2.0)
        return g, gs, ()


@fused(nn.ReLU)
class ReLU(FusedRule):
    """relu(p); tangents s where the example's unit is alive (as forward mode)."""

    def forward(self, module, params, p, t):
        o = F.relu(p)
        on = per_example(o, t)
        return o, torch.ops.aten.threshold_backward(t, on, 0), (o, on)

    def backward(self, module, params, saved, gp, gt):
        o, on = saved
        return (torch.ops.aten.threshold_backward(gp, o, 0),
                torch.ops.aten.threshold_backward(gt, on, 0), ())


def _register_layers() -> None:
    from lipcore.layers.activations import MaxMin
    from lipcore.layers.base import AffineLinear
    from lipcore.models.lipschitz import Scale

    @fused(AffineLinear)
    class Affine(Linear):
        """The constrained weight (AOL's rescaled W, …) is computed once outside the run, by
        autograd, and enters it as a plain matrix."""

        def params(self, module):
            return module.applied_weight(), module.bias

    @fused(Scale)
    class ScaleRule(FusedRule):
        def forward(self, module, params, p, t):
            return p * module.factor, t * module.factor, ()

        def backward(self, module, params, saved, gp, gt):
            return gp * module.factor, gt * module.factor, ()

    def pair(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(b + w·(a − b), a − w·(a − b), rest) of x's halves a, b along its last dim."""
        half = w.shape[-1]
        a, b, rest = x[..., :half], x[..., half: 2 * half], x[..., 2 * half:]
        diff = a - b
        return torch.cat([torch.addcmul(b, w, diff), torch.addcmul(a, w, diff, value=-1.0), rest], -1)

    def unpair(g: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """`pair`'s vector-Jacobian product at fixed w."""
        half = w.shape[-1]
        gu, gl, rest = g[..., :half], g[..., half: 2 * half], g[..., 2 * half:]
        ga = torch.addcmul(gl, w, gu - gl)
        return torch.cat([ga, gu + gl - ga, rest], -1)

    @fused(MaxMin)
    class MaxMinRule(FusedRule):
        """Features i and i + C/2 → (max, min) = (b + w·(a − b), a − w·(a − b)) with
        w = [a > b] + ½[a = b] from the batch (a tie passes the mean, as torch's forward mode
        and `maximum`'s gradient), constant almost everywhere; an odd last feature passes."""

        def supports(self, module):
            return module.dim in (1, -1)  # p is (B, features)

        def forward(self, module, params, p, t):
            half = p.shape[1] // 2
            a, b = p[:, :half], p[:, half: 2 * half]
            w = (a > b).to(p.dtype) + 0.5 * (a == b).to(p.dtype)
            wn = per_example(w, t)
            return pair(p, w), pair(t, wn), (w, wn)

        def backward(self, module, params, saved, gp, gt):
            w, wn = saved
            return unpair(gp, w), unpair(gt, wn), ()


_register_layers()


class QRStep:
    """A re-orthonormalisation inside a run (its position in the plan)."""


QR = QRStep()


def log_diagonals(rs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(diag (T, n, k), dead (T, n, k), Σ_T log max(|R_ii|, floor) (n, k)) of a run's T factors
    R (n, k, k), taken at once after the run rather than per QR (fewer small ops)."""
    diag = torch.diagonal(torch.stack(rs), dim1=-2, dim2=-1)
    size = diag.abs()
    floor = floor_of(size)
    return diag, size < floor, torch.log(torch.maximum(size, floor)).sum(0)


def qr_backward(ctx, i: int, qt: torch.Tensor, r: torch.Tensor, gt: torch.Tensor | None,
                g_log: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """ḡ_t (n, k, M) before the run's i-th QR (qt = Qᵀ (n, k, M), R (n, k, k)) from ḡ of its Q as
    tangents gt (None: unused) and of the run's Σ log-diagonals g_log (n, k) (d its diag_embed,
    the same for every QR of the run). `lipcore.qr`'s gradient: its four-op form for a diagonal
    ḡ_R when the forward saw no dead column, the masked formula otherwise."""
    if not ctx.any_dead[i]:
        return log_diagonal_backward(qt, r, gt, d)
    dead = ctx.dead[i]
    g_r = torch.diag_embed(torch.where(dead, 0.0, g_log / ctx.diag[i]))
    g_q = None if gt is None else gt.mT
    return _qr_backward(qt.mT, r, g_q, g_r, may_branch=not r.is_cuda, dead=dead).mT


def below_autograd():
    """A context in which ops skip autograd's dispatch keys (Autograd and ADInplaceOrView), as
    torch's own kernels run below them. A run's forward and backward record nothing and keep
    their own saved tensors, yet under plain no_grad each of their ~15 ops and ~10 views a block
    still passes the Autograd kernel (a no-grad check, then a redispatch) and the ADInplaceOrView
    one (view metadata, version bumps): ≈ 12 % of the run's time at width 32. Nothing done under
    it may be in-place on a tensor that autograd tracks (the rules' forwards are out of place,
    their backwards update only tensors they made), since version counters are not bumped."""
    return torch._C._AutoDispatchBelowADInplaceOrView()


class _Run(torch.autograd.Function):
    """(h, q, *params) → (h_out, q_out, Σ log-diagonals (n, k)) for a plan of steps, each step
    a QR or (rule, module, its slice of params)."""

    @staticmethod
    def forward(ctx, plan, counts, h, q, *params):
        with below_autograd():
            p, t, log_sum = _Run.walk_forward(ctx, plan, counts, h, q, params)
        # outside it, as before: q_out a view of t (modifying it in place is refused, as for any
        # view a Function returns), p a detached alias: p may be held in ctx.saved (a Tanh step
        # keeps its output) and, returned as is, would get this node as grad_fn, a tensor ↔ node
        # cycle through C++ that Python's collector cannot see: every run's saved tensors
        # (≈ 1 MB for the depth-30 bench MLP) leaked, and each new allocation came from fresh
        # pages (two page faults per op, ≈ 1 ms a step)
        return p.detach(), t.transpose(0, 1), log_sum

    @staticmethod
    def walk_forward(ctx, plan, counts, h, q, params):
        p, t = h.detach(), q.transpose(0, 1).contiguous()
        steps, saved, rs, offset = [], [], [], 0
        for step, count in zip(plan, counts):
            if step is QR:  # t.mT (n, M, k) is column-major, as LAPACK takes it and gives Q back
                qm, r = torch.linalg.qr(t.mT)
                t = qm.mT
                saved.append((t, r, len(rs)))
                rs.append(r)
                steps.append(step)
                continue
            rule, module = step
            mine = params[offset: offset + count]
            p, t, keep = rule.forward(module, mine, p, t)
            saved.append(keep)
            steps.append((rule, module, offset, count))
            offset += count
        ctx.steps, ctx.saved = steps, saved
        ctx.presence = [x is not None for x in params]
        ctx.save_for_backward(*[x for x in params if x is not None])
        ctx.set_materialize_grads(False)
        ctx.shapes, ctx.like = (p.shape, t.shape), {"dtype": t.dtype, "device": t.device}
        if not rs:
            return p, t, torch.zeros(t.shape[:2], **ctx.like)
        ctx.diag, ctx.dead, log_sum = log_diagonals(rs)
        # which QRs saw a dead column: one read for the run on the CPU; on a GPU (no sync) all
        ctx.any_dead = ctx.dead.flatten(1).any(1).tolist() if t.device.type == "cpu" else [True] * len(rs)
        return p, t, log_sum

    @staticmethod
    @once_differentiable
    def backward(ctx, g_h, g_q, g_log):
        with below_autograd():
            return _Run.walk_backward(ctx, g_h, g_q, g_log)

    @staticmethod
    def walk_backward(ctx, g_h, g_q, g_log):
        steps = ctx.steps
        kept = iter(ctx.saved_tensors)
        params = [next(kept) if has else None for has in ctx.presence]
        p_shape, t_shape = ctx.shapes
        gp = torch.zeros(p_shape, **ctx.like) if g_h is None else g_h
        gt = None if g_q is None else g_q.transpose(0, 1)
        if gt is None and steps[-1] is not QR:
            gt = torch.zeros(t_shape, **ctx.like)
        if g_log is None:
            g_log = torch.zeros(t_shape[:2], **ctx.like)
        d = torch.diag_embed(g_log) if hasattr(ctx, "diag") else None
        grads: list = [None] * len(params)
        for step, keep in zip(reversed(steps), reversed(ctx.saved)):
            if step is QR:
                gt = qr_backward(ctx, keep[2], keep[0], keep[1], gt, g_log, d)
                continue
            rule, module, offset, count = step
            gp, gt, grads[offset: offset + count] = rule.backward(
                module, params[offset: offset + count], keep, gp, gt)
        return (None, None, gp, gt.transpose(0, 1), *resolve(grads))


def run(plan: Plan, h: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Apply `plan` (fused steps and QRs) to h (B, N) and its first n rows' tangents q (k, n, N):
    (h_out (B, M), q_out (k, n, M), Σ over the plan's QRs of log max(|R_ii|, floor) (n, k))."""
    params, counts = [], []
    for step in plan:
        got = () if step is QR else step[0].params(step[1])
        params += got
        counts.append(len(got))
    return _Run.apply(tuple(plan), counts, h, q, *params)
