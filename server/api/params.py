"""Query parameters with their constraints stated in the OpenAPI document.

Short patterns are enforced by FastAPI before the handler runs. The long ones (config keys,
filters) are only stated: the handler checks the same set with messages that name the problem
("unknown config key; did you mean model.width?") instead of echoing a 2,000-character pattern.
"""
from __future__ import annotations

import re
from typing import Annotated

from fastapi import Query

from lipcore.config.schema import SCHEMA, TOP

_NAME = r"[A-Za-z0-9_./:\-]{1,200}"
METRIC = rf"^{_NAME}$"
METRIC_LIST = rf"^,*{_NAME}(,+{_NAME})*,*$|^,*$"
IDS = r"^(0|[1-9][0-9]{0,8})(,(0|[1-9][0-9]{0,8})){0,999}$"
ORDER_BY = r"^[-+]*[A-Za-z0-9_./:][A-Za-z0-9_./:\-]{0,199}$"


def _alt(words) -> str:  # noqa: ANN001
    return "(?:" + "|".join(re.escape(w) for w in words) + ")"


def _keys_by_type() -> dict[str, list[str]]:
    """Dotted section keys by what a filter may compare them with."""
    out: dict[str, list[str]] = {"number": [], "bool": [], "str": [], "other": []}
    for section, fields in SCHEMA.items():
        for key, f in fields.items():
            kind = ("number" if f.type in (int, float) else "bool" if f.type is bool
                    else "str" if f.type is str else "other")
            out[kind].append(f"{section}.{key}")
    return out


def config_key_pattern() -> str:
    """Every dotted config key the store can read (also under shared. and model_a/b.)."""
    sections = "|".join(f"{re.escape(s)}\\.{_alt(fields)}" for s, fields in SCHEMA.items())
    return (rf"^(?:(?:shared\.|model_[ab]\.)?(?:{sections})|model_[ab]\.{_alt(SCHEMA['model'])}"
            rf"|{_alt(TOP)})$")


def where_pattern() -> str:
    """`KEY OP VALUE` filters the listing can run: numbers compare with any operator, names
    and true/false with == or != (= alike), any scalar key with null; the run's own columns,
    its metric summaries, tags and note (server.run_filters)."""
    k = _keys_by_type()
    eq, cmp = "(?:==|!=|=)", "(?:==|!=|>=|<=|>|<|=)"
    number = r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?"
    scalar = k["number"] + k["bool"] + k["str"]
    run = (rf"|(?:id|attempts|sweep_id|duration) *{cmp} *{number}|(?:status|worker) *{eq} *[A-Za-z0-9_.:@+\-]+"
           rf"|(?:created_at|started_at|finished_at) *{cmp} *[0-9][0-9T:.+\-Z]*"
           rf"|summary\.{_NAME}\.(?:last|min|max) *{cmp} *{number}"
           r"|tags +contains +[A-Za-z0-9_.:+=/\-]{1,64}|(?:note|name) *~.*")
    return (rf"^ *(?:{_alt(k['number'])} *{cmp} *{number}|{_alt(k['bool'])} *{eq} *(?:true|false)"
            rf"|{_alt(k['str'])} *{eq} *[A-Za-z0-9_.:+\-]+|{_alt(scalar)} *{eq} *null{run}) *$")


WHERE = re.compile(where_pattern())
ConfigKey = Annotated[str, Query(description="dotted config key, e.g. model.width",
                                 json_schema_extra={"pattern": config_key_pattern()})]
MetricName = Annotated[str, Query(description="metric name, e.g. train_loss",
                                  json_schema_extra={"pattern": METRIC})]
Where = Query([], description=(
    "filters, all must hold: config (model.layer==aol, training.lr<0.01), columns (status==failed, "
    "attempts>1, duration>60, created_at>=2026-12-01), metrics (summary.test_acc.max>=0.9), "
    "tags contains x, note~text"),
              json_schema_extra={"items": {"type": "string", "pattern": where_pattern()}})
