"""Read-only views over a sweep: the x×y grid, the keys that vary, per-group mean ± spread curves.

All of them read config values and summaries in SQL (JSON paths), never a metric history,
except `groups`, which aggregates the history per (group, step) in the database.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lipcore.config.schema import field_for, unknown_key_message
from server.models import MetricPoint, Run
from server.query import METRIC_NAME, QueryError

AGGS = ("min", "max", "last", "mean")


def check_key(param: str, key: str) -> tuple[str, ...]:
    if field_for(key) is None:
        raise QueryError(param, f"{key}: {unknown_key_message(key)}")
    return tuple(key.split("."))


def check_metric(param: str, metric: str) -> str:
    if not METRIC_NAME.match(metric):
        raise QueryError(param, f"{metric!r} is not a metric name")
    return metric


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v


def _sort_key(v: Any) -> tuple:
    if isinstance(v, bool) or v is None:
        return (1, str(v))
    return (0, v) if isinstance(v, (int, float)) else (2, str(v))


def grid(db: Session, *, sweep_id: int, x: str, y: str, metric: str, agg: str) -> dict[str, Any]:
    """`z[i][j]`: the metric over the runs with y = y[i] and x = x[j]; null where none has it.

    Each run contributes its summary `min`/`max` (agg min/max) or its `last` value (agg
    last/mean); a cell with several runs (seeds) takes their min, max or mean (last: mean).
    `counts[i][j]` maps status → number of runs in the cell, for success/failure overlays.
    """
    xp, yp = check_key("x", x), check_key("y", y)
    stat = agg if agg in ("min", "max") else "last"
    q = select(Run.id, Run.status, Run.config[xp], Run.config[yp],
               Run.summary[(check_metric("metric", metric), stat)].as_float()
               ).where(Run.sweep_id == sweep_id)
    values: dict[tuple, list[float]] = defaultdict(list)
    counts: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    run_ids: dict[tuple, list[int]] = defaultdict(list)
    xs, ys = {}, {}
    for run_id, status, xv, yv, value in db.execute(q):
        hx, hy = _hashable(xv), _hashable(yv)
        xs[hx], ys[hy] = xv, yv
        counts[(hx, hy)][status] += 1
        run_ids[(hx, hy)].append(run_id)
        if value is not None and math.isfinite(value):
            values[(hx, hy)].append(value)
    x_sorted, y_sorted = sorted(xs, key=_sort_key), sorted(ys, key=_sort_key)
    reduce = {"min": min, "max": max}.get(agg, lambda v: sum(v) / len(v))
    return {
        "x_key": x, "y_key": y, "metric": metric, "agg": agg,
        "x": [xs[v] for v in x_sorted], "y": [ys[v] for v in y_sorted],
        "z": [[reduce(values[(a, b)]) if values.get((a, b)) else None for a in x_sorted]
              for b in y_sorted],
        "counts": [[dict(counts[(a, b)]) for a in x_sorted] for b in y_sorted],
        "run_ids": [[sorted(run_ids[(a, b)]) for a in x_sorted] for b in y_sorted],
    }


def _flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        if isinstance(v, dict) and v:
            out |= _flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def varying_params(db: Session, *, sweep_id: int) -> dict[str, list[Any]]:
    """Dotted config keys whose value differs between the sweep's runs, with their values."""
    seen: dict[str, dict[Any, Any]] = defaultdict(dict)
    n = 0
    for (config,) in db.execute(select(Run.config).where(Run.sweep_id == sweep_id)):
        n += 1
        flat = _flatten(config)
        for key, value in flat.items():
            seen[key][_hashable(value)] = value
        for key in seen.keys() - flat.keys():
            seen[key]["<missing>"] = None
    return {k: [v[h] for h in sorted(v, key=_sort_key)] for k, v in sorted(seen.items())
            if len(v) > 1 and k != "name"}


def groups(db: Session, *, sweep_id: int, by: str | None, metric: str) -> list[dict[str, Any]]:
    """Per value of `by` and per step: mean, sample std (n-1; 0 for one run), stderr and N.

    N is counted per step, because runs of one group may end at different steps. Non-finite
    points (stored NULL) are left out.
    """
    check_metric("metric", metric)
    key_col = Run.config[check_key("by", by)] if by is not None else None
    cols = [MetricPoint.step, func.avg(MetricPoint.value), func.avg(MetricPoint.value * MetricPoint.value),
            func.count(MetricPoint.value), func.count(func.distinct(Run.id))]
    q = (select(*([key_col] if by is not None else []), *cols)
         .join(Run, Run.id == MetricPoint.run_id)
         .where(Run.sweep_id == sweep_id, MetricPoint.key == metric, MetricPoint.value.is_not(None))
         .group_by(*([key_col] if by else []), MetricPoint.step)
         .order_by(MetricPoint.step))
    out: dict[Any, dict[str, Any]] = {}
    for row in db.execute(q):
        value = row[0] if by else None
        step, mean, mean_sq, n, _runs = row[1:] if by else row
        grp = out.setdefault(_hashable(value), {"value": value, "step": [], "mean": [], "std": [],
                                                "stderr": [], "n": []})
        var = max(0.0, (mean_sq - mean * mean) * n / (n - 1)) if n > 1 else 0.0
        std = math.sqrt(var)
        grp["step"].append(step)
        grp["mean"].append(mean)
        grp["std"].append(std)
        grp["stderr"].append(std / math.sqrt(n))
        grp["n"].append(n)
    n_runs = {_hashable(v): n for v, n in db.execute(
        select(*([key_col] if by else [Run.sweep_id]), func.count(Run.id))
        .where(Run.sweep_id == sweep_id).group_by(key_col if by else Run.sweep_id))}
    result = []
    for h in sorted(out, key=_sort_key):
        out[h]["n_runs"] = n_runs.get(h if by else sweep_id, 0)
        result.append(out[h])
    return result
