"""A run's metric curves: full figures, EMA smoothing, incremental points and the Lyapunov spectrum.

`series` is always the /runs/{id}/metrics payload: {key: {"step": [int], "value": [float|None]}}.
"""
from __future__ import annotations

import math
import re

import plotly.graph_objects as go

from dashboard.figures.base import base_layout, empty_figure, line_style


def ema(values: list, alpha: float, last: float | None = None) -> list:
    """Exponential moving average s_t = α·s_{t-1} + (1-α)·v_t, seeded with the first value.

    `alpha` in [0, 1): 0 returns the values unchanged. `last` continues a previous call, so that
    appending points one poll at a time gives the same curve as smoothing the whole series.
    Missing (None) or non-finite values pass through as None and do not move the average.
    """
    if not 0 <= alpha < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {alpha}")
    out, s = [], last
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(None)
            continue
        s = v if s is None else alpha * s + (1 - alpha) * v
        out.append(s)
    return out


def last_finite(values: list) -> float | None:
    return next((v for v in reversed(values) if v is not None and math.isfinite(v)), None)


def curve_trace(key: str, steps: list, values: list, smoothing: float = 0.0, index: int = 0) -> dict:
    """One metric as a WebGL line (scattergl keeps long series fast), smoothed if asked; the
    `index`-th line of its figure takes that colour and dash (base.line_style)."""
    y = ema(values, smoothing) if smoothing else list(values)
    return go.Scattergl(x=list(steps), y=y, mode="lines", name=key, meta=key, line=line_style(index),
                        hovertemplate=f"{key}<br>step %{{x}}<br>%{{y:.4g}}<extra></extra>").to_plotly_json()


def curves_figure(series: dict[str, dict[str, list]], keys: list[str] | None = None,
                  log_y: bool = False, smoothing: float = 0.0, title: str = "") -> go.Figure:
    """One line per metric key (trace i is keys[i], in the order given)."""
    keys = [k for k in (keys or sorted(series)) if k in series]
    y_title = keys[0] if len(keys) == 1 else "value (each metric in its own unit)"
    fig = go.Figure(layout=base_layout(title=title or ("metrics over training" if len(keys) != 1 else keys[0]),
                                       xaxis_title="step (optimizer updates)", yaxis_title=y_title))
    if not keys:
        fig.add_annotation(text="waiting for points", showarrow=False, xref="paper", yref="paper",
                           x=0.5, y=0.5)
    for i, key in enumerate(keys):
        fig.add_trace(curve_trace(key, series[key]["step"], series[key]["value"], smoothing, i))
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig


def new_points(series: dict[str, dict[str, list]], last_steps: dict[str, int]) -> dict[str, dict[str, list]]:
    """The points of `series` past each key's last plotted step (keys not plotted yet: all points).

    Polling asks the API for `after=min(last_steps)`, so keys that were plotted further along
    come back with a few points the figure already has; this drops them.
    """
    out = {}
    for key, s in series.items():
        last = last_steps.get(key)
        idx = [i for i, step in enumerate(s["step"]) if last is None or step > last]
        if idx:
            out[key] = {"step": [s["step"][i] for i in idx], "value": [s["value"][i] for i in idx]}
    return out


LYAPUNOV = re.compile(r"^lyapunov/(\d+)$")


def lyapunov_figure(summary: dict[str, dict]) -> go.Figure:
    """The Lyapunov spectrum at the last logged step: exponent λ_i (stem) against its index i."""
    found = sorted((int(m.group(1)), s.get("last")) for k, s in summary.items()
                   if (m := LYAPUNOV.match(k)) and s.get("last") is not None)
    if not found:
        return empty_figure("no lyapunov/* metric logged (enable flossing)", "Lyapunov spectrum")
    idx, lam = [i for i, _ in found], [v for _, v in found]
    fig = go.Figure(layout=base_layout(title="Lyapunov spectrum (last step)", xaxis_title="index i",
                                       yaxis_title="λ_i (per block)", showlegend=False))
    stems_x, stems_y = [], []
    for i, v in zip(idx, lam):
        stems_x += [i, i, None]
        stems_y += [0, v, None]
    fig.add_trace(go.Scatter(x=stems_x, y=stems_y, mode="lines", line=dict(width=1), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=idx, y=lam, mode="markers", name="λ", marker=dict(size=9)))
    fig.add_hline(y=0, line=dict(color="#7f7f7f", dash="dot"))
    fig.update_xaxes(dtick=1)
    return fig
