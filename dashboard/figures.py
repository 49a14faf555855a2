"""Figure builders: pure functions from API payloads to Plotly figures (tested without a browser)."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

# Seed 002's plotting order: black, red, blue, brown, purple, green.
COLORWAY = ["#000000", "#d62728", "#1f77b4", "#8c564b", "#9467bd", "#2ca02c",
            "#ff7f0e", "#e377c2", "#7f7f7f", "#17becf"]


def base_layout(**kw: Any) -> dict:
    return dict(template="plotly_white", colorway=COLORWAY, margin=dict(l=50, r=20, t=40, b=40),
                legend=dict(orientation="h", y=-0.2), **kw)


def curves_figure(series: dict[str, dict[str, list]], keys: list[str] | None = None,
                  log_y: bool = False, title: str = "") -> go.Figure:
    """One line per metric key; series is the /runs/{id}/metrics payload."""
    fig = go.Figure(layout=base_layout(title=title, xaxis_title="step"))
    for key in keys or sorted(series):
        if key in series:
            s = series[key]
            fig.add_trace(go.Scattergl(x=s["step"], y=s["value"], mode="lines", name=key))
    if log_y:
        fig.update_yaxes(type="log")
    return fig
