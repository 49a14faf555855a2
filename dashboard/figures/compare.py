"""Comparing runs: seed 004's radar chart (every axis larger-is-better) and overlaid curves."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from dashboard.figures.base import base_layout, empty_figure, line_style
from dashboard.figures.curves import ema

SMALLER_IS_BETTER = ("time/", "memory/", "loss", "_loss", "grad_norm")


def smaller_is_better(metric: str) -> bool:
    """Times, memory and losses: less is better; everything else (accuracies) more is better."""
    return any(metric.startswith(p) or metric.endswith(p) for p in SMALLER_IS_BETTER)


def normalise_axes(values: dict[str, dict[str, float | None]],
                   metrics: list[str]) -> dict[str, dict[str, float | None]]:
    """Each metric scaled to (0, 1] by the best run, so that on every axis larger is better.

    Larger-is-better metrics: v / max(v). Smaller-is-better (time, memory, loss): min(v) / v.
    The best run gets 1 on each axis; a run lacking a metric gets None.
    `values` is {label: {metric: raw value}}.
    """
    out: dict[str, dict[str, float | None]] = {label: {} for label in values}
    for m in metrics:
        present = {lab: v[m] for lab, v in values.items()
                   if v.get(m) is not None and math.isfinite(v[m])}
        for lab in values:
            out[lab][m] = None
        if not present:
            continue
        if smaller_is_better(m):
            best = min(present.values())
            for lab, v in present.items():
                out[lab][m] = 1.0 if v == best else (best / v if v > 0 else 0.0)
        else:
            best = max(present.values())
            for lab, v in present.items():
                out[lab][m] = 1.0 if v == best else (v / best if best > 0 else 0.0)
    return out


def radar_figure(values: dict[str, dict[str, float | None]], metrics: list[str]) -> go.Figure:
    """One closed polygon per run over the metrics, each axis normalised (normalise_axes)."""
    metrics = [m for m in metrics if any(v.get(m) is not None for v in values.values())]
    if not values or len(metrics) < 2:
        return empty_figure("need at least two metrics present in the chosen runs", "radar")
    scores = normalise_axes(values, metrics)
    fig = go.Figure(layout=base_layout(title="relative performance (1 = best on that axis)",
                                       polar=dict(radialaxis=dict(range=[0, 1.05]))))
    theta = metrics + metrics[:1]
    for label, s in scores.items():
        r = [s[m] or 0.0 for m in metrics]
        raw = [values[label].get(m) for m in metrics]
        fig.add_trace(go.Scatterpolar(r=r + r[:1], theta=theta, name=label, fill="toself",
                                      opacity=0.75, customdata=raw + raw[:1],
                                      hovertemplate="%{theta}: %{customdata:.4g} (score %{r:.2f})"
                                                    "<extra>" + label + "</extra>"))
    return fig


def overlay_figure(curves: dict[str, dict[str, list]], metric: str, log_y: bool = False,
                   smoothing: float = 0.0) -> go.Figure:
    """The same metric of several runs on one axis; `curves` is {run label: {step, value}}."""
    curves = {lab: s for lab, s in curves.items() if s and s.get("step")}
    if not curves:
        return empty_figure(f"no {metric} points in these runs", metric)
    fig = go.Figure(layout=base_layout(title=f"{metric} of each run", xaxis_title="step (optimizer updates)",
                                       yaxis_title=metric))
    for i, (label, s) in enumerate(curves.items()):
        y = ema(s["value"], smoothing) if smoothing else s["value"]
        fig.add_trace(go.Scattergl(x=s["step"], y=y, mode="lines", name=label, line=line_style(i)))
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig
