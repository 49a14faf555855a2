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

from sqlalchemy import Select, Text, bindparam, cast, func, select
from sqlalchemy.sql.util import ClauseAdapter

from server.models import Run
from server.run_filters import apply_run_order
from server.schemas import RunPublic

JSON_FIELDS = frozenset({"config", "overrides", "summary", "tags"})
#: RunPublic's fields in its order, each read from the run's column of that name.
FIELDS = tuple(RunPublic.model_fields)
#: The listing's columns, one per field: filtered, ordered and cut into a page as they are.
COLUMNS = tuple(getattr(Run, f) for f in FIELDS)
#: Runs memoised per API process: ~5 KB each (key + bytes) for a full config, so ≲ 20 MB, and
#: enough for the first pages of every view the dashboards in use keep polling.
MEMO_RUNS = 4096


def page_select(ordered: Select, limit: Any, offset: Any, *extra: Any) -> Select:
    """The page of `ordered` (a select of COLUMNS, filtered and ordered) with its JSON columns
    as text (no decoding per fetch), converted once the page is cut: a cast in `ordered` itself
    runs below its sort, for every matching run (10,000 configs to text for a page of 50:
    `order_by=training.lr` 15 → 78 ms). `extra` columns follow the FIELDS ones."""
    page = ordered.limit(limit).offset(offset).subquery("page")
    adapt = ClauseAdapter(page).traverse
    return select(*(cast(page.c[f], Text).label(f) if f in JSON_FIELDS else page.c[f] for f in FIELDS), *extra
                  ).order_by(*(adapt(c) for c in ordered._order_by_clauses))


def filtered(by_sweep: bool, by_status: bool) -> Select:
    """The listing's columns filtered by sweep and status, values bound when it runs."""
    q = select(*COLUMNS)
    if by_sweep:
        q = q.where(Run.sweep_id == bindparam("sweep_id"))
    if by_status:
        q = q.where(Run.status == bindparam("status"))
    return q


def capped_count(q: Select, cap: Any) -> Select:
    """How many runs `q` matches, at most `cap`: counted through a LIMIT by id, so it never scans
    a 100k-run table per page (unfiltered, an index-only scan)."""
    return select(func.count()).select_from(q.with_only_columns(Run.id).order_by(Run.id).limit(cap).subquery())


@lru_cache(maxsize=8)
def plain_count_select(by_sweep: bool, by_status: bool) -> Select:
    """capped_count of a listing filtered at most by sweep and status, built once: building it
    per request took ~0.15 ms of CPU. Bound when it runs: `sweep_id`, `status`, `cap`."""
    return capped_count(filtered(by_sweep, by_status), bindparam("cap"))


@lru_cache(maxsize=64)
def plain_page_select(order_by: str, order_stat: str, dialect: str, by_sweep: bool, by_status: bool) -> Select:
    """page_select of a listing filtered at most by sweep and status, built once per ordering:
    building it (the subquery's columns) takes ~0.4 ms of CPU, a sixth of a listing. The
    values are bound when it runs: `sweep_id`, `status`, `limit`, `offset`, and `cap` for its last
    column, plain_count_select's capped count: one statement and one round trip where a full page
    needs the total (~0.1 ms of CPU a listing), from the page's own snapshot."""
    ordered = apply_run_order(filtered(by_sweep, by_status), order_by, order_stat, dialect)
    capped = plain_count_select(by_sweep, by_status).scalar_subquery().label("capped_total")
    return page_select(ordered, bindparam("limit"), bindparam("offset"), capped)


@lru_cache(maxsize=MEMO_RUNS)
def run_json(row: tuple[Any, ...]) -> bytes:
    """One run's `RunPublic` JSON from its row (FIELDS order, JSON columns as text)."""
    values = {f: json.loads(v) if f in JSON_FIELDS and v is not None else v for f, v in zip(FIELDS, row)}
    return RunPublic.__pydantic_serializer__.to_json(RunPublic.model_validate(values))


def page_json(rows: Sequence[Sequence[Any]], total: int, estimated: bool) -> bytes:
    """The body of GET /runs: `RunsPublic` of these rows (FIELDS first; any later columns are
    not the run's), as pydantic writes it (compact)."""
    n = len(FIELDS)
    items = b",".join(run_json(tuple(r[:n])) for r in rows)
    return b'{"items":[%s],"total":%d,"estimated":%s}' % (items, total, b"true" if estimated else b"false")
