"""A study's own figures and tables, named in its file's `sweep.figures` list.

`write_study(runs, figures, out_dir)` writes `<out_dir>/study.md` and `<out_dir>/figures/*.png`:
one section per figure spec, drawn by `STUDY_FIGURES[spec["name"]](runs, spec, writer)`, which
returns the section's Markdown. Runs are plain dicts as `liplab report` fetches them ({"id",
"status", "config", "summary" ({key: {"last", "min", "max"}}), "metrics" ({key: {"step",
"value"}}), "probes"}). Every table is mean ± sample std with N, N counting the runs that have
the value. Common spec keys: `where` ({dotted key: value}: only the runs that match), `title`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from lipcore.registry import Registry
from lipcore.report import SCALARS, ReportWriter, fmt, flat_config, mean_curve, stats, table

StudyFigure = Callable[[list[dict], dict, ReportWriter], str]
STUDY_FIGURES: Registry[StudyFigure] = Registry("study figure")


def value(run: dict, metric: str, stat: str = "last") -> float | None:
    """`stat` (last, min, max) of `metric` in the run's summary, else of its fetched series;
    a scalar of the sweep report (`hessian_top`, `sharpness`, `barrier_vs_linear`, `gen_gap`,
    ... from probe results) by that name."""
    if metric in SCALARS and metric not in (run.get("summary") or {}):
        return SCALARS[metric](run)
    s = (run.get("summary") or {}).get(metric)
    if isinstance(s, dict) and s.get(stat) is not None:
        return float(s[stat])
    vals = [v for v in ((run.get("metrics") or {}).get(metric) or {}).get("value", [])
            if v is not None and math.isfinite(v)]
    if not vals:
        return None
    return {"last": vals[-1], "min": min(vals), "max": max(vals)}[stat]


def key_of(run: dict, key: str) -> Any:
    return flat_config(run.get("config") or {}).get(key, _nested(run.get("config") or {}, key))


def _nested(cfg: dict, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def label(v: Any) -> str:
    return "null" if v is None else str(v)


def select(runs: list[dict], spec: dict) -> list[dict]:
    where = spec.get("where") or {}
    return [r for r in runs if all(key_of(r, k) == v for k, v in where.items())]


def short(key: str) -> str:
    """A key's last part, or its section for a flag or a name: model.depth → depth,
    flossing.enabled → flossing, data.name → data."""
    parts = key.split(".")
    return parts[-2] if parts[-1] in ("enabled", "name") and len(parts) > 1 else parts[-1]


def groups(runs: list[dict], by: str | list[str] | None) -> dict[str, list[dict]]:
    """Runs grouped by one or several keys, ordered by the keys' values; label 'a=1, b=2'."""
    keys = [by] if isinstance(by, str) else list(by or [])
    found: dict[tuple, list[dict]] = {}
    for r in runs:
        found.setdefault(tuple(key_of(r, k) for k in keys), []).append(r)
    order = sorted(found, key=lambda vals: tuple(_order(v) for v in vals))
    return {", ".join(f"{short(k)}={label(v)}" for k, v in zip(keys, vals)) or "all": found[vals]
            for vals in order}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    from lipcore.report_plots import _save as save

    save(fig, path)


def success(run: dict, rule: dict | None) -> bool | None:
    """Whether the run meets `rule` ({metric, stat, below | above}); a diverged run fails."""
    if not rule:
        return None
    if run.get("status") == "diverged":
        return False
    v = value(run, rule["metric"], rule.get("stat", "last"))
    if v is None:
        return False
    return v < rule["below"] if "below" in rule else v > rule["above"]


