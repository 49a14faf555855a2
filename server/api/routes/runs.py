"""/runs: submit, list (filter, order, page), read, metrics, cancel, retry."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import bindparam, text

from lipcore.config import ConfigError
from server import crud, runs_page, series_read
from server.api.deps import MAX_ID, IdPath, QueueDep, ReadAuth, SessionDep, SettingsDep, WriteAuth, check_read
from server.api.openapi import CONFLICT
from server.api.params import ORDER_BY, WHERE, Where
from server.api.plain_query import PlainQueryRoute, bounded_int, matching, one_of, plain_query
from server.db import read_connection
from server.errors import config_422, query_422
from server.models import FINISHED, STATUSES, Run
from server.paths import allowed_roots
from server.query import QueryError
from server.run_filters import apply_run_order, parse_run_filter
from server.schemas import RunCreate, RunCreated, RunPublic, RunsPublic

router = APIRouter(prefix="/runs", tags=["runs"], route_class=PlainQueryRoute)
Status = Literal[STATUSES]  # type: ignore[valid-type]


def get_run_or_404(db, run_id: int) -> Run:  # noqa: ANN001
    run = db.get(Run, run_id)
    if run is None:
        raise HTTPException(404, f"run {run_id} not found")
    return run


@router.post("", status_code=201, response_model=RunCreated, dependencies=[WriteAuth])
def submit_run(body: RunCreate, db: SessionDep, queue: QueueDep, settings: SettingsDep) -> RunCreated:
    """Validate a config, store it as a queued run and hand it to the workers."""
    try:
        run = crud.create_run(db, config=body.config, name=body.name, roots=allowed_roots(settings))
    except ConfigError as e:
        raise config_422(e) from None
    db.commit()
    queue.enqueue_run(run.id, crud.queue_for(run.config))
    return RunCreated(id=run.id, status=run.status)


@router.get("", response_model=RunsPublic, dependencies=[ReadAuth])
@plain_query(check_read, sweep_id=bounded_int(0, MAX_ID), status=one_of(STATUSES), order_by=matching(ORDER_BY),
             order_stat=one_of(("last", "min", "max")), limit=bounded_int(1, 1000), offset=bounded_int(0, 10**9))
def list_runs(request: Request, sweep_id: int | None = Query(None, ge=0, le=MAX_ID),
              status: Status | None = None,
              where: list[str] = Where,
              order_by: str = Query("-id", pattern=ORDER_BY,
                                    description="column, config key or summary metric; '-' for descending"),
              order_stat: Literal["last", "min", "max"] = "last",
              limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9)) -> RunsPublic:
    """Runs filtered by sweep, status and config values, ordered by a column or a metric, paged."""
    engine = request.app.state.engine
    dialect = engine.dialect.name
    by_sweep, by_status = sweep_id is not None, status is not None
    values = {k: v for k, v in {"sweep_id": sweep_id, "status": status}.items() if v is not None}
    try:
        if where:  # a statement of its own per filter text
            q = runs_page.filtered(by_sweep, by_status)
            for w in where:
                q = q.where(parse_run_filter(w, dialect))
                if not WHERE.match(w):
                    raise QueryError("where", f"{w!r}: not a filter the listing runs: a section key "
                                     "(model.width) with a plain number, name, true/false or null, a column, "
                                     "a metric's summary.KEY.STAT, tags contains TAG or note~TEXT")
            page = runs_page.page_select(apply_run_order(q, order_by, order_stat, dialect),
                                          bindparam("limit"), bindparam("offset"))
        else:  # built once per ordering, bound here
            page = runs_page.plain_page_select(order_by, order_stat, dialect, by_sweep, by_status)
    except QueryError as e:
        raise query_422(e) from None
    # No session: the route's one worker-thread hop does the whole read (a session dependency
    # takes two more), on a connection without a transaction to begin and roll back.
    upto = max(EXACT_TOTAL, offset + limit)
    with read_connection(engine) as conn:
        rows = conn.execute(page, {**values, "limit": limit, "offset": offset, "cap": upto + 1}).all()
        if 0 < len(rows) < limit or (not rows and offset == 0):  # the last page: the total is known
            total, estimated = offset + len(rows), False
        else:
            if rows and not where:  # the plain page counted in its own statement (its last column)
                capped = rows[0][-1]
            else:  # a filtered or an empty page counts now
                count = runs_page.capped_count(q, bindparam("cap")) if where else \
                    runs_page.plain_count_select(by_sweep, by_status)
                capped = conn.scalar(count, {**values, "cap": upto + 1})
            total, estimated = settle_total(conn, capped or 0, unfiltered=not (by_sweep or by_status or where),
                                            upto=upto)
    # Written once from the rows (server.runs_page): FastAPI would dump, re-validate and dump it again.
    return Response(runs_page.page_json(rows, total, estimated),  # type: ignore[return-value]
                    media_type="application/json")


EXACT_TOTAL = 10_000  # a listing counts exactly up to this many matches (or offset + limit)


def settle_total(conn, capped: int, *, unfiltered: bool, upto: int) -> tuple[int, bool]:  # noqa: ANN001
    """(total, estimated) from `capped`, the matches counted up to `upto + 1` (runs_page.capped_count):
    exact while at most `upto` runs match; past it PostgreSQL's row estimate of the table
    (unfiltered) or the lower bound `upto + 1`, flagged as estimated."""
    if capped <= upto:
        return capped, False
    estimate = 0
    if unfiltered and conn.dialect.name == "postgresql":
        estimate = int(conn.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'runs'::regclass")) or 0)
    return max(estimate, upto + 1), True


@router.get("/{run_id}", response_model=RunPublic, dependencies=[ReadAuth])
def read_run(run_id: IdPath, db: SessionDep) -> RunPublic:
    """One run with its config, status, timings, error and metric summary."""
    return RunPublic.model_validate(get_run_or_404(db, run_id))


@router.get("/{run_id}/metrics", dependencies=[ReadAuth])
def read_metrics(run_id: IdPath, db: SessionDep, keys: str | None = None,
                 max_points: int | None = Query(None, ge=2, le=1_000_000),
                 after: int | None = Query(None, ge=-(2**31), le=2**31 - 1)) -> dict:
    """Metric series by key: at most max_points rows each (each window's extremes), steps > after."""
    get_run_or_404(db, run_id)
    key_list = [k for k in keys.split(",") if k] if keys else None
    series = series_read.metric_series(db, run_id=run_id, keys=key_list, max_points=max_points, after=after)
    return JSONResponse(series)  # type: ignore[return-value]  # plain lists: no jsonable_encoder walk


@router.post("/{run_id}/cancel", status_code=202, dependencies=[WriteAuth])
def cancel_run(run_id: IdPath, db: SessionDep) -> dict:
    """Ask a run to stop: a queued run is cancelled at once, a running one at its next step."""
    run = get_run_or_404(db, run_id)
    crud.cancel(db, runs=[run])
    db.commit()
    return {"id": run_id, "status": run.status}


@router.post("/{run_id}/retry", status_code=202, dependencies=[WriteAuth], responses=CONFLICT)
def retry_run(run_id: IdPath, db: SessionDep, queue: QueueDep) -> dict:
    """Queue a finished run again (its metrics are kept and upserted)."""
    run = get_run_or_404(db, run_id)
    if run.status not in FINISHED:
        raise HTTPException(409, f"run {run_id} is {run.status}; only finished runs can be retried")
    crud.reset_run(db, run=run)
    db.commit()
    queue.enqueue_run(run_id, crud.queue_for(run.config))
    return {"id": run_id, "status": "queued"}
