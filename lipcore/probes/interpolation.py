"""`interpolation`: loss and accuracy along the straight line θ(α) = θ_A + α·d between two points.

d = θ_B − θ_A; with `normalization: none` (default) θ(0) = θ_A and θ(1) = θ_B exactly. With
`filter` or `layer`, d is rescaled per filter / per tensor to the norms of θ_A (Li et al.), so
α is in units of the weights' own scale and different runs share one axis; the endpoint then
sits at `alpha_end` = the α where the rescaled line is closest to θ_B (reported).
"""
from __future__ import annotations

import torch

from lipcore.probes.base import PROBES, ProbeContext
from lipcore.probes.params import axpy, dot, evaluate_at, normalise, sub


def interpolate(model, loss_fn, a, b, x, y, alphas, normalization: str = "none") -> dict:
    """Loss/accuracy at θ_A + α·d for each α; d = θ_B − θ_A, normalised as asked."""
    raw = sub(b, a)
    d = normalise(raw, a, normalization, key="interpolation.normalization")
    losses, accs = [], []
    for alpha in alphas:
        loss, acc = evaluate_at(model, axpy(a, (float(alpha), d)), loss_fn, x, y)
        losses.append(loss)
        accs.append(acc)
    dd = dot(d, d)
    return {"alpha": [float(v) for v in alphas], "loss": losses,
            "accuracy": accs if accs and accs[0] is not None else None,
            "alpha_end": dot(raw, d) / dd if dd > 0 else 0.0}


@PROBES.register("interpolation")
def interpolation_probe(ctx: ProbeContext, *, start, end, alpha_min, alpha_max, n_points,
                        normalization, n_examples) -> dict:
    """Train and test loss/accuracy along `start` → `end` (default θ_init → θ_final)."""
    model = ctx.model.eval()
    a, b = ctx.params_at(start, "interpolation"), ctx.params_at(end, "interpolation")
    alphas = torch.linspace(alpha_min, alpha_max, n_points).tolist()
    train = interpolate(model, ctx.loss_fn, a, b, *ctx.train_xy(n_examples), alphas,
                        normalization)
    test = interpolate(model, ctx.loss_fn, a, b, *ctx.test_xy(n_examples), alphas, normalization)
    return {"alpha": train["alpha"], "train_loss": train["loss"], "train_acc": train["accuracy"],
            "test_loss": test["loss"], "test_acc": test["accuracy"], "start": start, "end": end,
            "normalization": normalization, "alpha_end": train["alpha_end"],
            "start_step": ctx.step_of(start), "end_step": ctx.step_of(end)}