@STUDY_FIGURES.register("heatmap")
def heatmap(runs: list[dict], spec: dict, w: ReportWriter) -> str:
    """Mean over a cell's runs (seeds) of `metric`'s `stat`, one panel per `split` value; each
    cell marked with its successes k/n under `success` ({metric, stat, below}), ✗ when none."""
    import numpy as np

    plt = _plt()
    runs = select(runs, spec)
    x, y, metric, stat = spec["x"], spec["y"], spec["metric"], spec.get("stat", "min")
    rule = spec.get("success")
    panels = groups(runs, spec.get("split"))
    xs = sorted({key_of(r, x) for r in runs}, key=_order)
    ys = sorted({key_of(r, y) for r in runs}, key=_order)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 0.8, 3.4), squeeze=False)
    vals = [value(r, metric, stat) for r in runs]
    finite = [v for v in vals if v is not None and v > 0]
    vmin, vmax = (min(finite), max(finite)) if finite else (1e-3, 1.0)
    md = []
    share_rows = []
    for ax, (pname, members) in zip(axes[0], panels.items()):
        z = np.full((len(ys), len(xs)), np.nan)
        rows = []
        cells_ok = cells = runs_ok = 0
        for i, yv in enumerate(ys):
            row = [label(yv)]
            for j, xv in enumerate(xs):
                cell = [r for r in members if key_of(r, x) == xv and key_of(r, y) == yv]
                m, sd, n = stats([value(r, metric, stat) for r in cell])
                if n:
                    z[i, j] = m
                row.append(fmt(m, sd, n))
                if rule and cell:
                    ok = sum(bool(success(r, rule)) for r in cell)
                    runs_ok += ok
                    cells += 1
                    cells_ok += ok * 2 > len(cell)
                    ax.text(j, i, f"{'✓' if ok * 2 > len(cell) else '✗'} {ok}/{len(cell)}",
                            ha="center", va="center", fontsize=8,
                            color="white" if ok * 2 <= len(cell) else "black")
            rows.append(row)
        im = ax.imshow(z, cmap="viridis_r", aspect="auto", origin="lower",
                       norm=_lognorm(vmin, vmax) if spec.get("log", True) else None)
        ax.set_xticks(range(len(xs)), [label(v) for v in xs])
        ax.set_yticks(range(len(ys)), [label(v) for v in ys])
        ax.set(xlabel=x, ylabel=y, title=pname)
        md.append(f"**{pname}** — {stat} {metric}, mean ± std over the cell's runs (N):\n")
        md.append(table([f"{y} \\ {x}"] + [label(v) for v in xs], rows) + "\n")
        if rule:
            n_runs = sum(1 for r in members)
            share_rows.append([pname, f"{cells_ok}/{cells} ({100 * cells_ok / max(cells, 1):.0f} %)",
                               f"{runs_ok}/{n_runs} ({100 * runs_ok / max(n_runs, 1):.0f} %)"])
    fig.colorbar(im, ax=list(axes[0]), label=f"{stat} {metric}")
    name = spec.get("file", f"heatmap_{metric.replace('/', '_')}")
    path = w.fig_dir / f"{name}.png"
    _save_untight(fig, path)
    w.written.append(path)
    parts = [f"![{metric} heatmap](figures/{name}.png)\n"]
    if rule:
        cond = (f"{rule.get('stat', 'last')} {rule['metric']} < {rule['below']}" if "below" in rule
                else f"{rule.get('stat', 'last')} {rule['metric']} > {rule['above']}")
        parts.append(f"A run trains when {cond} (diverged runs do not); a cell (✓) when most of "
                     "its runs do. Marks: ✓/✗ and k/n runs that train.\n")
        parts.append(table(["group", "cells that train", "runs that train"], share_rows) + "\n")
    return "\n".join(parts + md)


def _order(v: Any) -> tuple:
    """Numbers by value first, then anything else by its text."""
    number = isinstance(v, (int, float)) and not isinstance(v, bool)
    return (not number, v if number else 0, str(v))


def _lognorm(vmin: float, vmax: float):
    from matplotlib.colors import LogNorm

    return LogNorm(vmin=vmin, vmax=max(vmax, vmin * 1.0001))


def _save_untight(fig, path: Path) -> None:
    """Save without tight_layout (a shared colour bar and tight_layout do not mix)."""
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=80, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


