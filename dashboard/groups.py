"""Runs from several sweeps grouped by a config key (or by sweep): the group of each run, the
mean ± band curve per group at each step, and per-group summaries for the compare page.

The statistics match the server's /sweeps/{id}/groups: sample std (n-1; 0 for one run),
stderr = std/√n, and N per step, so a group whose runs stopped early narrows honestly.
"""
from __future__ import annotations

import math
from typing import Any

from dashboard.derive import flatten

BY_SWEEP = "sweep"


def group_of(run: dict, by: str | None) -> str:
    """The run's group: its sweep's id (`by="sweep"`) or its config value of `by`, as text."""
    if by == BY_SWEEP:
        return str(run.get("sweep_id"))
    return str(flatten(run["config"]).get(by))


def mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var)


def group_curves(series: dict[int, dict[str, list]], groups: dict[int, str]) -> list[dict[str, Any]]:
    """{run id: {"step", "value"}} and {run id: group} → one curve per group (in first-seen
    order): {"value", "step", "mean", "std", "stderr", "n"} over the steps any member logged,
    each step's statistics over the members with a finite value there."""
    by_group: dict[str, dict[int, list[float]]] = {}
    for run_id, label in groups.items():
        s = series.get(run_id) or {"step": [], "value": []}
        at = by_group.setdefault(label, {})
        for step, value in zip(s["step"], s["value"]):
            if value is not None and math.isfinite(value):
                at.setdefault(step, []).append(value)
    out = []
    for label, at in by_group.items():
        g: dict[str, Any] = {"value": label, "step": [], "mean": [], "std": [], "stderr": [], "n": []}
        for step in sorted(at):
            mean, std = mean_std(at[step])
            n = len(at[step])
            for key, v in (("step", step), ("mean", mean), ("std", std), ("stderr", std / math.sqrt(n)), ("n", n)):
                g[key].append(v)
        out.append(g)
    return out


def group_values(values: dict[int, dict[str, float | None]], groups: dict[int, str],
                 metrics: list[str]) -> dict[str, dict[str, dict[str, float | None]]]:
    """{run id: {metric: value}} → {group: {metric: {"mean", "std", "n"}}} over finite values."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for label in dict.fromkeys(groups.values()):
        members = [values.get(i) or {} for i, g in groups.items() if g == label]
        out[label] = {}
        for m in metrics:
            vs = [v[m] for v in members if v.get(m) is not None and math.isfinite(v[m])]
            mean, std = mean_std(vs) if vs else (None, None)
            out[label][m] = {"mean": mean, "std": std, "n": len(vs)}
    return out


def summary_rows(stats: dict[str, dict[str, dict]], metrics: list[str], n_runs: dict[str, int]) -> list[dict]:
    """Table rows: group, runs, and `mean ± std (N)` per metric."""
    rows = []
    for label, per_metric in stats.items():
        row = {"group": label, "runs": n_runs.get(label, 0)}
        for m in metrics:
            s = per_metric[m]
            row[m] = "–" if s["mean"] is None else f"{s['mean']:.4g} ± {s['std']:.2g} (N={s['n']})"
        rows.append(row)
    return rows
