"""The workers page's figures: queue lengths and runs by status."""
from __future__ import annotations

import plotly.graph_objects as go

from dashboard.figures.base import base_layout

STATUS_COLOUR = {"queued": "#7f7f7f", "running": "#1f77b4", "succeeded": "#2ca02c",
                 "failed": "#d62728", "diverged": "#8c564b", "cancelled": "#9467bd"}


def queues_figure(queues: dict[str, int]) -> go.Figure:
    """Messages waiting per broker queue (a bar each, zeros included)."""
    names = sorted(queues)
    fig = go.Figure(layout=base_layout(title="queue lengths", xaxis_title="queue",
                                       yaxis_title="messages waiting", showlegend=False))
    fig.add_trace(go.Bar(x=names, y=[queues[n] for n in names], marker_color="#000000",
                         text=[queues[n] for n in names], textposition="outside"))
    fig.update_yaxes(rangemode="tozero", range=[0, max([1, *queues.values()]) * 1.15])
    return fig


def status_counts_figure(counts: dict[str, int], title: str = "runs by status") -> go.Figure:
    """How many runs are in each status, in lifecycle order."""
    names = [s for s in STATUS_COLOUR if s in counts] + sorted(set(counts) - set(STATUS_COLOUR))
    fig = go.Figure(layout=base_layout(title=title, xaxis_title="status", yaxis_title="runs",
                                       showlegend=False))
    fig.add_trace(go.Bar(x=names, y=[counts[s] for s in names], text=[counts[s] for s in names],
                         textposition="outside",
                         marker_color=[STATUS_COLOUR.get(s, "#17becf") for s in names]))
    fig.update_yaxes(rangemode="tozero")
    return fig
