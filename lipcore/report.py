"""Markdown study reports for a sweep (seed 003): summary, depth, width, activation, optimizer
and connectivity studies, with tables grouped by a hyperparameter (mean ± std and N) and PNG
figures beside them.

Input is plain data, so it works the same from the REST API (`liplab report`) or from disk:
each run is a dict {"id", "name", "status", "config" (nested), "metrics" ({key: {"step",
"value"}}), "probes" ({probe: result})}. `write_report(runs, out_dir)` writes
`<out_dir>/{summary,depth_study,…}.md` and `<out_dir>/figures/*.png`.

Idempotent and resumable: a figure is redrawn only when its PNG is missing or its inputs
changed (a digest per figure in `figures/inputs.json`), a Markdown file is rewritten only when
its text changed, and every file is written atomically, so re-running after an interruption
finishes the remaining work, and re-running after new results redraws exactly what they change.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Callable

STUDIES = {  # file stem → (config key, title)
    "depth_study": ("model.depth", "Depth"),
    "width_study": ("model.width", "Width"),
    "activation_study": ("model.activation", "Activation"),
    "optimizer_study": ("training.optimizer", "Optimizer"),
}

# Scalars per run: name → function(run) -> float | None.
SCALARS: dict[str, Callable[[dict], float | None]] = {}


def scalar(name: str):
    def deco(fn):
        SCALARS[name] = fn
        return fn
    return deco


def last(run: dict, key: str) -> float | None:
    s = run.get("metrics", {}).get(key)
    vals = [v for v in (s or {}).get("value", []) if v is not None]
    return float(vals[-1]) if vals else None


for _key in ("test_acc", "test_loss", "train_loss", "train_acc"):
    SCALARS[_key] = lambda run, k=_key: last(run, k)


def _probe(run: dict, name: str) -> dict | None:
    return (run.get("probes") or {}).get(name)


@scalar("hessian_top")
def _hessian_top(run):
    p = _probe(run, "hessian")
    return p["eigenvalues"][0] if p else None


@scalar("hessian_trace")
def _hessian_trace(run):
    p = _probe(run, "hessian")
    return p["trace"] if p else None


@scalar("sharpness")
def _sharpness(run):
    """Ascent sharpness at the first ε (random max when ascent was off)."""
    p = _probe(run, "sharpness")
    if not p:
        return None
    return (p.get("ascent_max") or p["random_max"])[0]


def _barrier(kind: str):
    def fn(run):
        p = _probe(run, "connectivity")
        if not p:
            return None
        return p.get("aligned", p["linear"])["loss_barrier"][kind]
    return fn


@scalar("gen_gap")
def _gen_gap(run):
    """Generalisation gap: final test loss minus final train loss."""
    test, train = last(run, "test_loss"), last(run, "train_loss")
    return None if test is None or train is None else test - train


SCALARS["barrier_vs_mean"] = _barrier("vs_mean")
SCALARS["barrier_vs_linear"] = _barrier("vs_linear")


def flat_config(cfg: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in (cfg or {}).items():
        if isinstance(v, dict):
            out.update(flat_config(v, f"{prefix}{k}."))
        elif not isinstance(v, list):
            out[f"{prefix}{k}"] = v
    return out


def varying_keys(runs: list[dict]) -> list[str]:
    """Dotted config keys whose value differs between runs (seed keys included)."""
    flats = [flat_config(r.get("config", {})) for r in runs]
    keys = sorted(set().union(*flats)) if flats else []
    return [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1]


def stats(values: list[float]) -> tuple[float, float, int]:
    """(mean, sample std (0 for one value), N) of the finite values."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return math.nan, math.nan, 0
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals)


def fmt(mean: float, std: float, n: int) -> str:
    return "–" if n == 0 else f"{mean:.4g} ± {std:.2g} (N={n})"


def correlations(runs: list[dict], target: str = "gen_gap") -> list[list[Any]]:
    """[scalar, N, Pearson r, Spearman ρ] of each geometry scalar against `target` over runs
    having both (N ≥ 3), as seed 003 relates sharpness and curvature to generalisation."""
    from scipy.stats import pearsonr, spearmanr

    rows = []
    for name in ("hessian_top", "hessian_trace", "sharpness", "barrier_vs_linear"):
        pairs = [(SCALARS[name](r), SCALARS[target](r)) for r in runs]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None
                 and math.isfinite(a) and math.isfinite(b)]
        if len(pairs) >= 3 and len({a for a, _ in pairs}) > 1 and len({b for _, b in pairs}) > 1:
            xs, ys = zip(*pairs)
            rows.append([name, len(pairs), f"{pearsonr(xs, ys)[0]:.3f}",
                         f"{spearmanr(xs, ys)[0]:.3f}"])
    return rows


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def group_runs(runs: list[dict], key: str) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(str(flat_config(r.get("config", {})).get(key)), []).append(r)
    return dict(sorted(groups.items(), key=lambda kv: _sort_key(kv[0])))


def _sort_key(s: str):
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def present_scalars(runs: list[dict]) -> list[str]:
    return [n for n, fn in SCALARS.items() if any(fn(r) is not None for r in runs)]


