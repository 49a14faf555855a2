"""Query parameters with their constraints stated (and so enforced) in the OpenAPI document.

Each pattern admits only values the handlers accept; FastAPI checks them before the handler
runs, so what the document calls valid is exactly what the server takes (422 otherwise).
"""
from __future__ import annotations

import re
from typing import Annotated

from fastapi import Query
from pydantic import StringConstraints

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
    and true/false with == or != (= alike), any scalar key with null."""
    k = _keys_by_type()
    eq, cmp = "(?:==|!=|=)", "(?:==|!=|>=|<=|>|<|=)"
    number = r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?"
    scalar = k["number"] + k["bool"] + k["str"]
    return (rf"^ *(?:{_alt(k['number'])} *{cmp} *{number}|{_alt(k['bool'])} *{eq} *(?:true|false)"
            rf"|{_alt(k['str'])} *{eq} *[A-Za-z0-9_.:+\-]+|{_alt(scalar)} *{eq} *null) *$")


ConfigKey = Annotated[str, Query(pattern=config_key_pattern(), description="dotted config key")]
MetricName = Annotated[str, Query(pattern=METRIC, description="metric name, e.g. train_loss")]
WhereItem = Annotated[str, StringConstraints(pattern=where_pattern())]
