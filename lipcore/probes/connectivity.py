"""`connectivity`: is there a low-loss path between two trained networks of one architecture?

Evaluated along the straight line θ(α) = (1−α)θ_A + αθ_B, again after aligning B's hidden units
to A by weight matching (`alignment.py`), and along a trained quadratic Bézier curve
(`bezier.py`). Each path reports both barrier definitions in use, named:

- `vs_mean` (Frankle et al. 2020): max_α f(α) − (f(0) + f(1))/2;
- `vs_linear` (Entezari et al. 2022; Ainsworth et al. 2023): max_α [f(α) − ((1−α)f(0) + αf(1))];

for f the training loss and (classification) the training error. They differ: along a convex
loss `vs_linear` is 0 while `vs_mean` is half the endpoint gap.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lipcore.probes.alignment import permute_state, weight_matching
from lipcore.probes.base import PROBES, ProbeContext
from lipcore.probes.bezier import bezier_point, train_bend
from lipcore.probes.params import axpy, evaluate_at, get_params, params_from_state, sub

DEFINITIONS = {
    "vs_mean": "max_a f(a) - (f(0) + f(1)) / 2  (Frankle et al. 2020)",
    "vs_linear": "max_a f(a) - ((1-a) f(0) + a f(1))  (Entezari et al. 2022, git re-basin)",
}


def barriers(alpha: list[float], values: list[float]) -> dict[str, float]:
    """Both barrier definitions of the curve `values` over `alpha` ∈ [0, 1]."""
    f0, f1 = values[0], values[-1]
    return {"vs_mean": max(values) - 0.5 * (f0 + f1),
            "vs_linear": max(v - (f0 + a * (f1 - f0)) for a, v in zip(alpha, values))}


def check_same_architecture(a: nn.Module, b: nn.Module) -> None:
    """ValueError naming the first difference when a and b cannot be interpolated."""
    sa, sb = a.state_dict(), b.state_dict()
    if type(a) is not type(b) or list(sa) != list(sb):
        raise ValueError(f"connectivity: the two runs have different architectures "
                         f"({type(a).__name__} with {len(sa)} tensors vs {type(b).__name__} "
                         f"with {len(sb)}); connectivity needs one architecture")
    for k in sa:
        if sa[k].shape != sb[k].shape:
            raise ValueError(f"connectivity: the two runs have different architectures: {k} is "
                             f"{tuple(sa[k].shape)} vs {tuple(sb[k].shape)}")


def path_curve(model, loss_fn, points: list[dict], alpha: list[float], x, y) -> dict[str, Any]:
    """Loss/error at each point and both barriers of each."""
    evals = [evaluate_at(model, p, loss_fn, x, y) for p in points]
    loss = [e[0] for e in evals]
    out = {"alpha": alpha, "loss": loss, "loss_barrier": barriers(alpha, loss)}
    if evals[0][1] is not None:
        err = [1.0 - e[1] for e in evals]
        out.update(error=err, error_barrier=barriers(alpha, err))
    return out


def linear_path(model, loss_fn, a, b, x, y, n_points: int) -> dict[str, Any]:
    alpha = torch.linspace(0, 1, n_points).tolist()
    d = sub(b, a)
    return path_curve(model, loss_fn, [axpy(a, (t, d)) for t in alpha], alpha, x, y)


def connect(model_a: nn.Module, model_b: nn.Module, loss_fn, x, y, n_points: int = 25,
            align: bool = True, bezier_steps: int = 0, bezier_lr: float = 1e-2,
            bezier_points: int = 61, seed: int = 0) -> dict[str, Any]:
    """Linear, aligned-linear and Bézier paths from model_a to model_b (see module docstring)."""
    check_same_architecture(model_a, model_b)
    model = model_a.eval()
    a, b = get_params(model_a), params_from_state(model_a, model_b.state_dict())
    out: dict[str, Any] = {"definitions": DEFINITIONS,
                           "linear": linear_path(model, loss_fn, a, b, x, y, n_points)}
    if align:
        try:
            perms, sweeps = weight_matching(model, model_a.state_dict(), model_b.state_dict(),
                                            seed=seed)
        except ValueError as e:  # not a plain MLP: report the plain line only, and say why
            out["alignment"] = {"skipped": str(e)}
        else:
            b = params_from_state(model, permute_state(model, model_b.state_dict(), perms))
            out["aligned"] = linear_path(model, loss_fn, a, b, x, y, n_points)
            out["alignment"] = {"sweeps": sweeps, "permutations": [p.tolist() for p in perms]}
    if bezier_steps:
        bend, train_losses = train_bend(model, loss_fn, a, b, x, y, bezier_steps, bezier_lr,
                                        seed=seed)
        ts = torch.linspace(0, 1, bezier_points).tolist()
        curve = path_curve(model, loss_fn, [bezier_point(a, bend, b, t) for t in ts], ts, x, y)
        out["bezier"] = {**curve, "train_loss": train_losses,
                         "endpoint_b": "aligned" if "aligned" in out else "raw"}
    best = out.get("aligned", out["linear"])
    out["metrics"] = {"connectivity/loss_barrier_vs_mean": best["loss_barrier"]["vs_mean"],
                      "connectivity/loss_barrier_vs_linear": best["loss_barrier"]["vs_linear"]}
    return out


@PROBES.register("connectivity")
def connectivity_probe(ctx: ProbeContext, *, other, n_points, align, bezier_steps, bezier_lr,
                       bezier_points, n_examples, seed) -> dict:
    """Paths from this run's final model to `other` (a saved run) or the context's first peer."""
    if other is not None:
        from lipcore.saved import load_run

        peer = load_run(other).model
    elif ctx.peers:
        peer = ctx.peers[0]
    else:
        raise ValueError("connectivity.other: no second run given (a run directory or "
                         "checkpoint path, or a peer model in the context)")
    x, y = ctx.train_xy(n_examples)
    return connect(ctx.model, peer.to(x.device), ctx.loss_fn, x, y, n_points, align,
                   bezier_steps, bezier_lr, bezier_points, seed)