def grouped_table(runs: list[dict], key: str, scalars: list[str]) -> str:
    rows = []
    for value, members in group_runs(runs, key).items():
        rows.append([value, len(members)] + [fmt(*stats([SCALARS[s](r) for r in members]))
                                             for s in scalars])
    return table([key, "runs"] + [f"{s} (mean ± std)" for s in scalars], rows)


def mean_curve(runs: list[dict], key: str) -> tuple[list, list, list] | None:
    """Steps, mean and std of a metric over runs, per step (N varies as runs end)."""
    by_step: dict[int, list[float]] = {}
    for r in runs:
        s = r.get("metrics", {}).get(key)
        for step, v in zip((s or {}).get("step", []), (s or {}).get("value", [])):
            if v is not None and math.isfinite(v):
                by_step.setdefault(step, []).append(v)
    if not by_step:
        return None
    steps = sorted(by_step)
    st = [stats(by_step[s]) for s in steps]
    return steps, [m for m, _, _ in st], [sd for _, sd, _ in st]


class ReportWriter:
    """Writes files idempotently under `out_dir`; `written` lists what changed this time.

    A figure is redrawn when its PNG is missing or its inputs changed: `figures/inputs.json`
    keeps a digest of each figure's plot function and arguments, so a report re-run after new
    runs or new probe results never keeps a stale picture under a current name."""

    def __init__(self, out_dir: str | Path):
        self.out = Path(out_dir)
        self.fig_dir = self.out / "figures"
        self.written: list[Path] = []
        self.kept: list[Path] = []
        self._digests_path = self.fig_dir / "inputs.json"
        try:
            self._digests: dict[str, str] = json.loads(self._digests_path.read_text())
        except (OSError, ValueError):
            self._digests = {}

    def text(self, name: str, content: str) -> Path:
        path = self.out / name
        if path.exists() and path.read_text() == content:
            self.kept.append(path)
            return path
        _write_atomic(path, content)
        self.written.append(path)
        return path

    def figure(self, name: str, plot: Callable[..., Any], *args: Any) -> str:
        """Relative link of figures/<name>.png, drawn by `plot(*args, path)` unless the PNG
        exists and was drawn from the same function and arguments."""
        path = self.fig_dir / f"{name}.png"
        digest = _digest(plot, args)
        if path in self.written or path in self.kept:  # already handled in this pass
            pass
        elif path.exists() and self._digests.get(name) == digest:
            self.kept.append(path)
        else:
            plot(*args, path)
            self.written.append(path)
            self._digests[name] = digest
            _write_atomic(self._digests_path, json.dumps(self._digests, sort_keys=True, indent=0))
        return f"figures/{name}.png"


def _digest(plot: Callable[..., Any], args: tuple) -> str:
    what = [f"{plot.__module__}.{plot.__qualname__}", list(args)]
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def _write_atomic(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content)
    os.replace(tmp, path)


def _primary(runs: list[dict]) -> str:
    return "test_acc" if any(last(r, "test_acc") is not None for r in runs) else "test_loss"


def study(w: ReportWriter, runs: list[dict], stem: str, key: str, title: str) -> None:
    from lipcore import report_plots as plots

    scalars = present_scalars(runs)
    groups = group_runs(runs, key)
    parts = [f"# {title} study\n", f"Runs grouped by `{key}`; each cell is mean ± sample std "
             f"over the group's runs (N = runs with a value).\n"]
    if len(groups) < 2:
        parts.append(f"_`{key}` does not vary in this sweep ({len(runs)} runs, one group)._\n")
    parts.append(grouped_table(runs, key, scalars) + "\n")
    primary = _primary(runs)
    st = [stats([last(r, primary) for r in g]) for g in groups.values()]
    if any(n for _, _, n in st):
        link = w.figure(f"{stem}_{primary}", plots.grouped_bars, list(groups),
                        [m for m, _, _ in st], [s for _, s, _ in st], [n for _, _, n in st],
                        key, primary)
        parts.append(f"![{primary} by {key}]({link})\n")
    curves = {f"{key}={v}": c for v, g in groups.items() if (c := mean_curve(g, "train_loss"))}
    if curves:
        link = w.figure(f"{stem}_train_loss", plots.grouped_curves, curves, "step",
                        "train loss (mean ± std)")
        parts.append(f"![train loss by {key}]({link})\n")
    w.text(f"{stem}.md", "\n".join(parts))


