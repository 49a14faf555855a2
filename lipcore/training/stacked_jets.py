"""Second-order directional derivatives of a stacked chain, many directions at once (jets).

`trace_covariances` needs, per member, Σ_k c_kᵀ H c_k over K directions c_k (the centred
per-example gradients), H the Hessian of the mean test loss. c_kᵀ H c_k is d²/dt² L(θ + t c_k)
at t = 0, which a forward pass of Taylor coefficients gives without forming H c_k: each layer
maps (h, ḣ_k, ḧ_k) to its output's along the parameter direction k, and the loss ends with
d²L/dt². For a linear layer out = h Wᵀ + b with direction (Ẇ_k, ḃ_k):

    ȯ_k = ḣ_k Wᵀ + h Ẇ_kᵀ + ḃ_k,    ö_k = ḧ_k Wᵀ + 2 ḣ_k Ẇ_kᵀ

and for an elementwise σ: ȯ_k = σ'(h) ḣ_k, ö_k = σ''(h) ḣ_k² + σ'(h) ḧ_k. ö enters the loss
linearly (MSE: 2·mean(ȯ² + (out − y)·ö)), and every map that carries it is linear and the same
for all k, so only its sum S = Σ_k ö_k is propagated: S' = S Wᵀ + 2 Σ_k ḣ_k Ẇ_kᵀ, one product
whose inner dimension runs over (k, input feature). The first-order ḣ_k are kept per direction
in a (P, N, K, f) layout, so each layer is a few large batched matrix products (no vmap, no
(P·K) batch of tiny ones). Exact: the quantity the solo metric's Hessian-vector products give,
up to rounding.

    jet(module, params, dparams, h, dh, s) → (out, dout, s_out)
    params: local name → (P, …); dparams: (P, K, …) the K directions; h: (P, N, f) or (N, f)
    (an input shared by all members); dh: (P, N, K, f) and s: (P, N, f), or None (zero: the input does not
    move).

    loss_jet(loss_fn, out, dout, s, y) → (P,) Σ_k d²/dt² of each member's mean loss.

Rules are keyed like `stacked_rules` (class along the MRO, forward unchanged); `jet_plan` is
None when some step of the model's stacked plan, or its loss, has no jet.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from lipcore.training.linear_prefix import basis, reassociated
from lipcore.training.stacked_rules import StackedPlan, find_loss_rule, lookup, registrar

Jet = Callable[..., tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]
JETS: dict[type, tuple[Callable, Jet]] = {}
LOSS_JETS: dict[type, tuple[Callable, Callable]] = {}
GRAM_LOSS_JETS: dict[type, tuple[Callable, Callable]] = {}


jet = registrar(JETS)
loss_jet = registrar(LOSS_JETS)
#: `@gram_loss_jet(cls)`: fn(loss_fn, x, out, dm, sm, y) → (P,), the loss jet of out = x·M
#: from M's own jet on the input basis (dm (P, in, K, d), sm (P, in, d) or None), x (…, N, in)
gram_loss_jet = registrar(GRAM_LOSS_JETS)


def _add(*terms: torch.Tensor | None) -> torch.Tensor | None:
    present = [t for t in terms if t is not None]
    if not present:
        return None
    out = present[0]
    for t in present[1:]:
        out = out + t
    return out


@jet(nn.Linear)
def _linear(module, params, dparams, h, dh, s):
    w, dw = params["weight"], dparams["weight"]  # (P, out, in), (P, K, out, in)
    p, k, n_out, n_in = dw.shape
    n = h.shape[-2]
    out = torch.matmul(h, w.mT)
    # h Ẇ_kᵀ for all k: (P, N, in) @ (P, in, K·out)
    dout = torch.matmul(h, dw.permute(0, 3, 1, 2).reshape(p, n_in, k * n_out))
    dout = dout.reshape(p, n * k, n_out)
    if dh is not None:
        flat = dh.reshape(p, n * k, n_in)
        dout = torch.baddbmm(dout, flat, w.mT)
        moved = torch.bmm(dh.reshape(p, n, k * n_in), dw.transpose(2, 3).reshape(p, k * n_in, n_out))
        s = _add(None if s is None else torch.bmm(s, w.mT), 2 * moved)
    dout = dout.reshape(p, n, k, n_out)
    if "bias" in params:
        out = out + params["bias"].unsqueeze(-2)
        dout = dout + dparams["bias"].unsqueeze(1)
    return out, dout, s


@jet(nn.Identity)
def _identity(module, params, dparams, h, dh, s):
    return h, dh, s


def _elementwise(out: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor | None, dh, s):
    if dh is None:
        return out, None, None
    curved = None if s2 is None else s2 * dh.square().sum(2)
    return out, s1.unsqueeze(-2) * dh, _add(None if s is None else s1 * s, curved)


@jet(nn.Tanh)
def _tanh(module, params, dparams, h, dh, s):
    out = torch.tanh(h)
    s1 = 1 - out.square()
    return _elementwise(out, s1, -2 * out * s1, dh, s)


@jet(nn.ReLU)
def _relu(module, params, dparams, h, dh, s):
    out = F.relu(h)
    return _elementwise(out, (h > 0).to(h.dtype), None, dh, s)  # σ'' = 0, as autograd's


def _mean_over(t: torch.Tensor, lead: int) -> torch.Tensor:
    return t.flatten(lead).mean(-1)


@loss_jet(nn.MSELoss)
def _mse(loss_fn, out, dout, s, y):
    total = _mean_over(dout.square().sum(2), 1)
    if s is not None:
        total = total + _mean_over((out - y) * s, 1)
    return 2 * total


@gram_loss_jet(nn.MSELoss)
def _mse_gram(loss_fn, x, out, dm, sm, y):
    """`_mse` for out = x·M without the (P, N, K, d) tangents of the rows: with G = xᵀx,
    Σ_{j,k} ‖x_j Ṁ_k‖² = Σ_k ⟨Ṁ_k, G Ṁ_k⟩ and Σ_j (out_j − y_j)·(x_j S) = ⟨S, xᵀ(out − y)⟩."""
    p, width, k, d = dm.shape
    flat = dm.reshape(p, width, k * d)
    total = (flat * torch.matmul(x.mT @ x, flat)).sum((-2, -1))
    if sm is not None:
        total = total + (sm * torch.matmul(x.mT, out - y)).sum((-2, -1))
    return 2 * total / (x.shape[-2] * d)


def _register() -> None:
    from lipcore.training.losses import SequenceCrossEntropy

    @loss_jet(SequenceCrossEntropy)
    def _cross_entropy(loss_fn, out, dout, s, y):
        """ℓ = logsumexp(o) − o_y per example: Σ_k ℓ̈_k = Σ_k [Σ p ȯ_k² − (Σ p ȯ_k)²] + Σ (p − e_y) S."""
        p = torch.softmax(out, -1)
        first = (p.unsqueeze(-2) * dout.square()).sum(-1) - (p.unsqueeze(-2) * dout).sum(-1).square()
        total = _mean_over(first.sum(-1), 1)
        if s is not None:
            target = F.one_hot(y, out.shape[-1]).to(out.dtype)
            total = total + _mean_over(((p - target) * s).sum(-1), 1)
        return total


_register()


class JetPlan:
    """The jet rules of a stacked plan's steps and of its loss."""

    def __init__(self, plan: StackedPlan, jets: list[Jet], loss: Callable,
                 gram_loss: Callable | None = None):
        self.plan, self.jets, self.loss, self.gram_loss = plan, jets, loss, gram_loss

    def second(self, params: dict[str, torch.Tensor], directions: dict[str, torch.Tensor],
               x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module, shared: bool) -> torch.Tensor:
        """(P,) Σ_k d²/dt² of each member's mean loss on (x, y) along its K directions
        (name → (P, K, …)); x (N, f) and y shared by all members, or (P, N, …). Leading
        linear maps are re-associated where that is cheaper (`linear_prefix`); a chain that is
        linear throughout ends in its loss's Gram form when it has one."""
        h = x.flatten(1 if shared else 2)
        steps = list(zip(self.plan.steps, self.jets))
        start = reassociated([step.module for step in self.plan.steps], h.shape[-1], h.shape[-2])
        dh = s = None
        if start:  # the jet of the leading linear maps on the identity basis, mapped by h
            m, dm, sm = self._run(steps[:start], params, directions, basis(h), None, None)
            if dm is None:
                return self._zero(params, h)
            if start == len(steps) and self.gram_loss is not None:
                return self.gram_loss(loss_fn, h, torch.matmul(h, m), dm, sm, y)
            p, width, k, out = dm.shape
            dh = torch.matmul(h, dm.reshape(p, width, k * out)).reshape(p, -1, k, out)
            s = None if sm is None else torch.matmul(h, sm)
            h = torch.matmul(h, m)
        h, dh, s = self._run(steps[start:], params, directions, h, dh, s)
        if dh is None:  # no parameter moved anything
            return self._zero(params, h)
        return self.loss(loss_fn, h, dh, s, y)

    def rows(self, x: torch.Tensor, shared: bool) -> int:
        """How many rows the K directions' tangents have per member on x: the input width
        when the whole chain is re-associated into its loss's Gram form, else x's rows."""
        h = x.flatten(1 if shared else 2)
        start = reassociated([step.module for step in self.plan.steps], h.shape[-1], h.shape[-2])
        whole = start == len(self.plan.steps) and self.gram_loss is not None
        return h.shape[-1] if whole else h.shape[-2]

    @staticmethod
    def _zero(params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(next(iter(params.values()))), dtype=like.dtype, device=like.device)

    @staticmethod
    def _run(steps: list, params: dict[str, torch.Tensor], directions: dict[str, torch.Tensor],
             h: torch.Tensor, dh: torch.Tensor | None, s: torch.Tensor | None) -> tuple:
        """(h, dh, s) through `steps` ((plan step, jet) pairs) one after another."""
        for step, fn in steps:
            h, dh, s = fn(step.module, {a: params[b] for a, b in step.names},
                          {a: directions[b] for a, b in step.names}, h, dh, s)
        return h, dh, s


def jet_plan(plan: StackedPlan | None, loss_fn: object) -> JetPlan | None:
    """The jets of `plan` and `loss_fn`, or None when some part has none."""
    if plan is None:
        return None
    jets = [lookup(JETS, step.module) for step in plan.steps]
    loss = lookup(LOSS_JETS, loss_fn) if find_loss_rule(loss_fn) is not None else None
    if loss is None or any(j is None for j in jets):
        return None
    return JetPlan(plan, jets, loss, lookup(GRAM_LOSS_JETS, loss_fn))
