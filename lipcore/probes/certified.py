"""`certified`: certified robust accuracy at a list of ε, and the empirical Lipschitz constant.

For a network with Lipschitz bound L (in the ℓ₂ norm), an input is certified at radius ε when it
is classified correctly and its margin (top-1 minus top-2 score) exceeds √2·ε·L (1-Lipschitz
Layers Compared). The empirical constant is a lower bound on the true one, from two estimates:
the largest ‖f(x)−f(x')‖/‖x−x'‖ over random test pairs, and the largest spectral norm of the
input Jacobian over test points.

The per-example test is `lipcore.robustness.certified`; this probe adds the ε = 0 case for an
unbounded network (no bound is needed to be right with a positive margin) and the empirical
constant.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from lipcore.probes.base import PROBES, ProbeContext
from lipcore.robustness import certified


def certified_mask(scores: torch.Tensor, labels: torch.Tensor, eps: float,
                   lipschitz: float = 1.0) -> torch.Tensor:
    """scores: (N, C), labels: (N,) → bool (N,): correct and margin > √2·ε·L."""
    # at ε = 0 any finite L gives "correct with a positive margin", also for an unbounded net
    return certified(scores, labels, eps, lipschitz if eps > 0 else 1.0)


def certified_accuracy(scores, labels, eps_list, lipschitz: float = 1.0) -> list[float]:
    return [float(certified_mask(scores, labels, e, lipschitz).float().mean()) for e in eps_list]


def empirical_lipschitz(model: nn.Module, x: torch.Tensor, n_pairs: int, seed: int = 0) -> dict:
    """{"pairs": max ratio over random pairs, "jacobian": max ‖∂f/∂x‖₂ over the points}."""
    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    i, j = torch.randint(0, n, (2, n_pairs), generator=g)
    keep = i != j
    i, j = i[keep].to(x.device), j[keep].to(x.device)
    with torch.no_grad():
        out = model(x)
        num = (out[i] - out[j]).flatten(1).norm(dim=1)
        den = (x[i] - x[j]).flatten(1).norm(dim=1)
        pairs = float((num / den.clamp_min(1e-12)).max()) if len(i) else 0.0

    def f(xi):
        return model(xi.unsqueeze(0)).squeeze(0)

    jac = torch.func.vmap(torch.func.jacrev(f))(x).detach()  # (N, C, *input)
    norms = torch.linalg.matrix_norm(jac.reshape(n, jac.shape[1], -1), ord=2)
    return {"pairs": pairs, "jacobian": float(norms.max())}


@PROBES.register("certified")
def certified_probe(ctx: ProbeContext, *, eps, lipschitz, n_pairs, n_examples, seed) -> dict:
    """CRA on the test set at each ε with the model's bound (or `lipschitz`); see module doc."""
    model = ctx.model.eval()
    x, y = ctx.test_xy(n_examples)
    if y.is_floating_point() or y.dim() != 1:
        raise ValueError("probes.certified: certified robust accuracy needs class labels; this "
                         "run is a regression (choose a classification data set, e.g. "
                         "data.name=moons or digits, or drop the certified probe)")
    source = "param"
    if lipschitz is None:
        lipschitz = getattr(model, "lipschitz_bound", None)
        source = "model"
    if lipschitz is None or not math.isfinite(float(lipschitz)):
        lipschitz, source = math.inf, "none"
    with torch.no_grad():
        scores = model(x)
    cra = certified_accuracy(scores, y, eps, float(lipschitz))
    emp = empirical_lipschitz(model, x, n_pairs, seed)
    return {"eps": [float(e) for e in eps], "certified_acc": cra,
            "accuracy": float((scores.argmax(1) == y).float().mean()),
            "lipschitz_bound": None if source == "none" else float(lipschitz),
            "bound_source": source, "empirical_lipschitz": emp,
            "metrics": {f"certified_acc/{e:.4g}": v for e, v in zip(eps, cra)}}
