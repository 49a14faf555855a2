"""Pure views derived from API payloads: flattened configs, varying keys, table rows.

Kept apart from the pages so that they are unit-tested without a server.
"""
from __future__ import annotations

import json
from typing import Any

from dashboard.localtime import local_time


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"depth": 2}} → {"model.depth": 2}; lists stay values (probes lists, etc.)."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v


def varying_keys(configs: list[dict[str, Any]], ignore: tuple[str, ...] = ("name",)) -> list[str]:
    """Dotted keys whose value differs between at least two configs (a key missing counts)."""
    flat = [flatten(c) for c in configs]
    keys = sorted({k for f in flat for k in f} - set(ignore))
    return [k for k in keys if len({_hashable(f.get(k, "<missing>")) for f in flat}) > 1]


def run_rows(runs: list[dict], keys: list[str], metrics: list[str], tz: str | None = None) -> list[dict]:
    """Table rows: id link, name, status, sweep link, the given config keys and metrics' last
    values, the creation time in zone `tz` (the viewer's; UTC without one)."""
    rows = []
    for r in runs:
        flat = flatten(r["config"])
        row = {"id": r["id"], "link": f"[{r['id']}](/runs/{r['id']})", "name": r["name"],
               "status": r["status"],
               "sweep": f"[{r['sweep_id']}](/sweeps/{r['sweep_id']})" if r.get("sweep_id") else "",
               "created": local_time(r.get("created_at"), tz)}
        for k in keys:
            v = flat.get(k)
            row[k] = json.dumps(v) if isinstance(v, (list, dict)) else v
        for m in metrics:
            last = ((r.get("summary") or {}).get(m) or {}).get("last")
            row[m] = None if last is None else float(f"{last:.6g}")
        rows.append(row)
    return rows


def summary_keys(runs: list[dict]) -> list[str]:
    """Every metric key logged by any of the runs, sorted."""
    return sorted({k for r in runs for k in (r.get("summary") or {})})