@STUDY_FIGURES.register("curves")
def curves(runs: list[dict], spec: dict, w: ReportWriter) -> str:
    """Mean ± std bands of each metric in `metrics` over steps (or over the logged metric `x`,
    such as `epoch`), one line per `by` group (N in the legend); a `success` rule adds the split
    into runs that train and runs that do not."""
    plt = _plt()
    import numpy as np

    runs = select(runs, spec)
    metrics = spec.get("metrics") or [spec["metric"]]
    grouped = groups(runs, spec.get("by"))
    rule = spec.get("success")
    if rule:
        grouped = {f"{g}, {'trains' if ok else 'fails'}": [r for r in rs if bool(success(r, rule)) == ok]
                   for g, rs in grouped.items() for ok in (True, False)}
        grouped = {g: rs for g, rs in grouped.items() if rs}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.4), squeeze=False)
    rows = []
    for ax, metric in zip(axes[0], metrics):
        for i, (g, members) in enumerate(grouped.items()):
            c = mean_curve(members, metric)
            if c is None:
                continue
            steps, mean, std = c
            mean, std = np.array(mean, dtype=float), np.array(std, dtype=float)
            if spec.get("x"):  # another logged metric as the abscissa (e.g. epoch)
                steps, keep = _abscissa(members, spec["x"], steps)
                mean, std = mean[keep], std[keep]
            ax.plot(steps, mean, color=f"C{i}", label=f"{g} (N={len(members)})")
            ax.fill_between(steps, _band_low(mean, std, spec), mean + std, color=f"C{i}",
                            alpha=0.2)
            m, sd, n = stats([value(r, metric, "last") for r in members])
            rows.append([metric, g, fmt(m, sd, n)])
        if metric.startswith("lyapunov"):
            ax.axhline(0, color="grey", lw=0.5)
        ax.set(xlabel=spec.get("x", "step"), ylabel=metric, yscale=spec.get("yscale", "linear"))
        ax.legend(fontsize=6)
    name = spec.get("file", "curves_" + "_".join(m.replace("/", "_") for m in metrics))
    _save(fig, w.fig_dir / f"{name}.png")
    w.written.append(w.fig_dir / f"{name}.png")
    return (f"![{', '.join(metrics)}](figures/{name}.png)\n\nFinal values, mean ± std (N):\n\n"
            + table(["metric", "group", "last (mean ± std)"], rows) + "\n")


def _abscissa(runs: list[dict], key: str, steps: list[int]):
    """(mean of metric `key` at each of `steps` over the runs, mask of the steps that have it):
    curves of runs whose steps mean different things (rounds, batches) drawn over epochs."""
    import numpy as np

    at: dict[int, list[float]] = {}
    for r in runs:
        series = (r.get("metrics") or {}).get(key) or {}
        for step, v in zip(series.get("step", []), series.get("value", [])):
            at.setdefault(step, []).append(v)
    keep = np.array([s in at for s in steps], dtype=bool)
    return [float(np.mean(at[s])) for s in steps if s in at], keep


def _band_low(mean, std, spec: dict):
    """mean − std, kept above mean/10 on a log axis (where a band below zero cannot be drawn)."""
    import numpy as np

    low = mean - std
    return np.maximum(low, mean / 10) if spec.get("yscale") == "log" else low


@STUDY_FIGURES.register("table")
def grouped_table(runs: list[dict], spec: dict, w: ReportWriter) -> str:
    """One row per `by` group: each of `columns` ("metric" or "metric:stat") as mean ± std (N),
    plus the run statuses of the group."""
    runs = select(runs, spec)
    cols = [c if ":" in c else f"{c}:last" for c in spec["columns"]]
    rows = []
    for g, members in groups(runs, spec.get("by")).items():
        status = ", ".join(f"{n} {s}" for s, n in sorted(_counts(members).items()))
        rows.append([g, status] + [fmt(*stats([value(r, *c.split(":")) for r in members]))
                                   for c in cols])
    return table(["group", "runs"] + [c.replace(":last", "") for c in cols], rows) + "\n"


