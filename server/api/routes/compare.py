"""/compare: chosen metrics of chosen runs side by side (radar charts, tables)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from server.api.deps import ReadAuth, SessionDep
from server.api.openapi import NOT_FOUND
from server.api.params import IDS, METRIC_LIST
from server.errors import query_422
from server.models import Run
from server.query import METRIC_NAME, QueryError

router = APIRouter(tags=["compare"])


def _ids(text: str) -> list[int]:
    try:
        ids = [int(i) for i in text.split(",") if i.strip()]
    except ValueError:
        raise query_422(QueryError("run_ids", "run_ids must be comma-separated integers")) from None
    if not ids or len(ids) > 1000 or not all(0 <= i < 2**31 for i in ids):
        raise query_422(QueryError("run_ids", "give between 1 and 1000 run ids, each a 32-bit id"))
    return ids


@router.get("/compare", dependencies=[ReadAuth], responses=NOT_FOUND)
def compare(db: SessionDep, run_ids: str = Query(pattern=IDS, description="e.g. 1,2,3"),
            metrics: str = Query("train_loss,test_loss", pattern=METRIC_LIST),
            stat: Literal["last", "min", "max"] = "last") -> dict:
    """Each metric's last (or min/max) value for each run, in the order asked."""
    ids = _ids(run_ids)
    keys = [m for m in metrics.split(",") if m]
    bad = [k for k in keys if not METRIC_NAME.match(k)]
    if bad:
        raise query_422(QueryError("metrics", f"{bad[0]!r} is not a metric name"))
    found = {r.id: r for r in db.scalars(select(Run).where(Run.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise HTTPException(404, f"run {missing[0]} not found")
    out = []
    for run_id in ids:
        run = found[run_id]
        summary = run.summary or {}
        out.append({"id": run.id, "label": run.name, "status": run.status,
                    "values": {k: (summary.get(k) or {}).get(stat) for k in keys}})
    return {"runs": out}
