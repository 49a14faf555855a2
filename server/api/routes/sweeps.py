"""/sweeps: submit a grid or random search (skip-completed), read it, its grid, varying params
and grouped curves; cancel it or retry its failed members."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select

from lipcore.config import ConfigError
from lipcore.sweep import SweepError, SweepTooLarge
from server import analysis, crud
from server.api.deps import IdPath, QueueDep, ReadAuth, SessionDep, SettingsDep, WriteAuth
from server.api.params import ConfigKey, MetricName
from server.errors import body_422, config_422, query_422, sweep_422
from server.models import Run, Sweep
from server.query import QueryError
from server.schemas import Accepted, SweepCreate, SweepCreated, SweepPublic, SweepsPublic

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


def get_sweep_or_404(db, sweep_id: int) -> Sweep:  # noqa: ANN001
    sweep = db.get(Sweep, sweep_id)
    if sweep is None:
        raise HTTPException(404, f"sweep {sweep_id} not found")
    return sweep


def _config_or_params_422(e: ConfigError, params: dict) -> RequestValidationError:
    """Issues on swept keys point at `params.<key>`, the others at `config.<key>`."""
    if all(i.key in params for i in e.issues):
        return RequestValidationError([{"loc": ["body", "params", i.key], "msg": i.message,
                                        "type": "value_error", "input": None} for i in e.issues])
    return config_422(e)


@router.post("", status_code=201, response_model=SweepCreated, dependencies=[WriteAuth])
def submit_sweep(body: SweepCreate, db: SessionDep, queue: QueueDep,
                 settings: SettingsDep) -> SweepCreated:
    """Expand params into runs, validate every one, store and queue them; a sweep resubmitted
    under the same name skips members that already succeeded unless overwrite is set."""
    try:
        sweep, runs, to_queue = crud.create_sweep(
            db, config=body.config, params=body.params, name=body.name, zip=body.zip,
            random=body.random.model_dump() if body.random else None,
            max_runs=settings.max_runs_per_sweep, overwrite=body.overwrite,
            fail_fast=body.fail_fast)
    except SweepTooLarge as e:
        raise body_422(e.key, f"{e} (LIPLAB_MAX_RUNS_PER_SWEEP)") from None
    except SweepError as e:
        raise sweep_422(e) from None
    except ConfigError as e:
        raise _config_or_params_422(e, body.params) from None
    packs = crud.assign_packs(db, runs=to_queue)
    db.commit()
    for pack in packs:
        queue.enqueue_pack([r.id for r in pack], crud.queue_for(pack[0].config))
    return SweepCreated(id=sweep.id, n_runs=len(runs), run_ids=[r.id for r in runs],
                        queued=len(to_queue), reused=len(runs) - len(to_queue))


def _public(db, sweep: Sweep) -> SweepPublic:  # noqa: ANN001
    counts = crud.status_counts(db, sweep_id=sweep.id)
    return SweepPublic(id=sweep.id, name=sweep.name, n_runs=sum(counts.values()), counts=counts,
                       created_at=sweep.created_at, params=sweep.params,
                       fail_fast=bool(sweep.fail_fast))


@router.get("", response_model=SweepsPublic, dependencies=[ReadAuth])
def list_sweeps(db: SessionDep, limit: int = Query(50, ge=1, le=1000),
                offset: int = Query(0, ge=0, le=10**9)) -> SweepsPublic:
    """Sweeps, newest first, with their run counts by status."""
    total = db.scalar(select(func.count(Sweep.id))) or 0
    rows = db.scalars(select(Sweep).order_by(Sweep.id.desc()).limit(limit).offset(offset)).all()
    return SweepsPublic(items=[_public(db, s) for s in rows], total=total)


@router.get("/{sweep_id}", response_model=SweepPublic, dependencies=[ReadAuth])
def read_sweep(sweep_id: IdPath, db: SessionDep) -> SweepPublic:
    """A sweep with its run count by status."""
    return _public(db, get_sweep_or_404(db, sweep_id))


@router.get("/{sweep_id}/grid", dependencies=[ReadAuth])
def read_grid(sweep_id: IdPath, db: SessionDep, x: ConfigKey, y: ConfigKey, metric: MetricName = "train_loss",
              agg: Literal["min", "max", "last", "mean"] = "last") -> dict:
    """A metric over two config keys: z[i][j] for y[i], x[j] (null where no run), with status counts."""
    get_sweep_or_404(db, sweep_id)
    try:
        return analysis.grid(db, sweep_id=sweep_id, x=x, y=y, metric=metric, agg=agg)
    except QueryError as e:
        raise query_422(e) from None


@router.get("/{sweep_id}/params", dependencies=[ReadAuth])
def read_params(sweep_id: IdPath, db: SessionDep) -> dict:
    """Only the config keys that vary across the sweep's runs, with their distinct values."""
    get_sweep_or_404(db, sweep_id)
    return {"params": analysis.varying_params(db, sweep_id=sweep_id)}


@router.get("/{sweep_id}/groups", dependencies=[ReadAuth])
def read_groups(sweep_id: IdPath, db: SessionDep, metric: MetricName = "train_loss",
                by: ConfigKey | None = None) -> dict:
    """Per value of `by` and per step: mean, std, stderr and N of a metric over the runs."""
    get_sweep_or_404(db, sweep_id)
    try:
        return {"by": by, "metric": metric,
                "groups": analysis.groups(db, sweep_id=sweep_id, by=by, metric=metric)}
    except QueryError as e:
        raise query_422(e) from None


def _accepted(runs: list[Run]) -> Accepted:
    status: dict[str, int] = {}
    for r in runs:
        status[r.status] = status.get(r.status, 0) + 1
    return Accepted(ids=[r.id for r in runs], status=status)


@router.post("/{sweep_id}/cancel", status_code=202, response_model=Accepted, dependencies=[WriteAuth])
def cancel_sweep(sweep_id: IdPath, db: SessionDep) -> Accepted:
    """Cancel the queued members at once and ask the running ones to stop."""
    get_sweep_or_404(db, sweep_id)
    runs = list(db.scalars(select(Run).where(Run.sweep_id == sweep_id,
                                             Run.status.in_(("queued", "running")))))
    crud.cancel(db, runs=runs)
    db.commit()
    return _accepted(runs)


@router.post("/{sweep_id}/retry-failed", status_code=202, response_model=Accepted,
             dependencies=[WriteAuth])
def retry_failed(sweep_id: IdPath, db: SessionDep, queue: QueueDep) -> Accepted:
    """Queue again only the failed, diverged and cancelled members (alike ones in packs)."""
    get_sweep_or_404(db, sweep_id)
    runs = crud.retry_failed(db, sweep_id=sweep_id)
    packs = crud.assign_packs(db, runs=runs)
    db.commit()
    for pack in packs:
        queue.enqueue_pack([r.id for r in pack], crud.queue_for(pack[0].config))
    return _accepted(runs)
