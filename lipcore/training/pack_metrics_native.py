"""Evaluation metrics for every member of a pack by the model's stacked rules (no vmap).

The counterpart of `pack_metrics` for models with a stacked plan (`stacked_rules.plan`): the
test loss/accuracy chunks, and the metrics listed in `NATIVE_METRICS`, computed on the (P, …)
parameter stacks directly:

- `grad_norm`: one backward of the sum of the members' mean test losses gives each member's own
  gradient (the members are independent);
- `trace_covariances`: per-example gradients by giving each of the N examples its own copy of
  the member's parameters (leading dims (P, N), an expanded view: one backward for all), and
  mean c_kᵀ H c_k by second-order jets along the centred gradients (`stacked_jets`), K
  directions at a time so the (P, N, K, width) tangents stay under `JET_ELEMENTS`;
- `lyapunov`: the exponents by the stacked flossing chain (`stacked_flossing`; the plan needs
  its tangent rules).

`native_pack_metrics` gives None when a metric asked for, or the model's loss, has no native
form; the pack then takes `pack_metrics` (vmap) for the whole evaluation.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from lipcore.registry import Registry
from lipcore.training.metrics import MAX_EXAMPLES
from lipcore.training.pack_metrics import rows_of
from lipcore.training.stacked_jets import JetPlan, jet_plan
from lipcore.training.stacked_rules import StackedPlan, find_loss_rule

Params = dict[str, torch.Tensor]
JET_ELEMENTS = 1 << 20  # the most P·N·K·width tangent entries one jet pass holds (cache-sized:
#                         measured ≈ 2× faster than 1 << 23 for 32 deep linear members)


class Stacked:
    """What a native metric needs: the plan, its loss rule and jets (None: no jets), the loss,
    the run's config (`config`: the flossing section's `num_exponents` for `lyapunov`)."""

    def __init__(self, plan: StackedPlan, loss_fn: nn.Module, config: dict | None = None):
        self.plan, self.loss_fn, self.config = plan, loss_fn, config or {}
        self.loss_rule = find_loss_rule(loss_fn)
        self.jets: JetPlan | None = jet_plan(plan, loss_fn)

    def losses(self, params: Params, x: torch.Tensor, y: torch.Tensor, shared: bool,
               lead: int = 1) -> torch.Tensor:
        """(*L,) each copy's mean loss on (x, y)."""
        return self.loss_rule(self.loss_fn, self.plan.forward(params, x, lead, shared), y, lead)


#: fn(s, params, x, y, shared): x, y the test set, one for all (`shared`) or (P, N, …)
Metric = Callable[[Stacked, Params, torch.Tensor, torch.Tensor, bool], dict[str, torch.Tensor]]
NATIVE_METRICS: Registry[Metric] = Registry("native vectorised metric")
NEEDS_JETS = {"trace_covariances"}
NEEDS_TANGENTS = {"lyapunov"}


def _leaves(params: Params) -> Params:
    return {n: t.detach().requires_grad_() for n, t in params.items()}


def _flat(tree: Params, lead: int) -> torch.Tensor:
    """name → (*L, …) to (*L, D) in the parameters' order."""
    return torch.cat([t.flatten(lead) for t in tree.values()], -1)


@NATIVE_METRICS.register("grad_norm")
def grad_norm(s: Stacked, params: Params, x, y, shared) -> dict[str, torch.Tensor]:
    leaves = _leaves(params)
    grads = torch.autograd.grad(s.losses(leaves, x, y, shared).sum(), list(leaves.values()))
    return {"grad_norm": _flat(dict(zip(leaves, grads)), 1).norm(dim=-1)}


def per_example_grads(s: Stacked, params: Params, x: torch.Tensor, y: torch.Tensor,
                      shared: bool) -> torch.Tensor:
    """(P, N, D): each member's gradient of each example's loss; x (N, f) or (P, N, f)."""
    n = x.shape[0 if shared else 1]
    copies = {k: t.detach().unsqueeze(1).expand(t.shape[0], n, *t.shape[1:]).requires_grad_()
              for k, t in params.items()}
    each = (slice(None),) * (1 - shared) + (slice(None), None)  # every example its own batch
    xe, ye = x[each], y[each]
    if shared:
        xe, ye = xe[None], ye[None]
    losses = s.losses(copies, xe, ye, False, lead=2)
    grads = torch.autograd.grad(losses.sum(), list(copies.values()))
    return _flat(dict(zip(copies, grads)), 2)


