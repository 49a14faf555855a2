"""/health: database, broker and the workers that sent a heartbeat recently."""
from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import func, select, text

from server.api.deps import QueueDep, SessionDep, SettingsDep
from server.models import Run, Worker, utcnow
from server.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(db: SessionDep, queue: QueueDep, settings: SettingsDep) -> Health:
    """Database, broker, workers (alive = heartbeat within LIPLAB_WORKER_STALE_S), queue lengths,
    and the dashboard URL that clients print for a run or sweep."""
    try:
        db.execute(text("SELECT 1"))
        database = "ok"
    except Exception as e:  # noqa: BLE001
        database = f"error: {type(e).__name__}"
    broker = queue.ping()
    workers, runs = [], {}
    if database == "ok":
        runs = dict(db.execute(select(Run.status, func.count()).where(
            Run.status.in_(("queued", "running"))).group_by(Run.status)).all())
        cutoff = utcnow() - timedelta(seconds=settings.worker_stale_s)
        for w in db.scalars(select(Worker).order_by(Worker.name)):
            workers.append({"name": w.name, "queues": w.queues, "alive": w.last_seen >= cutoff,
                            "last_seen": w.last_seen.isoformat(), "current_run": w.current_run})
    ok = database == "ok" and broker == "ok"
    return Health(status="ok" if ok else "degraded", database=database, broker=broker,
                  workers=workers, queues=queue.lengths() if broker == "ok" else {}, runs=runs,
                  dashboard_url=settings.dashboard_url)
