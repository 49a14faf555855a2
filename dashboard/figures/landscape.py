"""Loss-landscape probe results as figures, one builder per probe name (LANDSCAPE_FIGURES).

Each builder takes the probe's JSON result (GET /runs/{id}/probes → {name: result}) and returns
a list of figures. The builders accept the field names documented in docs/probes.md and a few
aliases, so a renamed field degrades to a message in the figure rather than an exception.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import plotly.graph_objects as go

from dashboard.figures.base import COLORWAY, base_layout, empty_figure


def pick(d: dict, *names: str, default: Any = None) -> Any:
    """The first of `names` present in `d` (probe results name things slightly differently)."""
    for n in names:
        if isinstance(d, dict) and d.get(n) is not None:
            return d[n]
    return default


def _is_series(v: Any, n: int) -> bool:
    return isinstance(v, list) and len(v) == n and all(isinstance(x, (int, float)) or x is None for x in v)


def line_curves(result: dict, x_names: tuple[str, ...], title: str) -> go.Figure:
    """Every list of the x axis's length is a curve; accuracies on a second y axis."""
    x = pick(result, *x_names)
    if not isinstance(x, list) or not x:
        return empty_figure(f"no {x_names[0]} axis in the result", title)
    fig = go.Figure(layout=base_layout(title=title, xaxis_title=x_names[0], yaxis_title="loss",
                                       yaxis2=dict(title="accuracy", overlaying="y", side="right")))
    for key, v in result.items():
        if key in x_names:
            continue
        rows = [v] if _is_series(v, len(x)) else (v if isinstance(v, list) and v and
                                                  all(_is_series(r, len(x)) for r in v) else [])
        for i, row in enumerate(rows):
            name = key if len(rows) == 1 else f"{key} {i}"
            fig.add_trace(go.Scatter(x=x, y=row, mode="lines", name=name,
                                     yaxis="y2" if "acc" in key else "y"))
    if not fig.data:
        return empty_figure("no curve in the result", title)
    return fig


def interpolation(result: dict) -> list[go.Figure]:
    """Loss (and accuracy) along θ(α) = (1-α)·θ_init + α·θ_final."""
    return [line_curves(result, ("alpha", "alphas", "t"), "interpolation θ_init → θ_final")]


def slice_1d(result: dict) -> list[go.Figure]:
    """Loss along random filter-normalised directions."""
    return [line_curves(result, ("alpha", "alphas", "x"), "1D slices")]


def surface_and_contour(grid_x: list, grid_y: list, z: list[list], title: str,
                        path: tuple[list, list] | None = None) -> list[go.Figure]:
    """A 3D surface and a contour plot of z[i][j] at (x[j], y[i]), with an optional path."""
    surface = go.Figure(layout=base_layout(title=f"{title}: surface",
                                           scene=dict(xaxis_title="α", yaxis_title="β",
                                                      zaxis_title="loss")))
    surface.add_trace(go.Surface(x=grid_x, y=grid_y, z=z, colorscale="Viridis", showscale=False))
    contour = go.Figure(layout=base_layout(title=f"{title}: contours", xaxis_title="α",
                                           yaxis_title="β"))
    contour.add_trace(go.Contour(x=grid_x, y=grid_y, z=z, colorscale="Viridis", name="loss",
                                 contours=dict(showlabels=True)))
    if path is not None:
        contour.add_trace(go.Scatter(x=path[0], y=path[1], mode="lines+markers", name="trajectory",
                                     line=dict(color="#d62728"), marker=dict(size=6)))
        contour.add_trace(go.Scatter(x=path[0][-1:], y=path[1][-1:], mode="markers", name="final",
                                     marker=dict(symbol="star", size=14, color="#000000")))
    return [surface, contour]


def slice_2d(result: dict) -> list[go.Figure]:
    """The loss over a plane of two orthonormalised filter-normalised directions."""
    x, y = pick(result, "alpha", "alphas", "x"), pick(result, "beta", "betas", "y")
    z = pick(result, "loss", "losses", "z", "surface")
    if not (x and y and z):
        return [empty_figure("no alpha/beta/loss grid in the result", "2D slice")]
    return surface_and_contour(x, y, z, "2D slice")


def hessian(result: dict) -> list[go.Figure]:
    """Top eigenvalues as stems and the spectral density (stochastic Lanczos quadrature)."""
    eig = pick(result, "eigenvalues", "top_eigenvalues", "top", default=[]) or []
    trace = pick(result, "trace")
    density = pick(result, "density", default={}) or {}
    grid = pick(density, "grid", "x", "eigenvalues", "support", default=[]) or []
    dens = pick(density, "density", "y", "values", default=[]) or []
    if not eig and not grid:
        return [empty_figure("no eigenvalues in the result", "Hessian spectrum")]
    title = "Hessian spectrum" + (f" (trace ≈ {trace:.4g})" if isinstance(trace, (int, float)) else "")
    fig = go.Figure(layout=base_layout(title=title, xaxis_title="eigenvalue λ",
                                       yaxis=dict(title="density"), yaxis2=dict(
                                           title="top-k", overlaying="y", side="right",
                                           showgrid=False)))
    if grid and dens:
        fig.add_trace(go.Scatter(x=grid, y=dens, mode="lines", name="density (SLQ)", fill="tozeroy",
                                 line=dict(color=COLORWAY[2])))
    if eig:
        sx, sy = [], []
        for i, v in enumerate(eig):
            sx += [v, v, None]
            sy += [0, i + 1, None]
        fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", name="top-k stems", yaxis="y2",
                                 line=dict(color=COLORWAY[1]), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=eig, y=list(range(1, len(eig) + 1)), mode="markers", yaxis="y2",
                                 name="top-k eigenvalues", marker=dict(color=COLORWAY[1], size=9),
                                 hovertemplate="λ_%{y} = %{x:.4g}<extra></extra>"))
    return [fig]


