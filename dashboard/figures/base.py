"""The shared look: seed 002's colour order and one layout for every figure."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

# Seed 002's plotting order: black, red, blue, brown, purple, green, then Plotly's defaults.
COLORWAY = ["#000000", "#d62728", "#1f77b4", "#8c564b", "#9467bd", "#2ca02c",
            "#ff7f0e", "#e377c2", "#7f7f7f", "#17becf"]

# A line style per colour: pairs of COLORWAY that colour-blind viewers can barely tell apart
# (CIELAB ΔE < 12 after the Machado et al. 2009 protan, deutan or tritan simulation: red/green,
# blue/purple, blue/pink, green/orange, pink/cyan; tests/dashboard/test_palette.py) differ in dash.
DASHES = ["solid", "solid", "solid", "solid", "dash", "dash", "solid", "dash", "solid", "solid"]


def line_style(i: int) -> dict:
    """Colour and dash of the i-th line of a figure."""
    return dict(color=COLORWAY[i % len(COLORWAY)], dash=DASHES[i % len(DASHES)])


# Above this many points a line is drawn with WebGL (scattergl) rather than SVG.
GL_THRESHOLD = 1000


def base_layout(**kw: Any) -> dict:
    layout = dict(template="plotly_white", colorway=COLORWAY, margin=dict(l=55, r=20, t=45, b=40),
                  legend=dict(orientation="h", y=-0.18), uirevision="keep")
    layout.update(kw)
    return layout


def empty_figure(message: str, title: str = "") -> go.Figure:
    """A blank figure carrying a message (no data yet, or nothing to show)."""
    fig = go.Figure(layout=base_layout(title=title))
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def hex_to_rgba(colour: str, alpha: float) -> str:
    """'#d62728', 0.2 → 'rgba(214,39,40,0.2)' (for confidence bands)."""
    c = colour.lstrip("#")
    r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
