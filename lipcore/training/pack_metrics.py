"""Evaluation metrics computed for every member of a pack at once (vmap over the member
dimension of the stacked parameters), for the metrics whose per-member cost dominates a pack.

Each entry computes, for one member's parameters θ (a name → tensor dict), what the metric of
the same name in `lipcore.training.metrics` computes on a model holding θ, written with
`torch.func` so it composes with vmap:

- `grad_norm`: ‖∇ L(θ)‖ of the mean test loss;
- `trace_covariances`: with per-example gradients g_i on the first `MAX_EXAMPLES` test
  examples, ḡ their mean and c_i = g_i − ḡ: ‖ḡ‖², mean‖c_i‖² and mean c_iᵀ H c_i, the
  Hessian-vector products by the pullback (vjp) of grad, vmapped over the c_i.

Metrics not listed here are computed member by member by the solo code.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vjp, vmap

from lipcore.registry import Registry
from lipcore.training.metrics import MAX_EXAMPLES

Params = dict[str, torch.Tensor]
VECTOR_METRICS: Registry[Callable[..., dict[str, torch.Tensor]]] = Registry("vectorised metric")


def _flat(tree: Params, names: list[str], rows: int | None = None) -> torch.Tensor:
    if rows is None:
        return torch.cat([tree[n].reshape(-1) for n in names])
    return torch.cat([tree[n].reshape(rows, -1) for n in names], 1)


def _mean_loss(model: nn.Module, loss_fn: Callable) -> Callable:
    def loss(params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_fn(functional_call(model, params, (x,)), y)
    return loss


@VECTOR_METRICS.register("grad_norm")
def grad_norm(model: nn.Module, params: Params, x, y, loss_fn) -> dict[str, torch.Tensor]:
    g = grad(_mean_loss(model, loss_fn))(params, x, y)
    return {"grad_norm": _flat(g, list(params)).norm()}


@VECTOR_METRICS.register("trace_covariances")
def trace_covariances(model: nn.Module, params: Params, x, y, loss_fn) -> dict[str, torch.Tensor]:
    names = list(params)
    x, y = x[:MAX_EXAMPLES], y[:MAX_EXAMPLES]
    loss = _mean_loss(model, loss_fn)
    one = grad(lambda p, xi, yi: loss(p, xi[None], yi[None]))
    g = _flat(vmap(one, in_dims=(None, 0, 0))(params, x, y), names, len(x))  # (N, D)
    mean = g.mean(0)
    centred = g - mean
    sizes = [params[n].numel() for n in names]

    _, pullback = vjp(lambda p: grad(loss)(p, x, y), params)

    def hvp(c: torch.Tensor) -> torch.Tensor:
        cotangent = {n: t.reshape(params[n].shape) for n, t in zip(names, c.split(sizes))}
        return _flat(pullback(cotangent)[0], names)

    quad = (centred * vmap(hvp)(centred)).sum(1).mean()
    return {"grad_norm_squared": mean @ mean,
            "trace_gradient_covariance": (centred ** 2).sum(1).mean(),
            "trace_hessian_covariance": quad}


def pack_metrics(names: list[str], model: nn.Module, stacked: Params, x: torch.Tensor,
                 y: torch.Tensor, loss_fn: Callable, shared: bool) -> list[dict[str, float]]:
    """The `names` that have a vectorised form, for every member of `stacked` (name → (P, …)):
    one dict per member. x, y: the test set, one for all (`shared`) or stacked (P, N, …)."""
    chosen = [n for n in names if n in VECTOR_METRICS]
    if not chosen:
        return [{} for _ in range(len(next(iter(stacked.values()))))]
    was = model.training
    model.eval()
    try:
        def all_of(params: Params, xi: torch.Tensor, yi: torch.Tensor) -> dict[str, torch.Tensor]:
            out: dict[str, torch.Tensor] = {}
            for name in chosen:
                out.update(VECTOR_METRICS.get(name)(model, params, xi, yi, loss_fn))
            return out

        dims = None if shared else 0
        values = vmap(all_of, in_dims=(0, dims, dims))(stacked, x, y)
    finally:
        model.train(was)
    lists = {k: v.detach().tolist() for k, v in values.items()}
    return [{k: v[j] for k, v in lists.items()} for j in range(len(next(iter(lists.values()))))]