def sharpness(result: dict) -> list[go.Figure]:
    """The histogram of loss increases under random perturbations, the ε-sharpness marked."""
    samples = pick(result, "samples", "values", "increases", "losses", default=[]) or []
    value = pick(result, "sharpness", "random", "value", "eps_sharpness")
    ascent = pick(result, "ascent", "gradient_ascent", "adversarial")
    if not samples:
        return [empty_figure("no perturbation samples in the result", "sharpness")]
    fig = go.Figure(layout=base_layout(title="ε-sharpness: loss increase under perturbation",
                                       xaxis_title="loss increase", yaxis_title="count"))
    fig.add_trace(go.Histogram(x=samples, name="random perturbations", marker_color=COLORWAY[0]))
    for v, name, colour in ((value, "sharpness", COLORWAY[1]), (ascent, "gradient ascent", COLORWAY[2])):
        if isinstance(v, (int, float)) and math.isfinite(v):
            fig.add_vline(x=v, line=dict(color=colour, dash="dash"), annotation_text=name)
    return [fig]


def connectivity(result: dict) -> list[go.Figure]:
    """Loss along the path between two runs (linear, aligned, Bézier), the barrier marked."""
    t = pick(result, "alpha", "alphas", "t")
    if not isinstance(t, list) or not t:
        return [empty_figure("no alpha axis in the result", "connectivity")]
    fig = line_curves(result, ("alpha", "alphas", "t"), "mode connectivity")
    barriers = pick(result, "barrier", "barriers", default={})
    if isinstance(barriers, (int, float)):
        barriers = {"barrier": barriers}
    notes = []
    for name, b in (barriers or {}).items():
        if isinstance(b, dict):
            b = pick(b, "value", "height")
        if isinstance(b, (int, float)) and math.isfinite(b):
            notes.append(f"{name} = {b:.4g}")
    curves = [tr for tr in fig.data if tr.yaxis in (None, "y")]
    if curves:
        ys = [v for v in curves[0].y]
        k = max(range(len(ys)), key=lambda i: -math.inf if ys[i] is None else ys[i])
        lin = ys[0] + (ys[-1] - ys[0]) * (t[k] - t[0]) / ((t[-1] - t[0]) or 1)
        fig.add_trace(go.Scatter(x=[t[k], t[k]], y=[lin, ys[k]], mode="lines+markers",
                                 name="barrier", line=dict(color=COLORWAY[1], dash="dot", width=3),
                                 marker=dict(symbol="line-ew-open", size=14)))
    if notes:
        fig.update_layout(title="mode connectivity — barrier: " + "; ".join(notes))
    return [fig]


def pca(result: dict) -> list[go.Figure]:
    """The weight trajectory projected on its two principal directions, over the loss grid."""
    path = pick(result, "path", "trajectory", "projection", default={})
    if isinstance(path, list) and path and isinstance(path[0], list):
        px, py = [p[0] for p in path], [p[1] for p in path]
    else:
        px, py = pick(path, "x", default=[]), pick(path, "y", default=[])
    grid = pick(result, "grid", default={}) or {}
    gx, gy = pick(grid, "x", "alpha", default=[]), pick(grid, "y", "beta", default=[])
    z = pick(grid, "loss", "z", default=[])
    ratio = pick(result, "explained_variance_ratio", "explained_variance")
    title = "PCA trajectory" + (f" (explained {', '.join(f'{r:.2f}' for r in ratio[:2])})"
                                if isinstance(ratio, list) and ratio else "")
    if gx and gy and z:
        return surface_and_contour(gx, gy, z, title, (px, py))[1:]
    if px:
        fig = go.Figure(layout=base_layout(title=title, xaxis_title="PC1", yaxis_title="PC2"))
        fig.add_trace(go.Scatter(x=px, y=py, mode="lines+markers", name="trajectory"))
        return [fig]
    return [empty_figure("no path in the result", "PCA trajectory")]


LANDSCAPE_FIGURES: dict[str, Callable[[dict], list[go.Figure]]] = {
    "interpolation": interpolation, "slice_1d": slice_1d, "slice_2d": slice_2d,
    "hessian": hessian, "sharpness": sharpness, "connectivity": connectivity, "pca": pca,
}


def landscape_figures(probes: dict[str, dict]) -> list[tuple[str, go.Figure]]:
    """(probe name, figure) for every landscape probe present, in LANDSCAPE_FIGURES order."""
    out = []
    for name, build in LANDSCAPE_FIGURES.items():
        if isinstance(probes.get(name), dict):
            out += [(name, fig) for fig in build(probes[name])]
    return out
