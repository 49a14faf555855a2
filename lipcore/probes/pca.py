"""`pca`: the weight trajectory from checkpoints in its top-2 PCA plane, over a loss grid.

Rows θ_i − θ_final (one per checkpoint, θ_init first when it had to be rebuilt, final included, as Li et al. do: not mean-centred) are
decomposed by SVD; the first two right singular vectors c₁, c₂ span the plane, the path is its
projection (a_i, b_i), and the grid is L(θ_final + a·c₁ + b·c₂) over the path's range padded by
`margin` on each side.
"""
from __future__ import annotations

import torch

from lipcore.probes.base import PROBES, ProbeContext
from lipcore.probes.params import evaluate_at, flatten, floats, get_params, params_from_state, unflatten


def trajectory_pca(vectors: torch.Tensor) -> dict:
    """vectors: (T, P), the last being θ_final → components (2, P), coords (T, 2), ratios."""
    m = vectors - vectors[-1]
    _, s, vh = torch.linalg.svd(m, full_matrices=False)
    comps = vh[:2]
    var = s ** 2
    return {"components": comps, "coords": m @ comps.T,
            "explained": (var[:2] / var.sum().clamp_min(1e-300))}


@PROBES.register("pca")
def pca_probe(ctx: ProbeContext, *, n_points, margin, n_examples) -> dict:
    """{"steps", "path": {"x", "y"}, "explained_variance", "grid": {"x", "y", "loss"[i][j]}}."""
    ckpts = ctx.trajectory("pca", 3)
    model = ctx.model.eval()
    like = get_params(model)
    vectors = torch.stack([flatten(params_from_state(model, s)) for _, s in ckpts])
    pca = trajectory_pca(vectors)
    coords = pca["coords"]
    final = vectors[-1]
    axes = []
    for j in range(2):
        lo, hi = float(coords[:, j].min()), float(coords[:, j].max())
        pad = margin * max(hi - lo, 1e-8)
        axes.append(torch.linspace(lo - pad, hi + pad, n_points))
    x, y = ctx.train_xy(n_examples)
    c1, c2 = pca["components"]
    loss = [[evaluate_at(model, unflatten(final + a * c1 + b * c2, like), ctx.loss_fn, x, y)[0]
             for a in axes[0]] for b in axes[1]]
    path_loss = [evaluate_at(model, unflatten(v, like), ctx.loss_fn, x, y)[0] for v in vectors]
    return {"steps": [int(s) for s, _ in ckpts],
            "path": {"x": floats(coords[:, 0]), "y": floats(coords[:, 1]), "loss": path_loss},
            "explained_variance": floats(pca["explained"]),
            "grid": {"x": floats(axes[0]), "y": floats(axes[1]), "loss": loss}}
