"""A page of GET /runs as JSON bytes straight from table rows: no ORM objects, no re-validation.

The listing is what the dashboard polls, the same page of 50 runs again and again. Loading ORM
objects, decoding every run's config, overrides, summary and tags from JSON, validating them into
`RunPublic` and serialising them back cost ~2.5 ms of the server's CPU per page (most of a
request). Here the JSON columns are read as the database's text and each run's JSON is memoised
by the row itself, every shown column with the JSON ones as text, so an unchanged run costs a
hash of its row and a lookup; any change of a shown column (status, summary, note, a finished
time) is a different key, so an answer is never stale. A run's bytes are pydantic's, produced
on a miss exactly as before (`RunPublic` from the decoded row), so the page is byte for byte
`RunsPublic(items=..., total=..., estimated=...).model_dump_json()`.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Sequence

from sqlalchemy import Text, cast

from server.models import Run
from server.schemas import RunPublic

JSON_FIELDS = frozenset({"config", "overrides", "summary", "tags"})
#: RunPublic's fields in its order, each read from the run's column of that name.
FIELDS = tuple(RunPublic.model_fields)
#: The listing's SELECT list: one column per field, JSON ones as text (no decoding per fetch).
COLUMNS = tuple(cast(getattr(Run, f), Text).label(f) if f in JSON_FIELDS else getattr(Run, f)
                for f in FIELDS)
#: Runs memoised per API process: ~5 KB each (key + bytes) for a full config, so ≲ 20 MB, and
#: enough for the first pages of every view the dashboards in use keep polling.
MEMO_RUNS = 4096


@lru_cache(maxsize=MEMO_RUNS)
def run_json(row: tuple[Any, ...]) -> bytes:
    """One run's `RunPublic` JSON from its row (FIELDS order, JSON columns as text)."""
    values = {f: json.loads(v) if f in JSON_FIELDS and v is not None else v for f, v in zip(FIELDS, row)}
    return RunPublic.__pydantic_serializer__.to_json(RunPublic.model_validate(values))


def page_json(rows: Sequence[Sequence[Any]], total: int, estimated: bool) -> bytes:
    """The body of GET /runs: `RunsPublic` of these rows, as pydantic writes it (compact)."""
    items = b",".join(run_json(tuple(r)) for r in rows)
    return b'{"items":[%s],"total":%d,"estimated":%s}' % (items, total, b"true" if estimated else b"false")