def _counts(runs: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in runs:
        out[r.get("status", "?")] = out.get(r.get("status", "?"), 0) + 1
    return out


def saxe_loss(t, s_values, u0: float, tau: float, d_out: int):
    """MSE (mean over the d_out outputs, white inputs) of a 2-layer linear net whose modes follow
    Saxe et al.'s u(t) = s·e^{2st/τ} / (e^{2st/τ} − 1 + s/u₀), off-diagonal strengths zero."""
    import numpy as np

    t = np.asarray(t, dtype=float)[:, None]
    s = np.asarray(s_values, dtype=float)[None, :]
    e = np.exp(np.minimum(2 * s * t / tau, 700))
    u = s * e / (e - 1 + s / u0)
    return ((s - u) ** 2).sum(axis=1) / d_out


@STUDY_FIGURES.register("saxe")
def saxe(runs: list[dict], spec: dict, w: ReportWriter) -> str:
    """Measured `metric` curves (mean ± std over the selected runs) beside the analytic loss of
    Saxe et al. for the runs' teacher: τ = d_out / (2·lr) steps (our MSE averages over the
    outputs); the one free number, the initial mode strength u₀, is fitted on a log grid."""
    import numpy as np

    plt = _plt()
    runs = select(runs, spec)
    metric = spec.get("metric", "train_loss")
    c = mean_curve(runs, metric)
    if c is None:
        return "_No run of this selection has the metric._\n"
    steps, mean, std = (np.array(a, dtype=float) for a in c)
    cfg = runs[0]["config"]
    s_values, d_out = cfg["data"]["singular_values"], cfg["data"]["out_dim"]
    tau = d_out / (2 * cfg["training"]["lr"])
    grid = np.logspace(-8, 0, 161)
    fit = mean > 1e-3 * mean[0]  # the sigmoidal phase, not the float noise floor after it
    errs = [np.sqrt(np.mean((np.log(saxe_loss(steps[fit], s_values, u0, tau, d_out))
                             - np.log(mean[fit])) ** 2)) for u0 in grid]
    u0 = float(grid[int(np.argmin(errs))])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(steps, mean, color="C0", label=f"measured {metric} (N={len(runs)})")
    ax.fill_between(steps, _band_low(mean, std, {"yscale": "log"}), mean + std, color="C0",
                    alpha=0.2)
    dense = np.linspace(0, steps.max(), 400)
    ax.plot(dense, saxe_loss(dense, s_values, u0, tau, d_out), "k--",
            label=f"Saxe et al., u₀={u0:.2g} (fitted)")
    for s in s_values:
        t_half = tau / (2 * s) * math.log(max(s / u0 - 1, 1.0))  # u(t_half) = s/2
        ax.axvline(t_half, color="grey", lw=0.4, ls=":")
    ax.set(xlabel="step", ylabel=metric, yscale="log")
    ax.legend(fontsize=7)
    name = spec.get("file", "saxe")
    _save(fig, w.fig_dir / f"{name}.png")
    w.written.append(w.fig_dir / f"{name}.png")
    return (f"![Saxe comparison](figures/{name}.png)\n\nτ = d_out/(2·lr) = {tau:g} steps; fitted "
            f"u₀ = {u0:.3g}; RMS of log(measured / analytic) over the steps where the loss is "
            "above 10⁻³ of its start: "
            f"{min(errs):.3f}. Dotted lines: each mode's half-time τ/(2s)·ln(s/u₀ − 1), where u = s/2.\n")


@STUDY_FIGURES.register("radar")
def radar(runs: list[dict], spec: dict, w: ReportWriter) -> str:
    """Seed 004's radar: each group's mean of each axis, scaled to the best group (v/max, or
    min/v for axes marked `lower` such as time and memory)."""
    import numpy as np

    plt = _plt()
    runs = select(runs, spec)
    axes_spec = spec["axes"]  # [{metric, stat?, lower?: bool, label?}]
    grouped = groups(runs, spec.get("by"))
    means = {g: [stats([value(r, a["metric"], a.get("stat", "last")) for r in rs])[0]
                 for a in axes_spec] for g, rs in grouped.items()}
    cols = np.array(list(means.values()), dtype=float)
    scaled = np.zeros_like(cols)
    for j, a in enumerate(axes_spec):
        col = cols[:, j]
        ok = np.isfinite(col) & (col > 0)
        if not ok.any():
            continue
        scaled[:, j] = np.where(ok, (col[ok].min() / col) if a.get("lower") else (col / col[ok].max()), 0)
    angles = np.linspace(0, 2 * np.pi, len(axes_spec), endpoint=False)
    fig = plt.figure(figsize=(5.8, 4.6))
    ax = fig.add_subplot(projection="polar")
    colours = plt.get_cmap("tab20").colors if len(means) > 10 else [f"C{i}" for i in range(10)]
    for i, (g, row) in enumerate(zip(means, scaled)):
        ax.plot(np.r_[angles, angles[0]], np.r_[row, row[0]], color=colours[i], label=g)
    ax.set_xticks(angles, [a.get("label", a["metric"]) for a in axes_spec], fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.05, 1.0))
    name = spec.get("file", "radar")
    _save_untight(fig, w.fig_dir / f"{name}.png")
    w.written.append(w.fig_dir / f"{name}.png")
    return f"![radar](figures/{name}.png)\n"


