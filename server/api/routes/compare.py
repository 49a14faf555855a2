"""/compare: chosen metrics of chosen runs side by side (radar charts, tables)."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException

from server.api.deps import ReadAuth, SessionDep
from server.models import Run

router = APIRouter(tags=["compare"])


@router.get("/compare", dependencies=[ReadAuth])
def compare(db: SessionDep, run_ids: str, metrics: str = "train_loss,test_loss") -> dict:
    """The last value of each metric for each run."""
    try:
        ids = [int(i) for i in run_ids.split(",") if i]
    except ValueError:
        raise HTTPException(422, "run_ids must be comma-separated integers") from None
    keys = [m for m in metrics.split(",") if m]
    out = []
    for run_id in ids:
        run = db.get(Run, run_id)
        if run is None:
            raise HTTPException(404, f"run {run_id} not found")
        summary = run.summary or {}
        out.append({"id": run.id, "label": run.name,
                    "values": {k: (summary.get(k) or {}).get("last") for k in keys}})
    return {"runs": out}
