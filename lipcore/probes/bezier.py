"""A quadratic Bézier curve between two minima (Garipov et al.), trained so the loss stays low.

φ(t) = (1−t)²θ₀ + 2t(1−t)θ + t²θ₁ with the endpoints frozen and the bend θ initialised at the
midpoint, where φ(t) = θ₀ + t(θ₁−θ₀) is exactly the straight line. Each step draws t ~ U(0, 1) and a minibatch and
descends L(φ(t)) in θ with Adam.
"""
from __future__ import annotations

import torch

from lipcore.probes.params import Params, loss_at


def bezier_point(a: Params, bend: Params, b: Params, t: float) -> Params:
    return {n: (1 - t) ** 2 * a[n] + 2 * t * (1 - t) * bend[n] + t ** 2 * b[n] for n in a}


def train_bend(model, loss_fn, a: Params, b: Params, x, y, steps: int, lr: float,
               batch_size: int = 128, seed: int = 0) -> tuple[Params, list[float]]:
    """The trained bend and the per-step training losses."""
    bend = {n: (0.5 * (a[n] + b[n])).clone().requires_grad_(True) for n in a}
    opt = torch.optim.Adam(list(bend.values()), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n, losses = x.shape[0], []
    for _ in range(steps):
        t = float(torch.rand((), generator=g))
        idx = torch.randperm(n, generator=g)[: min(batch_size, n)].to(x.device)
        loss = loss_at(model, bezier_point(a, bend, b, t), loss_fn, [(x[idx], y[idx])])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return {n: v.detach() for n, v in bend.items()}, losses