@STUDY_FIGURES.register("ranking")
def ranking(runs: list[dict], spec: dict, w: ReportWriter) -> str:
    """Groups ranked by `metric` (mean over runs) beside a published ranking given in the spec
    (`published: {group: value}`), with Spearman's ρ over the groups both rank."""
    from scipy.stats import spearmanr

    runs = select(runs, spec)
    metric, stat = spec["metric"], spec.get("stat", "last")
    published = spec.get("published") or {}
    ours = {g.split("=", 1)[-1]: stats([value(r, metric, stat) for r in rs])
            for g, rs in groups(runs, spec["by"]).items()}
    order = sorted(ours, key=lambda g: -ours[g][0] if not math.isnan(ours[g][0]) else math.inf)
    pub_order = sorted(published, key=lambda g: -published[g])
    rows = [[i + 1, g, fmt(*ours[g]), (pub_order.index(g) + 1) if g in published else "–",
             published.get(g, "–")] for i, g in enumerate(order)]
    both = [g for g in order if g in published and not math.isnan(ours[g][0])]
    rho = spearmanr([ours[g][0] for g in both], [published[g] for g in both])[0] \
        if len(both) >= 3 else math.nan
    return (table(["rank", "group", f"{metric} (mean ± std)", "published rank",
                   spec.get("published_label", "published")], rows)
            + f"\n\nSpearman ρ between our ranking and the published one over the {len(both)} "
            f"shared groups: {rho:.2f}.\n")


def _wall_time(runs: list[dict]) -> str:
    """', in N s' from the first run's start to the last run's end (when both are known)."""
    from datetime import datetime

    starts = [r["started_at"] for r in runs if r.get("started_at")]
    ends = [r["finished_at"] for r in runs if r.get("finished_at")]
    if not starts or not ends:
        return ""
    span = datetime.fromisoformat(max(ends)) - datetime.fromisoformat(min(starts))
    return f", in {span.total_seconds():.0f} s (first start to last end)"


def _last_line(error: str | None) -> str:
    """The line of an error that says what happened (a traceback's last), cut at 200 chars."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no reason recorded"


@STUDY_FIGURES.register("probe")
def probe_figures(runs: list[dict], spec: dict, w: ReportWriter) -> str:
    """The landscape figures (`probes`, default all that are there) of the first selected run
    that has probe results, drawn as `liplab report` draws them."""
    from lipcore.report_plots import PROBE_FIGURES

    run = next((r for r in select(runs, spec) if r.get("probes")), None)
    if run is None:
        return "_No selected run has probe results._\n"
    names = spec.get("probes") or sorted(n for n in run["probes"] if n in PROBE_FIGURES)
    cfg = flat_config(run.get("config") or {})
    varying = ", ".join(f"{k}={cfg.get(k)}" for k in (spec.get("where") or {}))
    parts = [f"Run {run['id']}" + (f" ({varying})" if varying else "") + ":\n"]
    for name in names:
        if name not in run["probes"]:
            continue
        path = w.fig_dir / f"{spec['file']}_{name}.png"
        PROBE_FIGURES[name](run["probes"][name], path)
        w.written.append(path)
        parts.append(f"![{name}](figures/{path.name})")
    return "\n".join(parts) + "\n"


def write_study(runs: list[dict], figures: list[dict], out_dir: str | Path, title: str,
                sweep_id: Any = None) -> Path:
    """`<out_dir>/study.md` with one section per figure spec; returns its path."""
    w = ReportWriter(out_dir)
    w.fig_dir.mkdir(parents=True, exist_ok=True)
    counts = _counts(runs)
    parts = [f"# {title}\n", f"Sweep {sweep_id}: {len(runs)} runs, " + ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items())) + f"{_wall_time(runs)}. Full sweep "
        "report: [report/summary.md](report/summary.md).\n"]
    reasons = sorted({(r["id"], r["status"], _last_line(r.get("error")))
                      for r in runs if r.get("status") in ("diverged", "failed", "cancelled")})
    if reasons:
        parts.append("Runs that did not succeed:\n")
        parts += [f"- run {i} ({status}): {reason}" for i, status, reason in reasons]
        parts.append("")
    for i, spec in enumerate(figures):
        parts.append(f"## {spec.get('title', spec['name'])}\n")
        spec = {"file": f"{i:02d}_{spec['name']}", **spec}
        parts.append(STUDY_FIGURES.get(spec["name"], key=f"sweep.figures.{i}.name")(runs, spec, w))
    return w.text("study.md", "\n".join(parts) + "\n")
