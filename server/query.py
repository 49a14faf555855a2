"""Run listing in SQL: `where=KEY OP VALUE` filters on config values, ordering by a column or
by a summary metric. Everything is checked against the config schema first, so a bad filter is a
422 naming it, never a database error."""
from __future__ import annotations

import operator
import re
from typing import Any

from sqlalchemy import ColumnElement, Select

from lipcore.config import parse_scalar
from lipcore.config.schema import field_for, unknown_key_message
from server.models import Run

_WHERE = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|>=|<=|>|<|=)\s*(.*?)\s*$")
METRIC_NAME = re.compile(r"^[A-Za-z0-9_./:\-]{1,200}\Z")  # \Z: no trailing newline either
OPS = {"==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
       "<": operator.lt, "<=": operator.le}
COLUMNS = {"id": Run.id, "created_at": Run.created_at, "started_at": Run.started_at,
           "finished_at": Run.finished_at, "name": Run.name, "status": Run.status}


class QueryError(ValueError):
    """A bad query parameter; `.param` names it for the 422."""

    def __init__(self, param: str, message: str):
        self.param = param
        super().__init__(message)


def parse_where(text: str) -> ColumnElement[bool]:
    """`model.layer==aol`, `training.lr<0.01`, `model.layer==null` → a SQL condition."""
    m = _WHERE.match(text)
    if not m:
        raise QueryError("where", f"{text!r} is not KEY OP VALUE with OP one of == != < <= > >=")
    key, op, raw = m.groups()
    op = "==" if op == "=" else op
    field = field_for(key)
    if field is None:
        raise QueryError("where", f"{key}: {unknown_key_message(key)}")
    value: Any = parse_scalar(raw)
    elem = Run.config[tuple(key.split("."))]
    if value is None:
        if op not in ("==", "!="):
            raise QueryError("where", f"{key}: null only compares with == or !=")
        s = elem.as_string()
        return s.is_(None) if op == "==" else s.is_not(None)
    if field.type is bool:
        if not isinstance(value, bool) or op not in ("==", "!="):
            raise QueryError("where", f"{key}: compare with ==true, ==false or !=")
        col: Any = elem.as_boolean()
    elif field.type in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise QueryError("where", f"{key}: {raw!r} is not a number")
        col, value = elem.as_float(), float(value)
    elif field.type is str:
        col, value = elem.as_string(), raw.strip().strip("'\"")
    else:
        raise QueryError("where", f"{key}: lists and mappings cannot be filtered")
    return OPS[op](col, value)


def apply_order(q: Select, order_by: str, stat: str = "last") -> Select:
    """`id`, `-created_at`, or a summary metric (`train_loss`, `-test_acc`) by its last/min/max.

    Runs without the metric come last either way; ties break by id.
    """
    desc = order_by.startswith("-")
    name = order_by.lstrip("-+")
    if name in COLUMNS:
        col = COLUMNS[name]
    else:
        if not METRIC_NAME.match(name):
            raise QueryError("order_by", f"{order_by!r} is neither a column "
                             f"({', '.join(COLUMNS)}) nor a metric name")
        col = Run.summary[(name, stat)].as_float()
    ordered = col.desc() if desc else col.asc()
    if name not in ("id", "created_at", "name", "status"):
        ordered = ordered.nulls_last()
    return q.order_by(ordered, Run.id.desc() if desc else Run.id.asc())
