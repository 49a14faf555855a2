"""Metrics by name (seed 001), computed on the test set at each evaluation.

A metric is `fn(model, x, y, loss_fn, cfg) -> dict[str, float]` (one metric may return
several values, e.g. `trace_covariances`); a comparative metric is `fn(model_a, model_b) ->
float`. List them in `training.metrics`.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from lipcore.registry import Registry

METRICS: Registry[Callable[..., dict[str, float]]] = Registry("metric")
COMPARATIVE_METRICS: Registry[Callable[[nn.Module, nn.Module], float]] = Registry(
    "comparative metric")

#: at most this many test examples enter the per-example gradient metrics
MAX_EXAMPLES = 256


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@METRICS.register("weight_norm")
def weight_norm(model: nn.Module, x, y, loss_fn, cfg=None) -> dict[str, float]:
    """L2 norm of all parameters together."""
    return {"weight_norm": float(flat_params(model).norm())}


@METRICS.register("grad_norm")
def grad_norm(model: nn.Module, x, y, loss_fn, cfg=None) -> dict[str, float]:
    """L2 norm of the gradient of the mean test loss."""
    params = _params(model)
    grads = torch.autograd.grad(loss_fn(model(x), y), params)
    return {"grad_norm": float(torch.cat([g.reshape(-1) for g in grads]).norm())}


def per_example_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                      loss_fn: Callable) -> torch.Tensor:
    """(N, P) gradients of each example's loss, by vmap over torch.func.grad."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    values = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}

    def loss_one(theta: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return loss_fn(functional_call(model, theta, (xi[None],)), yi[None])

    g = vmap(grad(loss_one), in_dims=(None, 0, 0))(values, x, y)
    return torch.cat([g[n].reshape(len(x), -1) for n in names], 1)


@METRICS.register("trace_covariances")
def trace_covariances(model: nn.Module, x, y, loss_fn, cfg=None) -> dict[str, float]:
    """SGD-noise geometry on up to MAX_EXAMPLES test examples, with g_i the per-example gradients,
    ḡ their mean, Σ = mean (g_i − ḡ)(g_i − ḡ)ᵀ and H the Hessian of the mean loss:

    grad_norm_squared = ‖ḡ‖², trace_gradient_covariance = tr Σ,
    trace_hessian_covariance = tr(HΣ) = mean_i (g_i − ḡ)ᵀ H (g_i − ḡ) (Hessian-vector products).
    """
    x, y = x[:MAX_EXAMPLES], y[:MAX_EXAMPLES]
    g = per_example_grads(model, x, y, loss_fn)  # (N, P)
    mean = g.mean(0)
    centred = g - mean
    params = _params(model)
    loss = loss_fn(model(x), y)
    full = torch.autograd.grad(loss, params, create_graph=True)
    flat = torch.cat([t.reshape(-1) for t in full])

    def hvp(v: torch.Tensor) -> torch.Tensor:
        out = torch.autograd.grad(flat, params, v, retain_graph=True)
        return torch.cat([t.reshape(-1) for t in out])

    quad = torch.stack([c @ hvp(c) for c in centred]).mean()
    return {"grad_norm_squared": float(mean @ mean),
            "trace_gradient_covariance": float((centred ** 2).sum(1).mean()),
            "trace_hessian_covariance": float(quad)}


@METRICS.register("lyapunov")
def lyapunov(model: nn.Module, x, y, loss_fn, cfg=None) -> dict[str, float]:
    """`lyapunov/i`: the k = flossing.num_exponents largest exponents on (up to 64) test inputs."""
    from lipcore.flossing import lyapunov_exponents

    k = (cfg or {}).get("flossing", {}).get("num_exponents", 4)
    with torch.no_grad():
        lam = lyapunov_exponents(model, x[:64], k)
    return {f"lyapunov/{i}": float(v) for i, v in enumerate(lam)}


@COMPARATIVE_METRICS.register("param_distance")
def param_distance(model_a: nn.Module, model_b: nn.Module) -> float:
    """‖θ_a − θ_b‖₂ over all parameters."""
    return float((flat_params(model_a) - flat_params(model_b)).norm())


@COMPARATIVE_METRICS.register("param_cosine_sim")
def param_cosine_sim(model_a: nn.Module, model_b: nn.Module) -> float:
    """cos(θ_a, θ_b) over all parameters."""
    a, b = flat_params(model_a), flat_params(model_b)
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-30))


def compute_metrics(names: list[str], model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    loss_fn: Callable, cfg: dict[str, Any] | None = None) -> dict[str, float]:
    """Every single-model metric of `names` on (x, y), model in eval mode; comparative names
    are skipped (the comparative engine computes them)."""
    out: dict[str, float] = {}
    was = model.training
    model.eval()
    try:
        for name in names:
            if name in COMPARATIVE_METRICS:
                continue
            out.update(METRICS.get(name, key="training.metrics")(model, x, y, loss_fn, cfg))
    finally:
        model.train(was)
    return out
