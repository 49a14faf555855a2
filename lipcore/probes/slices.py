"""`slice_1d` and `slice_2d`: the loss on random filter-normalised directions through θ_final.

1D: L(θ + α·d), α ∈ [−distance, distance]. 2D: L(θ + α·d₁ + β·d₂) on a grid; d₁, d₂ are drawn
independently and normalised (Li et al.), then d₂ is orthogonalised against d₁ (Gram–Schmidt on
the flattened vectors) and rescaled to ‖d₁‖, so the axes are orthogonal and of equal length —
liplab's choice, where Li et al. use the raw independent pair.
"""
from __future__ import annotations

import torch

from lipcore.probes.base import PROBES, ProbeContext
from lipcore.probes.params import (axpy, dot, evaluate_at, get_params, norm, normalise,
                                   random_direction)


def orthogonal_pair(d1: dict, d2: dict) -> dict:
    """d₂ minus its projection on d₁, rescaled to the norm of d₁."""
    d2 = axpy(d2, (-dot(d2, d1) / dot(d1, d1), d1))
    return {n: t * (norm(d1) / norm(d2)) for n, t in d2.items()}


def _setup(ctx: ProbeContext, probe: str, n_dirs: int, normalization, n_examples, seed):
    """(model, θ, n_dirs normalised random directions, x, y): the common start of both slices."""
    model = ctx.model.eval()
    theta = get_params(model)
    g = torch.Generator().manual_seed(seed)
    dirs = [normalise(random_direction(theta, g), theta, normalization, f"{probe}.normalization")
            for _ in range(n_dirs)]
    x, y = ctx.train_xy(n_examples)
    return model, theta, dirs, x, y


@PROBES.register("slice_1d")
def slice_1d(ctx: ProbeContext, *, distance, n_points, normalization, n_examples, seed) -> dict:
    """{"alpha", "loss", "accuracy"} along one random direction."""
    model, theta, (d,), x, y = _setup(ctx, "slice_1d", 1, normalization, n_examples, seed)
    alphas = torch.linspace(-distance, distance, n_points).tolist()
    evals = [evaluate_at(model, axpy(theta, (a, d)), ctx.loss_fn, x, y) for a in alphas]
    return {"alpha": alphas, "loss": [e[0] for e in evals],
            "accuracy": [e[1] for e in evals] if evals[0][1] is not None else None,
            "normalization": normalization}


@PROBES.register("slice_2d")
def slice_2d(ctx: ProbeContext, *, distance, n_points, normalization, n_examples, seed) -> dict:
    """{"alpha", "beta", "loss": [[...]]} with loss[i][j] at (alpha[j], beta[i])."""
    model, theta, (d1, d2), x, y = _setup(ctx, "slice_2d", 2, normalization, n_examples, seed)
    d2 = orthogonal_pair(d1, d2)
    axis = torch.linspace(-distance, distance, n_points).tolist()
    loss, acc = [], []
    for b in axis:
        row = [evaluate_at(model, axpy(theta, (a, d1), (b, d2)), ctx.loss_fn, x, y) for a in axis]
        loss.append([r[0] for r in row])
        acc.append([r[1] for r in row])
    return {"alpha": axis, "beta": axis, "loss": loss,
            "accuracy": acc if acc[0][0] is not None else None,
            "cosine": dot(d1, d2) / (norm(d1) * norm(d2)), "normalization": normalization}
