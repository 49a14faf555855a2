"""`lyapunov`: the Lyapunov spectrum over training.

Read from the run's logged `lyapunov/0..k-1` metrics when present (gradient flossing logs them);
otherwise computed at each checkpoint with `ctx.lyapunov_fn(model, x, k)` or, by default,
`lipcore.flossing.lyapunov_exponents`.
"""
from __future__ import annotations

import copy

import torch

from lipcore.probes.base import PROBES, ProbeContext


def from_metrics(metrics: dict[str, dict[str, list]]) -> dict | None:
    """{"step": [...], "exponents": [[λ_0..λ_k-1] per step]} from `lyapunov/i` series, or None."""
    keys = sorted((k for k in metrics if k.startswith("lyapunov/") and k[9:].isdigit()),
                  key=lambda k: int(k[9:]))
    if not keys:
        return None
    series = [dict(zip(metrics[k]["step"], metrics[k]["value"])) for k in keys]
    steps = sorted(set().union(*series))
    rows = [[s.get(step) for s in series] for step in steps]
    return {"step": [int(s) for s in steps], "exponents": rows, "source": "metrics"}


def _default_fn():
    try:
        from lipcore.flossing import lyapunov_exponents
    except ImportError:
        return None
    return lyapunov_exponents


@PROBES.register("lyapunov")
def lyapunov_probe(ctx: ProbeContext, *, k, n_examples) -> dict:
    """Logged exponents if any, else exponents computed at every checkpoint."""
    logged = from_metrics(ctx.metrics)
    if logged is not None:
        return logged
    fn = ctx.lyapunov_fn or _default_fn()
    if fn is None:
        raise ValueError("probe lyapunov: the run logged no lyapunov/i metrics and no "
                         "lipcore.flossing.lyapunov_exponents is available to compute them")
    ckpts = ctx.trajectory("lyapunov")
    x, _ = ctx.train_xy(n_examples)
    model = copy.deepcopy(ctx.model).eval()
    rows = []
    for _, state in ckpts:
        model.load_state_dict(state)
        with torch.no_grad():
            rows.append([float(v) for v in fn(model, x, k)])
    return {"step": [int(s) for s, _ in ckpts], "exponents": rows, "source": "checkpoints"}
