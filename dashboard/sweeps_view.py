"""Sweeps as table rows and studies as report locations: pure, unit-tested without a server.

A study is a sweep submitted by `liplab study configs/studies/<NNN_name>.yaml`: its sweep is
named after the file (`003_landscape`, plus ` scale=…` and overrides when given), and
`liplab study … --wait` writes its report to `docs/results/<NNN_name>/` (study.md, figures/,
report/).
"""
from __future__ import annotations

import re
from pathlib import Path

from dashboard.figures.compare import smaller_is_better

STUDY_NAME = re.compile(r"^(\d{3}_[A-Za-z0-9_]+)(\s|$)")


def study_of(sweep_name: str) -> str | None:
    """"003_landscape scale=2" → "003_landscape"; None for a sweep that is not a study."""
    m = STUDY_NAME.match(sweep_name or "")
    return m.group(1) if m else None


def best_order(metric: str) -> dict[str, str]:
    """The API ordering that puts a sweep's best run first: the lowest min of a loss, time or
    memory, the highest max of anything else (accuracies)."""
    if smaller_is_better(metric):
        return {"order_by": metric, "order_stat": "min"}
    return {"order_by": f"-{metric}", "order_stat": "max"}


def best_value(run: dict | None, metric: str) -> float | None:
    if run is None:
        return None
    stat = best_order(metric)["order_stat"]
    return ((run.get("summary") or {}).get(metric) or {}).get(stat)


def sweep_row(sweep: dict, best: dict | None, metric: str) -> dict:
    value = best_value(best, metric)
    counts = sweep.get("counts") or {}
    return {"id": sweep["id"], "link": f"[{sweep['id']}](/sweeps/{sweep['id']})", "name": sweep["name"],
            "study": study_of(sweep["name"]) or "", "n_runs": sweep.get("n_runs"),
            "counts": ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
            "best": None if value is None else float(f"{value:.6g}"),
            "best_run": f"[{best['id']}](/runs/{best['id']})" if value is not None else "",
            "created": (sweep.get("created_at") or "")[:19].replace("T", " ")}


def report_file(reports_dir: Path, study: str) -> Path | None:
    """The study's Markdown report under `reports_dir`, if `liplab study --wait` wrote one."""
    path = Path(reports_dir) / study / "study.md"
    return path if path.is_file() else None


#: the group-by choice that pools every run of the sweep (mean ± band over all of them)
ALL_RUNS = "(all runs)"


def is_seed(key: str) -> bool:
    """Whether a config key only reseeds a run (`model.model_seed`, `training.batch_seed`, …)."""
    last = key.rsplit(".", 1)[-1]
    return last == "seed" or last.endswith("_seed")


def axes(keys: list[str]) -> tuple[str | None, str | None, str]:
    """The heatmap's x and y and the curves' group-by a sweep opens on: the keys that change
    the experiment before those that only reseed it (so a width × seed sweep puts width on x
    and the seeds on y), and the curves grouped by the first such key, or pooled over every run
    (`ALL_RUNS`: mean ± band across seeds) when only seeds vary."""
    ordered = [k for k in keys if not is_seed(k)] + [k for k in keys if is_seed(k)]
    x = ordered[0] if ordered else None
    y = ordered[1] if len(ordered) > 1 else x
    by = next((k for k in keys if not is_seed(k)), ALL_RUNS)
    return x, y, by


def group_options(keys: list[str]) -> list[dict[str, str]]:
    return [{"label": ALL_RUNS, "value": ALL_RUNS}] + [{"label": k, "value": k} for k in keys]
