"""Pure views derived from API payloads: flattened configs, varying keys, logged metric keys.

Kept apart from the pages so that they are unit-tested without a server.
"""
from __future__ import annotations

import json
from typing import Any

from dashboard.localtime import local_time

#: the curves a run or a sweep opens on; a comparative run logs them per side (`a/…`, `b/…`)
LOSS_KEYS = ("train_loss", "test_loss")


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


def summary_keys(runs: list[dict]) -> list[str]:
    """Every metric key logged by any of the runs, sorted."""
    return sorted({k for r in runs for k in (r.get("summary") or {})})
