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
    """Histograms of the loss rise under random perturbations (one per ε), and the ε-sharpness
    curves: random mean and max, and projected gradient ascent (the larger, tighter estimate)."""
    eps = pick(result, "eps", default=[]) or []
    rows = pick(result, "random_samples", default=None)
    if not rows:
        return [empty_figure("no perturbation samples in the result", "sharpness")]
    hist = go.Figure(layout=base_layout(title="loss rise under random perturbations",
                                        xaxis_title="L(θ+z) − L(θ)", yaxis_title="count",
                                        barmode="overlay"))
    for i, row in enumerate(rows):
        label = f"ε = {eps[i]:g}" if i < len(eps) and isinstance(eps[i], (int, float)) else str(i)
        hist.add_trace(go.Histogram(x=row, name=label, opacity=0.6,
                                    marker_color=COLORWAY[i % len(COLORWAY)]))
    figs = [hist]
    curves = {k: pick(result, k) for k in ("random_mean", "random_max", "ascent_max")}
    curves = {k: v for k, v in curves.items() if isinstance(v, list) and len(v) == len(eps)}
    if curves and all(isinstance(e, (int, float)) for e in eps):
        fig = go.Figure(layout=base_layout(title="ε-sharpness", xaxis_title="ε (relative, per layer)",
                                           yaxis_title="loss rise", xaxis_type="log"))
        for k, v in curves.items():
            fig.add_trace(go.Scatter(x=eps, y=v, mode="lines+markers", name=k.replace("_", " ")))
        figs.append(fig)
    return figs


def _barrier_segment(alpha: list, loss: list) -> tuple[list, list] | None:
    """Where the loss rises most above the straight line between the endpoint losses
    (the `vs_linear` barrier): the segment from that line up to the curve."""
    pts = [(a, v) for a, v in zip(alpha, loss) if v is not None]
    if len(pts) < 3:
        return None
    (a0, v0), (a1, v1) = pts[0], pts[-1]
    line = [(v0 + (v1 - v0) * (a - a0) / ((a1 - a0) or 1)) for a, _ in pts]
    k = max(range(len(pts)), key=lambda i: pts[i][1] - line[i])
    return [pts[k][0], pts[k][0]], [line[k], pts[k][1]]


def connectivity(result: dict) -> list[go.Figure]:
    """Loss along each path between the two runs (straight, aligned, Bézier), each path's
    barrier drawn as a segment and both barrier definitions named in the legend."""
    paths = {k: result[k] for k in ("linear", "aligned", "bezier") if isinstance(result.get(k), dict)}
    if not paths:
        return [empty_figure("no path in the result", "mode connectivity")]
    fig = go.Figure(layout=base_layout(title="mode connectivity (loss along the path)",
                                       xaxis_title="α (t for the Bézier curve)", yaxis_title="loss"))
    for i, (name, path) in enumerate(paths.items()):
        alpha, loss = pick(path, "alpha", "t", default=[]), pick(path, "loss", default=[])
        if not (alpha and loss):
            continue
        barrier = pick(path, "loss_barrier", "barrier", default={}) or {}
        if isinstance(barrier, (int, float)):
            barrier = {"barrier": barrier}
        notes = ", ".join(f"{k} {v:.3g}" for k, v in barrier.items() if isinstance(v, (int, float)))
        colour = COLORWAY[i % len(COLORWAY)]
        fig.add_trace(go.Scatter(x=alpha, y=loss, mode="lines+markers", name=f"{name} ({notes})"
                                 if notes else name, line=dict(color=colour), marker=dict(size=4)))
        seg = _barrier_segment(alpha, loss)
        if seg:
            fig.add_trace(go.Scatter(x=seg[0], y=seg[1], mode="lines", name=f"{name} barrier",
                                     line=dict(color=colour, dash="dot", width=3), showlegend=False,
                                     hovertemplate="barrier %{y:.4g}<extra></extra>"))
    return [fig]


