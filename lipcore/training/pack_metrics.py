"""Evaluation metrics computed for every member of a pack at once (vmap over the member
dimension of the stacked parameters), for the metrics whose per-member cost dominates a pack.

Each entry computes, for one member's parameters θ (a name → tensor dict), what the metric of
the same name in `lipcore.training.metrics` computes on a model holding θ, written with
`torch.func` so it composes with vmap:

- `grad_norm`: ‖∇ L(θ)‖ of the mean test loss;
- `lyapunov`: the k = `flossing.num_exponents` largest exponents on the first 64 test inputs,
  tangents by `torch.func.jvp`;
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


class _Exponents(nn.Module):
    """`lyapunov_exponents` as a module call, so functional_call can swap the parameters."""

    def __init__(self, model: nn.Module, k: int):
        super().__init__()
        self.model, self.k = model, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from lipcore.flossing import jvp_block_tangents, lyapunov_exponents

        return lyapunov_exponents(self.model, x, self.k, tangents=jvp_block_tangents)


@VECTOR_METRICS.register("lyapunov")
def lyapunov(model: nn.Module, params: Params, x, y, loss_fn, cfg) -> dict[str, torch.Tensor]:
    k = (cfg or {}).get("flossing", {}).get("num_exponents", 4)
    lam = functional_call(_Exponents(model, k), {f"model.{n}": t for n, t in params.items()},
                          (x[:64],))
    return {f"lyapunov/{i}": lam[i] for i in range(k)}


@VECTOR_METRICS.register("grad_norm")
def grad_norm(model: nn.Module, params: Params, x, y, loss_fn, cfg=None) -> dict[str, torch.Tensor]:
    g = grad(_mean_loss(model, loss_fn))(params, x, y)
    return {"grad_norm": _flat(g, list(params)).norm()}


@VECTOR_METRICS.register("trace_covariances")
def trace_covariances(model: nn.Module, params: Params, x, y, loss_fn, cfg=None) -> dict[str, torch.Tensor]:
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


def _test_loss(model: nn.Module, params: Params, x, y, loss_fn, task: str) -> list[torch.Tensor]:
    """Per chunk of `loop.EVAL_CHUNK` test examples: its mean loss and its hit count, as
    `loop.evaluate` takes them (the caller sums them in the same order)."""
    from lipcore.training.loop import EVAL_CHUNK

    out = []
    for i in range(0, len(x), EVAL_CHUNK):
        pred = functional_call(model, params, (x[i:i + EVAL_CHUNK],))
        yi = y[i:i + EVAL_CHUNK]
        out.append(loss_fn(pred, yi))
        if task != "regression":
            per = yi[0].numel() if yi.dim() > 1 else 1
            out.append((pred.argmax(-1) == yi).float().sum() / per)
    return out


def pack_metrics(names: list[str], model: nn.Module, stacked: Params, x: torch.Tensor,
                 y: torch.Tensor, loss_fn: Callable, shared: bool, task: str,
                 cfg: dict) -> list[dict[str, float]]:
    """For every member of `stacked` (name → (P, …)): `test_loss` (and `test_acc`) as
    `loop.evaluate` gives them, and the `names` that have a vectorised form; one dict per
    member. x, y: the test set, one for all (`shared`) or stacked (P, N, …)."""
    chosen = [n for n in names if n in VECTOR_METRICS]
    was = model.training
    model.eval()
    try:
        def all_of(params: Params, xi: torch.Tensor, yi: torch.Tensor) -> dict[str, torch.Tensor]:
            out: dict[str, torch.Tensor] = {}
            for j, t in enumerate(_test_loss(model, params, xi, yi, loss_fn, task)):
                out[f"chunk/{j}"] = t
            for name in chosen:
                out.update(VECTOR_METRICS.get(name)(model, params, xi, yi, loss_fn, cfg))
            return out

        dims = None if shared else 0
        values = vmap(all_of, in_dims=(0, dims, dims), randomness="same")(stacked, x, y)
    finally:
        model.train(was)
    lists = {k: v.detach().tolist() for k, v in values.items()}
    return rows_of(lists, len(x) if shared else x.shape[1], task)


def rows_of(lists: dict[str, list[float]], n: int, task: str) -> list[dict[str, float]]:
    """One row per member from name → per-member values, the `chunk/j` entries (each chunk's
    mean loss, and its hits unless regression, on n test examples) summed as `loop.evaluate`
    sums them into `test_loss` (and `test_acc`)."""
    from lipcore.training.loop import EVAL_CHUNK

    sizes = [min(EVAL_CHUNK, n - i) for i in range(0, n, EVAL_CHUNK)]
    rows = []
    for j in range(len(next(iter(lists.values())))):
        row = {k: v[j] for k, v in lists.items() if not k.startswith("chunk/")}
        total, correct = 0.0, 0.0
        for c, size in enumerate(sizes):
            step = 2 if task != "regression" else 1
            total += lists[f"chunk/{c * step}"][j] * size
            if task != "regression":
                correct += lists[f"chunk/{c * step + 1}"][j]
        row["test_loss"] = total / n
        if task != "regression":
            row["test_acc"] = correct / n
        rows.append(row)
    return rows
