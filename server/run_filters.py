"""`where=` and `order_by=` on the run's own columns, its metric summaries and its tags and note,
in front of the config filters of server.query:

    tags contains baseline        the run carries the tag
    note~lr warmup                the note holds the text (case-insensitive); also name~
    status==failed  worker==w0@x  attempts>1  sweep_id==3  created_at>=2026-12-01T09:00
    duration>60                   seconds from start to finish (runs not finished never match)
    summary.test_acc.max>=0.9     a metric's last, min or max (runs without it never match)

Anything else is a config filter (`model.layer==aol`). Ordering adds config keys
(`-training.lr`), `duration` and these columns to server.query's columns and metrics.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func

from lipcore.config.schema import field_for
from server.models import Run
from server.query import COLUMNS, METRIC_NAME, OPS, QueryError, apply_order, parse_where

TAG = re.compile(r"^[A-Za-z0-9_.:+=/\-]{1,64}$")
_CONTAINS = re.compile(r"^\s*tags\s+contains\s+(.*?)\s*$")
_SEARCH = re.compile(r"^\s*(note|name)\s*~\s*(.*?)\s*$", re.S)
_COMPARE = re.compile(r"^\s*([A-Za-z0-9_./:\-]+?)\s*(==|!=|>=|<=|>|<|=)\s*(.*?)\s*$")
_SUMMARY = re.compile(r"^summary\.(.+)\.(last|min|max)$")

NUMBER_COLUMNS = {"id": Run.id, "attempts": Run.attempts, "sweep_id": Run.sweep_id}
TEXT_COLUMNS = {"status": Run.status, "worker": Run.worker}
TIME_COLUMNS = {"created_at": Run.created_at, "started_at": Run.started_at, "finished_at": Run.finished_at}
ORDER_COLUMNS = {**COLUMNS, "attempts": Run.attempts, "worker": Run.worker, "sweep_id": Run.sweep_id}


def duration_s(dialect: str) -> ColumnElement[float]:
    """Seconds from started_at to finished_at in SQL (NULL until both are set)."""
    if dialect == "postgresql":
        return func.extract("epoch", Run.finished_at - Run.started_at)
    # julianday is a float of days: to the millisecond, so 30 s is 30.0, not 29.999999
    return func.round((func.julianday(Run.finished_at) - func.julianday(Run.started_at)) * 86400.0, 3)


def like_escaped(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def parse_run_filter(text: str, dialect: str = "sqlite") -> ColumnElement[bool]:
    """One `where=` term → a SQL condition for the `dialect`'s database; a bad term is a
    QueryError naming `where`."""
    if m := _CONTAINS.match(text):
        tag = m.group(1)
        if not TAG.match(tag):
            raise QueryError("where", f"tags contains {tag!r}: a tag is 1-64 of A-Z a-z 0-9 _ . : + = / -")
        # tags are stored as a JSON list of such plain strings, so '"tag"' occurs in its text
        return cast(Run.tags, String).like(f'%"{like_escaped(tag)}"%', escape="!")
    if m := _SEARCH.match(text):
        column = Run.note if m.group(1) == "note" else Run.name
        return func.lower(column).like(f"%{like_escaped(m.group(2).lower())}%", escape="!")
    m = _COMPARE.match(text)
    if not m:
        return parse_where(text)
    key, op, raw = m.groups()
    op = "==" if op == "=" else op
    raw = raw.strip().strip("'\"")
    if summary := _SUMMARY.match(key):
        name, stat = summary.groups()
        if not METRIC_NAME.match(name):
            raise QueryError("where", f"{key}: {name!r} is not a metric name")
        return OPS[op](Run.summary[(name, stat)].as_float(), number(key, raw))
    if key in NUMBER_COLUMNS:
        return OPS[op](NUMBER_COLUMNS[key], number(key, raw))
    if key == "duration":
        return OPS[op](duration_s(dialect), number(key, raw))
    if key in TEXT_COLUMNS:
        if op not in ("==", "!="):
            raise QueryError("where", f"{key}: compare with == or != (or use ~ on note and name)")
        return OPS[op](TEXT_COLUMNS[key], raw)
    if key in TIME_COLUMNS:
        return OPS[op](TIME_COLUMNS[key], timestamp(key, raw))
    return parse_where(text)


def number(key: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise QueryError("where", f"{key}: {raw!r} is not a number") from None


def timestamp(key: str, raw: str) -> datetime:
    """An ISO date or date-time; without a zone it is UTC."""
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise QueryError("where", f"{key}: {raw!r} is not an ISO date or date-time "
                                  "(2026-12-01 or 2026-12-01T09:30)") from None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def apply_run_order(q: Select, order_by: str, stat: str = "last", dialect: str = "sqlite") -> Select:
    """server.query.apply_order, plus attempts, worker, sweep_id, duration and scalar config keys."""
    desc = order_by.startswith("-")
    name = order_by.lstrip("-+")
    if name in COLUMNS or name not in ORDER_COLUMNS and name != "duration" and field_for(name) is None:
        return apply_order(q, order_by, stat)
    col: Any = duration_s(dialect) if name == "duration" else ORDER_COLUMNS.get(name)
    if col is None:
        field = field_for(name)
        elem = Run.config[tuple(name.split("."))]
        if field.type in (int, float):
            col = elem.as_float()
        elif field.type in (str, bool):
            col = elem.as_string()
        else:
            raise QueryError("order_by", f"{name}: lists and mappings cannot be ordered")
    ordered = (col.desc() if desc else col.asc()).nulls_last()
    return q.order_by(ordered, Run.id.desc() if desc else Run.id.asc())