def pca(result: dict) -> list[go.Figure]:
    """The weight trajectory projected on its two principal directions, over the loss grid."""
    path = pick(result, "path", "trajectory", "projection", default={})
    if isinstance(path, list) and path and isinstance(path[0], list):
        px, py = [p[0] for p in path], [p[1] for p in path]
    else:
        px, py = pick(path, "a", "x", default=[]), pick(path, "b", "y", default=[])
    grid = pick(result, "grid", default={}) or {}
    gx, gy = pick(grid, "a", "x", "alpha", default=[]), pick(grid, "b", "y", "beta", default=[])
    z = pick(grid, "loss", "z", default=[])
    ratio = pick(result, "explained_variance_ratio", "explained_variance")
    title = "PCA trajectory" + (f" (explained variance {', '.join(f'{r:.2g}' for r in ratio[:2])})"
                                if isinstance(ratio, list) and ratio else "")
    if gx and gy and z:
        return surface_and_contour(gx, gy, z, title, (px, py))[1:]
    if px:
        fig = go.Figure(layout=base_layout(title=title, xaxis_title="PC1", yaxis_title="PC2"))
        fig.add_trace(go.Scatter(x=px, y=py, mode="lines+markers", name="trajectory"))
        return [fig]
    return [empty_figure("no path in the result", "PCA trajectory")]


def lyapunov(result: dict) -> list[go.Figure]:
    """Each Lyapunov exponent λ_i over training (from logged metrics or checkpoints)."""
    steps, rows = pick(result, "step", "steps", default=[]), pick(result, "exponents", default=[])
    if not (steps and rows):
        return [empty_figure("no exponents in the result", "Lyapunov spectrum over training")]
    fig = go.Figure(layout=base_layout(title=f"Lyapunov exponents over training "
                                             f"({result.get('source', '')})".replace(" ()", ""),
                                       xaxis_title="step", yaxis_title="λ_i (per block)"))
    for i in range(max(len(r) for r in rows)):
        fig.add_trace(go.Scatter(x=steps, y=[r[i] if i < len(r) else None for r in rows],
                                 mode="lines+markers", name=f"λ_{i}"))
    fig.add_hline(y=0, line=dict(color="#7f7f7f", dash="dot"))
    return [fig]


def certified(result: dict) -> list[go.Figure]:
    """Certified robust accuracy against the radius ε, clean accuracy as the reference line."""
    eps, acc = pick(result, "eps", default=[]), pick(result, "certified_acc", default=[])
    if not (eps and acc):
        return [empty_figure("no certified accuracies in the result", "certified robustness")]
    bound = pick(result, "lipschitz_bound")
    fig = go.Figure(layout=base_layout(title="certified robust accuracy" + (
        f" (L = {bound:.3g})" if isinstance(bound, (int, float)) else ""),
        xaxis_title="ε (L2 radius)", yaxis_title="accuracy"))
    fig.add_trace(go.Scatter(x=eps, y=acc, mode="lines+markers", name="certified"))
    if isinstance(pick(result, "accuracy"), (int, float)):
        fig.add_hline(y=result["accuracy"], line=dict(dash="dot"), annotation_text="clean")
    return [fig]


def measurement(result: dict) -> list[go.Figure]:
    """Time per training phase (box of every timed step) and the memory it took (bars, MiB)."""
    times, memory = pick(result, "time_s", default={}) or {}, pick(result, "memory", default={}) or {}
    phases = [p for p in ("forward", "backward", "step", "batch") if isinstance(times.get(p), dict)]
    if not phases:
        return [empty_figure("no timings in the result", "time per training step")]
    device = result.get("device", "")
    box = go.Figure(layout=base_layout(title=f"time per phase ({device}, batch "
                                             f"{result.get('batch_size', '?')})",
                                       yaxis_title="seconds", showlegend=False))
    for phase in phases:
        samples = times[phase].get("all") or [times[phase].get("median")]
        box.add_trace(go.Box(y=samples, name=phase, boxpoints="all"))
    parts = {k: memory[k] for k in ("peak_bytes", "param_bytes", "activation_bytes")
             if isinstance(memory.get(k), (int, float))}
    if not parts:
        return [box]
    bars = go.Figure(layout=base_layout(
        title=f"memory ({memory.get('method', 'unknown method')})", yaxis_title="MiB"))
    bars.add_trace(go.Bar(x=list(parts), y=[v / 2**20 for v in parts.values()]))
    return [box, bars]


LANDSCAPE_FIGURES: dict[str, Callable[[dict], list[go.Figure]]] = {
    "interpolation": interpolation, "slice_1d": slice_1d, "slice_2d": slice_2d,
    "hessian": hessian, "sharpness": sharpness, "connectivity": connectivity, "pca": pca,
    "lyapunov": lyapunov, "certified": certified, "measurement": measurement,
}


def landscape_figures(probes: dict[str, dict]) -> list[tuple[str, go.Figure]]:
    """(probe name, figure) for every landscape probe present, in LANDSCAPE_FIGURES order."""
    out = []
    for name, build in LANDSCAPE_FIGURES.items():
        if isinstance(probes.get(name), dict):
            out += [(name, fig) for fig in build(probes[name])]
    return out
