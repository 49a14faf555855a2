"""`sharpness`: how much the loss can rise inside a small region around θ.

Two regions, named by `region`:

- `layer_ball` (default, seed 003): each parameter tensor w_l may move by z_l with
  ‖z_l‖ ≤ ε·‖w_l‖;
- `keskar_box` (Keskar et al. 2017): each entry may move by |z_i| ≤ ε·(|w_i| + 1).

Two estimates, each labelled, because they differ: `random` averages/maximises over uniform
draws in the region (it underestimates the worst case), `ascent` runs projected gradient ascent
on the loss (steps normalised per tensor in the ball, sign steps in the box, each projected back
onto the region) and keeps the best point. Reported as the raw rise L(θ+z) − L(θ) and Keskar's
100·rise/(1 + L(θ)).
"""
from __future__ import annotations

import torch

from lipcore.probes.base import PROBES, ProbeContext
from lipcore.probes.params import Params, axpy, get_params, loss_at


class LayerBall:
    """Product of per-tensor balls of radius ε‖w_l‖."""

    def __init__(self, theta: Params, eps: float):
        self.r = {n: eps * float(t.norm()) for n, t in theta.items()}

    def sample(self, theta: Params, g: torch.Generator) -> Params:
        out = {}
        for n, t in theta.items():
            d = torch.randn(t.shape, generator=g, dtype=t.dtype)
            u = torch.rand((), generator=g, dtype=t.dtype) ** (1.0 / max(t.numel(), 1))
            out[n] = (d * (self.r[n] * u / (d.norm() + 1e-30))).to(t.device)
        return out

    def step(self, z: Params, grads: Params, steps: int) -> Params:
        moved = {n: z[n] + grads[n] * (2.0 * self.r[n] / steps / (float(grads[n].norm()) + 1e-30))
                 for n in z}
        return {n: t * min(1.0, self.r[n] / (float(t.norm()) + 1e-30)) for n, t in moved.items()}


class KeskarBox:
    """The box |z_i| ≤ ε(|w_i| + 1), entry by entry."""

    def __init__(self, theta: Params, eps: float):
        self.r = {n: eps * (t.abs() + 1) for n, t in theta.items()}

    def sample(self, theta: Params, g: torch.Generator) -> Params:
        return {n: ((torch.rand(t.shape, generator=g, dtype=t.dtype).to(t.device) * 2 - 1)
                    * self.r[n]) for n, t in theta.items()}

    def step(self, z: Params, grads: Params, steps: int) -> Params:
        return {n: torch.clamp(z[n] + (2.0 / steps) * self.r[n] * grads[n].sign(),
                               -self.r[n], self.r[n]) for n in z}


REGIONS = {"layer_ball": LayerBall, "keskar_box": KeskarBox}


def ascent(model, loss_fn, batches, theta: Params, region, steps: int) -> float:
    """The highest loss found by projected gradient ascent inside `region`."""
    z = {n: torch.zeros_like(t) for n, t in theta.items()}
    best = float(loss_at(model, theta, loss_fn, batches))
    for _ in range(steps):
        zz = {n: t.clone().requires_grad_(True) for n, t in z.items()}
        loss = loss_at(model, {n: theta[n] + zz[n] for n in theta}, loss_fn, batches)
        grads = dict(zip(zz, torch.autograd.grad(loss, list(zz.values()))))
        best = max(best, float(loss.detach()))
        z = region.step(z, grads, steps)
    with torch.no_grad():
        return max(best, float(loss_at(model, axpy(theta, (1.0, z)), loss_fn, batches)))


def sharpness(model, loss_fn, data: tuple, eps_list: list[float], n_samples: int,
              ascent_steps: int, seed: int = 0, region: str = "layer_ball") -> dict:
    """Random and ascent sharpness at each ε; see the module docstring."""
    if region not in REGIONS:
        raise ValueError(f"sharpness.region: unknown {region!r}; choose one of "
                         f"{', '.join(REGIONS)}")
    theta = get_params(model)
    batches = [data]
    with torch.no_grad():
        base = float(loss_at(model, theta, loss_fn, batches))
    g = torch.Generator().manual_seed(seed)
    out = {"eps": [float(e) for e in eps_list], "region": region, "base_loss": base,
           "random_mean": [], "random_max": [], "random_samples": [],
           "ascent_max": [] if ascent_steps else None}
    for eps in eps_list:
        box = REGIONS[region](theta, eps)
        with torch.no_grad():
            rises = [float(loss_at(model, axpy(theta, (1.0, box.sample(theta, g))),
                                   loss_fn, batches)) - base for _ in range(n_samples)]
        out["random_samples"].append(rises)
        out["random_mean"].append(sum(rises) / len(rises))
        out["random_max"].append(max(rises))
        if ascent_steps:
            out["ascent_max"].append(ascent(model, loss_fn, batches, theta, box, ascent_steps)
                                     - base)
    keskar = lambda rise: 100.0 * rise / (1.0 + base)  # noqa: E731
    out["keskar_random"] = [keskar(v) for v in out["random_max"]]
    out["keskar_ascent"] = [keskar(v) for v in out["ascent_max"]] if ascent_steps else None
    return out


@PROBES.register("sharpness")
def sharpness_probe(ctx: ProbeContext, *, eps, n_samples, ascent_steps, region, n_examples,
                    seed) -> dict:
    """ε-sharpness of the final model on (up to n_examples) training examples."""
    return sharpness(ctx.model.eval(), ctx.loss_fn, ctx.train_xy(n_examples), eps, n_samples,
                     ascent_steps, seed, region)
