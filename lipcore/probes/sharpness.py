"""`sharpness`: how much the loss can rise inside a per-layer normalised ball around θ.

For a relative radius ε, each parameter tensor w_l may move by z_l with ‖z_l‖ ≤ ε·‖w_l‖. Two
estimates, each labelled, because they differ: `random` averages/maximises over uniform draws
in the ball (it underestimates the worst case), `ascent` runs projected gradient ascent on the
loss (per-layer normalised steps, projected back onto each ball) and keeps the best point.
Reported as the raw rise L(θ+z) − L(θ) and Keskar et al.'s 100·rise/(1 + L(θ)).
"""
from __future__ import annotations

import torch

from lipcore.probes.base import PROBES, ProbeContext
from lipcore.probes.params import Params, axpy, get_params, loss_at


def radii(theta: Params, eps: float) -> dict[str, float]:
    return {n: eps * float(t.norm()) for n, t in theta.items()}


def random_in_ball(theta: Params, r: dict[str, float], g: torch.Generator) -> Params:
    """A uniform draw from the product of per-tensor balls of radii r."""
    out = {}
    for n, t in theta.items():
        d = torch.randn(t.shape, generator=g, dtype=t.dtype)
        u = torch.rand((), generator=g, dtype=t.dtype) ** (1.0 / max(t.numel(), 1))
        out[n] = (d * (r[n] * u / (d.norm() + 1e-30))).to(t.device)
    return out


def project(z: Params, r: dict[str, float]) -> Params:
    return {n: t * min(1.0, r[n] / (float(t.norm()) + 1e-30)) for n, t in z.items()}


def ascent(model, loss_fn, batches, theta: Params, r: dict[str, float], steps: int) -> float:
    """The highest loss found by projected gradient ascent in the per-layer ball."""
    z = {n: torch.zeros_like(t) for n, t in theta.items()}
    best = float(loss_at(model, theta, loss_fn, batches))
    for _ in range(steps):
        zz = {n: t.clone().requires_grad_(True) for n, t in z.items()}
        loss = loss_at(model, {n: theta[n] + zz[n] for n in theta}, loss_fn, batches)
        grads = torch.autograd.grad(loss, list(zz.values()))
        best = max(best, float(loss.detach()))
        step = {n: g * (2.0 * r[n] / steps / (float(g.norm()) + 1e-30))
                for n, g in zip(zz, grads)}
        z = project({n: z[n] + step[n] for n in z}, r)
    with torch.no_grad():
        return max(best, float(loss_at(model, axpy(theta, (1.0, z)), loss_fn, batches)))


def sharpness(model, loss_fn, data: tuple, eps_list: list[float], n_samples: int,
              ascent_steps: int, seed: int = 0) -> dict:
    """Random and ascent sharpness at each ε; see the module docstring."""
    theta = get_params(model)
    batches = [data]
    with torch.no_grad():
        base = float(loss_at(model, theta, loss_fn, batches))
    g = torch.Generator().manual_seed(seed)
    out = {"eps": [float(e) for e in eps_list], "base_loss": base, "random_mean": [],
           "random_max": [], "random_samples": [], "ascent_max": [] if ascent_steps else None}
    for eps in eps_list:
        r = radii(theta, eps)
        with torch.no_grad():
            rises = [float(loss_at(model, axpy(theta, (1.0, random_in_ball(theta, r, g))),
                                   loss_fn, batches)) - base for _ in range(n_samples)]
        out["random_samples"].append(rises)
        out["random_mean"].append(sum(rises) / len(rises))
        out["random_max"].append(max(rises))
        if ascent_steps:
            out["ascent_max"].append(ascent(model, loss_fn, batches, theta, r, ascent_steps) - base)
    keskar = lambda rise: 100.0 * rise / (1.0 + base)  # noqa: E731
    out["keskar_random"] = [keskar(v) for v in out["random_max"]]
    out["keskar_ascent"] = [keskar(v) for v in out["ascent_max"]] if ascent_steps else None
    return out


@PROBES.register("sharpness")
def sharpness_probe(ctx: ProbeContext, *, eps, n_samples, ascent_steps, n_examples,
                    seed) -> dict:
    """ε-sharpness of the final model on (up to n_examples) training examples."""
    return sharpness(ctx.model.eval(), ctx.loss_fn, ctx.train_xy(n_examples), eps, n_samples,
                     ascent_steps, seed)