def connectivity_study(w: ReportWriter, runs: list[dict], landscape_runs: int | None = None) -> None:
    from lipcore import report_plots as plots
    from lipcore.probes.connectivity import DEFINITIONS

    with_conn = [r for r in runs if _probe(r, "connectivity")]
    parts = ["# Connectivity study\n", "Barriers along the path from each run to its peer. "
             "Both definitions in use, each named:\n"]
    parts += [f"- `{k}`: {v}" for k, v in DEFINITIONS.items()]
    parts.append("")
    if not with_conn:
        parts.append("_No run of this sweep has a `connectivity` probe result._\n")
        w.text("connectivity_study.md", "\n".join(parts))
        return
    rows = []
    for path in ("linear", "aligned", "bezier"):
        for measure in ("loss_barrier", "error_barrier"):
            for kind in ("vs_mean", "vs_linear"):
                vals = [r["probes"]["connectivity"][path][measure][kind] for r in with_conn
                        if path in r["probes"]["connectivity"]
                        and measure in r["probes"]["connectivity"][path]]
                if vals:
                    rows.append([path, measure.split("_")[0], kind, fmt(*stats(vals))])
    parts.append(table(["path", "quantity", "barrier", "mean ± std"], rows) + "\n")
    varying = [k for k in varying_keys(with_conn) if "seed" not in k]
    for key in varying[:3]:
        parts.append(f"## By `{key}`\n")
        parts.append(grouped_table(with_conn, key, ["barrier_vs_mean", "barrier_vs_linear"]) + "\n")
    if landscape_runs is not None and len(with_conn) > landscape_runs:
        parts.append(f"_Path figures of the first {landscape_runs} of {len(with_conn)} runs; "
                     "the dashboard's landscape page shows every run's._\n")
    for r in with_conn[:landscape_runs]:
        link = w.figure(f"run{r['id']}_connectivity", plots.PROBE_FIGURES["connectivity"],
                        r["probes"]["connectivity"])
        parts.append(f"![run {r['id']} connectivity]({link})")
    w.text("connectivity_study.md", "\n".join(parts) + "\n")


def summary(w: ReportWriter, runs: list[dict], title: str,
            landscape_runs: int | None = None) -> None:
    from lipcore import report_plots as plots

    counts = Counter(r.get("status", "?") for r in runs)
    varying = varying_keys(runs)
    scalars = present_scalars(runs)
    parts = [f"# {title}\n", f"{len(runs)} runs: " + ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items())) + ".\n",
        "Varying keys: " + (", ".join(f"`{k}`" for k in varying) or "none") + ".\n",
        "Studies: " + ", ".join(f"[{t}]({s}.md)" for s, (_, t) in STUDIES.items())
        + ", [Connectivity](connectivity_study.md).\n", "## Runs\n"]
    rows = []
    for r in runs:
        cfg = flat_config(r.get("config", {}))
        vals = [SCALARS[s](r) for s in scalars]
        rows.append([r["id"], r.get("status", "")] + [cfg.get(k) for k in varying]
                    + ["–" if v is None else f"{v:.4g}" for v in vals])
    parts.append(table(["run", "status"] + varying + scalars, rows) + "\n")
    primary = _primary(runs)
    scored = [(v, r) for r in runs if (v := last(r, primary)) is not None]
    if scored:
        best = (max if primary.endswith("acc") else min)(scored, key=lambda t: t[0])
        parts.append(f"Best run by {primary}: **{best[1]['id']}** ({best[0]:.4g}).\n")
    corr = correlations(runs)
    if corr:
        parts.append("## Geometry and generalisation\n")
        parts.append("Correlation over runs of each landscape scalar with the generalisation gap "
                     "(final test − train loss):\n")
        parts.append(table(["scalar", "N", "Pearson r", "Spearman ρ"], corr) + "\n")
    parts.append("## Landscape figures\n")
    probed = [r for r in runs if r.get("probes")]
    if not probed:
        parts.append("_No run of this sweep ran a probe: add `probes: [{name: hessian}, …]` to "
                     "the config (docs/probes.md) for its landscape figures here._\n")
    if landscape_runs is not None and len(probed) > landscape_runs:
        parts.append(f"_Figures of the first {landscape_runs} of {len(probed)} probed runs; "
                     "the dashboard's landscape page shows every run's._\n")
    for r in probed[:landscape_runs]:
        for name, result in sorted((r.get("probes") or {}).items()):
            if name in plots.PROBE_FIGURES:
                try:
                    link = w.figure(f"run{r['id']}_{name}", plots.PROBE_FIGURES[name], result)
                except (KeyError, IndexError, TypeError, ValueError) as e:  # partial/old result
                    parts.append(f"- run {r['id']} {name}: no figure ({type(e).__name__}: {e})")
                    continue
                parts.append(f"- run {r['id']} {name}: ![{name}]({link})")
    w.text("summary.md", "\n".join(parts) + "\n")


def write_report(runs: list[dict], out_dir: str | Path, title: str = "Sweep report",
                 landscape_runs: int | None = None) -> dict:
    """Write the summary and study reports; {"written": [...], "kept": [...]} (paths).

    `landscape_runs` caps the probed runs whose landscape figures the summary draws (all: None).
    """
    if not runs:
        raise ValueError("report: the sweep has no runs")
    w = ReportWriter(out_dir)
    runs = sorted(runs, key=lambda r: _sort_key(str(r["id"])))
    summary(w, runs, title, landscape_runs)
    for stem, (key, label) in STUDIES.items():
        study(w, runs, stem, key, label)
    connectivity_study(w, runs, landscape_runs)
    return {"written": [str(p) for p in w.written], "kept": [str(p) for p in w.kept]}
