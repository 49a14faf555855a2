"""/sweeps: submit a grid or random search, read its status, its grid of results."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from lipcore.config import ConfigError, get_key
from lipcore.sweep import SweepError
from server import crud
from server.api.deps import QueueDep, ReadAuth, SessionDep, SettingsDep, WriteAuth
from server.errors import config_422, sweep_422
from server.models import Run, Sweep
from server.schemas import SweepCreate, SweepCreated, SweepPublic

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


def get_sweep_or_404(db, sweep_id: int) -> Sweep:  # noqa: ANN001
    sweep = db.get(Sweep, sweep_id)
    if sweep is None:
        raise HTTPException(404, f"sweep {sweep_id} not found")
    return sweep


@router.post("", status_code=201, response_model=SweepCreated, dependencies=[WriteAuth])
def submit_sweep(body: SweepCreate, db: SessionDep, queue: QueueDep,
                 settings: SettingsDep) -> SweepCreated:
    """Expand params into runs, validate every one, store and queue them all."""
    try:
        sweep, runs = crud.create_sweep(
            db, config=body.config, params=body.params, name=body.name, zip=body.zip,
            random=body.random.model_dump() if body.random else None,
            max_runs=settings.max_runs_per_sweep)
    except SweepError as e:
        raise sweep_422(e) from None
    except ConfigError as e:
        keys = set(body.params)
        where = ("body", "params") if all(i.key in keys for i in e.issues) else ("body", "config")
        if where == ("body", "params"):
            from fastapi.exceptions import RequestValidationError
            raise RequestValidationError([{"loc": ["body", "params", i.key], "msg": i.message,
                                           "type": "value_error", "input": None}
                                          for i in e.issues]) from None
        raise config_422(e) from None
    except ValueError as e:
        from fastapi.exceptions import RequestValidationError
        raise RequestValidationError([{"loc": ["body", "params"], "msg": str(e),
                                       "type": "value_error", "input": None}]) from None
    db.commit()
    for run in runs:
        queue.enqueue_run(run.id)
    return SweepCreated(id=sweep.id, n_runs=len(runs), run_ids=[r.id for r in runs])


@router.get("/{sweep_id}", response_model=SweepPublic, dependencies=[ReadAuth])
def read_sweep(sweep_id: int, db: SessionDep) -> SweepPublic:
    """A sweep with its run count by status."""
    sweep = get_sweep_or_404(db, sweep_id)
    counts = crud.status_counts(db, sweep_id=sweep_id)
    return SweepPublic(id=sweep.id, name=sweep.name, n_runs=sum(counts.values()), counts=counts,
                       created_at=sweep.created_at, params=sweep.params)


@router.get("/{sweep_id}/grid", dependencies=[ReadAuth])
def read_grid(sweep_id: int, db: SessionDep, x: str, y: str, metric: str = "train_loss",
              agg: str = Query("last", pattern="^(min|max|last|mean)$")) -> dict:
    """A metric summarised per run over two config keys: z[i][j] for y[i], x[j]; null where no run."""
    get_sweep_or_404(db, sweep_id)
    runs = db.scalars(select(Run).where(Run.sweep_id == sweep_id)).all()
    cells: dict[tuple, list[float]] = {}
    xs, ys = set(), set()
    for run in runs:
        xv, yv = get_key(run.config, x), get_key(run.config, y)
        xs.add(xv)
        ys.add(yv)
        s = (run.summary or {}).get(metric)
        if s is None:
            continue
        value = s.get("last" if agg in ("last", "mean") else agg)
        if value is not None:
            cells.setdefault((xv, yv), []).append(value)
    x_sorted, y_sorted = sorted(xs, key=_sort_key), sorted(ys, key=_sort_key)

    def reduce(vals: list[float] | None) -> float | None:
        if not vals:
            return None
        return {"min": min, "max": max}.get(agg, lambda v: sum(v) / len(v))(vals)

    z = [[reduce(cells.get((xv, yv))) for xv in x_sorted] for yv in y_sorted]
    return {"x": x_sorted, "y": y_sorted, "z": z}


def _sort_key(v: object) -> tuple:
    return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))
