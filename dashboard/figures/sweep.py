"""A sweep's figures: the grid heatmap with its success/failure overlay, grouped mean ± band
curves, and parallel coordinates of the varying keys against a metric."""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from dashboard.figures.base import COLORWAY, base_layout, empty_figure, hex_to_rgba, line_style

FAILED = ("failed", "diverged", "cancelled")
PENDING = ("queued", "running")

# The overlay's symbol for each cell outcome (seed 000's success/failure plots).
OUTCOME_SYMBOL = {"succeeded": "circle-open", "failed": "x", "mixed": "diamond-open",
                  "pending": "hourglass"}
OUTCOME_COLOUR = {"succeeded": "#2ca02c", "failed": "#d62728", "mixed": "#ff7f0e",
                  "pending": "#7f7f7f"}


def cell_outcome(counts: dict[str, int] | None) -> str | None:
    """One word for a cell's runs: succeeded, failed (none succeeded), mixed, pending, or None."""
    if not counts or not sum(counts.values()):
        return None
    ok = counts.get("succeeded", 0)
    bad = sum(counts.get(s, 0) for s in FAILED)
    if bad and ok:
        return "mixed"
    if bad:
        return "failed"
    if ok and not any(counts.get(s, 0) for s in PENDING):
        return "succeeded"
    return "pending" if not ok else "mixed"


def heatmap_figure(grid: dict[str, list], status: list[list[dict | None]] | None = None,
                   metric: str = "", agg: str = "", x_key: str = "", y_key: str = "",
                   log_z: bool = False) -> go.Figure:
    """z[i][j] (for y[i], x[j]) as a heatmap, with a marker per cell for its runs' outcome.

    Axis values become category labels so that e.g. depths 1, 2, 4, 8 get equal cells.
    `log_z` colours by log10 of the metric (losses spanning decades), hover shows the value.
    """
    xs, ys, z = [str(v) for v in grid.get("x", [])], [str(v) for v in grid.get("y", [])], grid.get("z", [])
    if not xs or not ys:
        return empty_figure("no runs in this sweep yet", "grid")
    if x_key and x_key == y_key and len(z) == len(xs):  # one key on both axes: its diagonal, one row
        z, ys, y_key = [[z[i][i] for i in range(len(xs))]], [metric or "value"], ""
        status = [[row[i] for i, row in enumerate(status)]] if status else status
    title = f"{agg} {metric} over {y_key} × {x_key}".strip() if y_key else f"{agg} {metric} by {x_key}".strip()
    fig = go.Figure(layout=base_layout(title=title, xaxis_title=x_key, yaxis_title=y_key))
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")

    def colour_value(v: float | None) -> float | None:
        if v is None or not math.isfinite(v):
            return None
        return math.log10(v) if log_z and v > 0 else (None if log_z else v)

    zc = [[colour_value(v) for v in row] for row in z]
    fig.add_trace(go.Heatmap(x=xs, y=ys, z=zc, customdata=z, colorscale="Viridis",
                             colorbar=dict(title=("log10 " if log_z else "") + metric),
                             hovertemplate=f"{x_key}=%{{x}}<br>" + (f"{y_key}=%{{y}}<br>" if y_key else "") + f"{metric}="
                                           "%{customdata:.4g}<extra></extra>", name=metric))
    if status:
        by_outcome: dict[str, tuple[list, list, list]] = {}
        for i, row in enumerate(status):
            for j, counts in enumerate(row):
                outcome = cell_outcome(counts)
                if outcome:
                    text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if n)
                    bx, by, bt = by_outcome.setdefault(outcome, ([], [], []))
                    bx.append(xs[j])
                    by.append(ys[i])
                    bt.append(text)
        for outcome, (bx, by, bt) in by_outcome.items():
            fig.add_trace(go.Scatter(x=bx, y=by, text=bt, mode="markers", name=outcome,
                                     marker=dict(symbol=OUTCOME_SYMBOL[outcome], size=14,
                                                 color=OUTCOME_COLOUR[outcome], line=dict(width=2)),
                                     hovertemplate="%{text}<extra>" + outcome + "</extra>"))
    return fig


def grouped_figure(groups: list[dict[str, Any]], by: str | None, metric: str, band: str = "std",
                   log_y: bool = False) -> go.Figure:
    """Per group: the mean curve and a mean ± band (std or stderr) ribbon; hover gives N.

    Each group is {"value", "step": [...], "mean": [...], "std": [...], "stderr": [...], "n": [...]};
    `by` None: one group pooling every run of the sweep.
    """
    if band not in ("std", "stderr"):
        raise ValueError(f"band must be 'std' or 'stderr', got {band!r}")
    groups = [g for g in groups if g.get("step")]
    if not groups:
        return empty_figure(f"no {metric} points yet", f"{metric} by {by or 'all runs'}")
    over = f"by {by}" if by else "over all runs"
    fig = go.Figure(layout=base_layout(title=f"{metric}: mean ± {band} {over}", xaxis_title="step (optimizer updates)",
                                       yaxis_title=metric))
    for gi, g in enumerate(groups):
        colour = COLORWAY[gi % len(COLORWAY)]
        steps, mean, width, n = g["step"], g["mean"], g.get(band) or [0] * len(g["step"]), g["n"]
        width = [w if w is not None else 0 for w in width]
        upper = [m + w if m is not None else None for m, w in zip(mean, width)]
        lower = [m - w if m is not None else None for m, w in zip(mean, width)]
        label = f"{by}={g['value']} (N≤{max(n) if n else 0})" if by else f"all runs (N≤{max(n) if n else 0})"
        fig.add_trace(go.Scatter(x=list(steps) + list(steps)[::-1], y=upper + lower[::-1],
                                 mode="lines", fill="toself", fillcolor=hex_to_rgba(colour, 0.18),
                                 line=dict(width=0), hoverinfo="skip", showlegend=False,
                                 legendgroup=label, name=f"{label} band"))
        fig.add_trace(go.Scatter(x=steps, y=mean, mode="lines", name=label, legendgroup=label,
                                 line=line_style(gi), customdata=n,
                                 hovertemplate="step %{x}<br>mean %{y:.4g}<br>N=%{customdata}"
                                               "<extra></extra>"))
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig


def parallel_figure(rows: list[dict[str, Any]], keys: list[str], metric: str) -> go.Figure:
    """One line per run across the varying keys and the metric, coloured by the metric.

    `rows` are {"params": {key: value}, "value": float|None}; runs without the metric are left out.
    Non-numeric keys become integer axes labelled with their values.
    """
    rows = [r for r in rows if r.get("value") is not None and math.isfinite(r["value"])]
    if not rows or not keys:
        return empty_figure(f"no finished run has {metric}", "parallel coordinates")
    dims = []
    for key in keys:
        vals = [r["params"].get(key) for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            dims.append(dict(label=key, values=vals))
        else:
            labels = sorted({str(v) for v in vals})
            index = {lab: i for i, lab in enumerate(labels)}
            dims.append(dict(label=key, values=[index[str(v)] for v in vals],
                             tickvals=list(range(len(labels))), ticktext=labels))
    values = [r["value"] for r in rows]
    dims.append(dict(label=metric, values=values))
    fig = go.Figure(layout=base_layout(title=f"{metric} across the varying keys ({len(rows)} runs)"))
    fig.add_trace(go.Parcoords(dimensions=dims, line=dict(color=values, colorscale="Viridis",
                                                           showscale=True)))
    fig.update_layout(margin=dict(l=80, r=80, t=70, b=30))
    return fig
