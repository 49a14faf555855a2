"""The runs table's view as plain data: what the URL holds, what the API is asked, what the
table and the CSV show. Pure functions, so the page, the CSV download and the tests agree.

A view is {"status", "where", "sort", "metrics", "keys", "page"}:
  where    "model.layer==aol; summary.test_acc.max>0.9" (the API's where= terms, ';'-joined)
  sort     a column id, '-' first for descending: "-test_acc:max", "created", "model.width"
  metrics  summary columns "KEY:STAT" (STAT last, min or max); None: the default ones present
  keys     config columns; None: the keys that vary among the shown runs
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from dashboard.derive import flatten, varying_keys
from dashboard.localtime import local_time

STATS = ("last", "min", "max")
DEFAULT_METRICS = ("train_loss:last", "test_loss:last", "train_acc:last", "test_acc:last")
PAGE_SIZE = 50
# Table column id → the API's order_by name; the other fixed columns cannot be ordered in SQL.
ORDERABLE = {"link": "id", "name": "name", "status": "status", "sweep": "sweep_id",
             "created": "created_at", "started": "started_at", "finished": "finished_at",
             "attempts": "attempts", "worker": "worker", "duration": "duration"}
FIXED = [("id", "link"), ("name", "name"), ("status", "status"), ("sweep", "sweep"),
         ("tags", "tags"), ("note", "note")]
TIMES = [("created", "created"), ("started", "started"), ("finished", "finished"),
         ("duration", "duration"), ("attempts", "attempts"), ("worker", "worker")]


def split_list(text: str | None) -> list[str] | None:
    return None if text is None else [t for t in (s.strip() for s in text.split(",")) if t]


def view_from_query(params: dict[str, str]) -> dict[str, Any]:
    """URL query parameters (strings, as Dash hands them to a layout) → a view."""
    try:
        page = max(0, int(params.get("page") or 0))
    except ValueError:
        page = 0
    return {"status": params.get("status") or None, "where": params.get("where") or "",
            "sort": params.get("sort") or "", "metrics": split_list(params.get("metrics")),
            "keys": split_list(params.get("keys")), "page": page}


def view_to_query(view: dict[str, Any]) -> str:
    """A view → "?status=…&where=…" (empty parts left out), the inverse of view_from_query."""
    parts = {"status": view.get("status") or "", "where": view.get("where") or "",
             "sort": view.get("sort") or "",
             "metrics": ",".join(view["metrics"]) if view.get("metrics") is not None else "",
             "keys": ",".join(view["keys"]) if view.get("keys") is not None else "",
             "page": str(view["page"]) if view.get("page") else ""}
    query = urlencode({k: v for k, v in parts.items() if v})
    return f"?{query}" if query else ""


def metric_column(column: str) -> tuple[str, str] | None:
    """"test_acc:max" → ("test_acc", "max"); None when it is not a metric column."""
    key, sep, stat = column.rpartition(":")
    return (key, stat) if sep and key and stat in STATS else None


def order_params(sort: str) -> dict[str, str]:
    """A sort column id → the API's order_by (and order_stat); {} for the default (newest first).

    Raises ValueError for a column the API cannot order by (tags, note)."""
    if not sort:
        return {}
    desc, column = sort.startswith("-"), sort.lstrip("-")
    sign = "-" if desc else ""
    if metric := metric_column(column):
        return {"order_by": sign + metric[0], "order_stat": metric[1]}
    if column in ORDERABLE:
        return {"order_by": sign + ORDERABLE[column]}
    if column in dict(FIXED).values() or column in dict(TIMES).values():
        raise ValueError(f"the table cannot be sorted by {column}")
    return {"order_by": sign + column}  # a config key


def api_params(view: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of dashboard.client.runs for the view (without paging)."""
    return {"status": view.get("status"), "where": view.get("where") or None, **order_params(view.get("sort") or "")}


def chosen_metrics(view: dict[str, Any], present: list[str]) -> list[str]:
    """The view's metric columns, or by default the usual losses and accuracies that were logged."""
    if view.get("metrics") is not None:
        return list(view["metrics"])
    return [m for m in DEFAULT_METRICS if m.split(":")[0] in present]


def chosen_keys(view: dict[str, Any], runs: list[dict]) -> list[str]:
    return list(view["keys"]) if view.get("keys") is not None else varying_keys([r["config"] for r in runs])


def columns(keys: list[str], metrics: list[str]) -> list[dict]:
    md = {"presentation": "markdown"}
    num = {"type": "numeric"}
    return ([{"name": n, "id": i, **(md if i in ("link", "sweep") else {})} for n, i in FIXED]
            + [{"name": m.replace(":", " "), "id": m, **num} for m in metrics]
            + [{"name": k, "id": k} for k in keys]
            + [{"name": n, "id": i, **(num if i in ("duration", "attempts") else {})} for n, i in TIMES])


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def duration_s(run: dict) -> float | None:
    """Seconds from start to finish, None until both are known."""
    start, end = parse_time(run.get("started_at")), parse_time(run.get("finished_at"))
    return None if start is None or end is None else round((end - start).total_seconds(), 1)


def metric_value(run: dict, column: str) -> float | None:
    key, stat = metric_column(column) or (column, "last")
    value = ((run.get("summary") or {}).get(key) or {}).get(stat)
    return None if value is None else float(value)


def config_value(flat: dict[str, Any], key: str) -> Any:
    v = flat.get(key)
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def table_rows(runs: list[dict], keys: list[str], metrics: list[str], tz: str | None = None) -> list[dict]:
    """One table row per run: links as Markdown, times to the second in zone `tz` (the viewer's;
    UTC without one), metrics to 6 digits."""
    rows = []
    for r in runs:
        flat = flatten(r["config"])
        row = {"id": r["id"], "link": f"[{r['id']}](/runs/{r['id']})", "name": r["name"],
               "status": r["status"],
               "sweep": f"[{r['sweep_id']}](/sweeps/{r['sweep_id']})" if r.get("sweep_id") else "",
               "tags": ", ".join(r.get("tags") or []), "note": r.get("note") or "",
               "created": local_time(r.get("created_at"), tz), "started": local_time(r.get("started_at"), tz),
               "finished": local_time(r.get("finished_at"), tz), "duration": duration_s(r),
               "attempts": r.get("attempts"), "worker": r.get("worker") or ""}
        row.update({k: config_value(flat, k) for k in keys})
        for m in metrics:
            v = metric_value(r, m)
            row[m] = None if v is None else float(f"{v:.6g}")
        rows.append(row)
    return rows


def csv_text(runs: list[dict], keys: list[str], metrics: list[str]) -> str:
    """The view as CSV: full-precision metrics and ISO times, one header row of column names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "name", "status", "sweep_id", "tags", "note", *metrics, *keys,
                     "created_at", "started_at", "finished_at", "duration_s", "attempts", "worker"])
    for r in runs:
        flat = flatten(r["config"])
        writer.writerow([r["id"], r["name"], r["status"], r.get("sweep_id") or "", " ".join(r.get("tags") or []),
                         r.get("note") or "", *(blank(metric_value(r, m)) for m in metrics),
                         *(blank(config_value(flat, k)) for k in keys), r.get("created_at") or "",
                         r.get("started_at") or "", r.get("finished_at") or "", blank(duration_s(r)),
                         r.get("attempts", ""), r.get("worker") or ""])
    return out.getvalue()


def blank(value: Any) -> Any:
    return "" if value is None else repr(value) if isinstance(value, float) else value