@NATIVE_METRICS.register("trace_covariances")
def trace_covariances(s: Stacked, params: Params, x, y, shared) -> dict[str, torch.Tensor]:
    at = 0 if shared else 1
    x, y = x.narrow(at, 0, min(MAX_EXAMPLES, x.shape[at])), y.narrow(at, 0, min(MAX_EXAMPLES, y.shape[at]))
    g = per_example_grads(s, params, x, y, shared)  # (P, N, D)
    mean = g.mean(1)
    centred = g - mean[:, None]
    p, n = centred.shape[:2]
    sizes = [t[0].numel() for t in params.values()]
    widest = max(max(t.shape[1:]) if t.dim() > 1 else 1 for t in params.values())
    k = max(1, JET_ELEMENTS // (p * s.jets.rows(x, shared) * max(widest, x[(0,) * (at + 1)].numel())))
    parts = []
    with torch.no_grad():
        for c in centred.split(k, 1):
            directions = {name: piece.reshape(p, c.shape[1], *params[name].shape[1:])
                          for name, piece in zip(params, c.split(sizes, -1))}
            parts.append(s.jets.second(params, directions, x, y, s.loss_fn, shared))
    quad = torch.stack(parts).sum(0) / n
    return {"grad_norm_squared": (mean * mean).sum(-1),
            "trace_gradient_covariance": centred.square().sum(-1).mean(1),
            "trace_hessian_covariance": quad}


@NATIVE_METRICS.register("lyapunov")
def lyapunov(s: Stacked, params: Params, x, y, shared) -> dict[str, torch.Tensor]:
    """`metrics.lyapunov` by `stacked_flossing.lyapunov`."""
    from lipcore.training.stacked_flossing import lyapunov as exponents

    k = s.config.get("flossing", {}).get("num_exponents", 4)
    with torch.no_grad():
        lam = exponents(s.plan, params, x, shared, k)
    return {f"lyapunov/{i}": lam[:, i] for i in range(k)}


def _test_loss(s: Stacked, params: Params, x: torch.Tensor, y: torch.Tensor, shared: bool,
               task: str) -> list[torch.Tensor]:
    """Per chunk of `loop.EVAL_CHUNK` test examples, (P,) its mean loss and its hit count."""
    from lipcore.training.loop import EVAL_CHUNK

    out = []
    at = 0 if shared else 1
    for i in range(0, x.shape[at], EVAL_CHUNK):
        xi, yi = x.narrow(at, i, min(EVAL_CHUNK, x.shape[at] - i)), \
            y.narrow(at, i, min(EVAL_CHUNK, y.shape[at] - i))
        pred = s.plan.forward(params, xi, 1, shared)
        out.append(s.loss_rule(s.loss_fn, pred, yi, 1))
        if task != "regression":
            per = yi[(0,) * (at + 1)].numel()
            hits = (pred.argmax(-1) == yi).flatten(1).float().sum(1)
            out.append(hits / per)
    return out


def native_pack_metrics(names: list[str], s: Stacked, stacked: Params, x: torch.Tensor,
                        y: torch.Tensor, shared: bool, task: str) -> list[dict[str, float]] | None:
    """`pack_metrics`' rows by the stacked rules; None when one of `names` has no native form
    (or needs jets the model lacks)."""
    chosen = list(names)
    if s.loss_rule is None or any(n not in NATIVE_METRICS for n in chosen) or \
            (s.jets is None and NEEDS_JETS & set(chosen)) or \
            (not s.plan.tangents and NEEDS_TANGENTS & set(chosen)):
        return None
    values: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for j, t in enumerate(_test_loss(s, stacked, x, y, shared, task)):
            values[f"chunk/{j}"] = t
    for name in chosen:
        values.update(NATIVE_METRICS.get(name)(s, stacked, x, y, shared))
    lists = {k: v.detach().tolist() for k, v in values.items()}
    return rows_of(lists, len(x) if shared else x.shape[1], task)
