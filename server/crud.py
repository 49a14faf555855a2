"""Every write with more than one statement, with keyword-only arguments."""
from __future__ import annotations

import builtins
import math
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lipcore.config import apply_overrides, validate
from lipcore.sweep import expand
from server.downsample import minmax_indices
from server.models import FINISHED, MetricPoint, Run, Sweep, utcnow


def create_run(db: Session, *, config: dict[str, Any], name: str | None = None,
               sweep_id: int | None = None, overrides: dict[str, Any] | None = None) -> Run:
    """A queued run with a validated config (ConfigError propagates to the edge)."""
    cfg = validate(config)
    run = Run(name=name or cfg["name"], config=cfg, sweep_id=sweep_id, overrides=overrides or {},
              status="queued", summary={})
    db.add(run)
    db.flush()
    return run


def create_sweep(db: Session, *, config: dict[str, Any], params: dict[str, Any],
                 name: str | None = None, zip: list[list[str]] | None = None,  # noqa: A002
                 random: dict[str, int] | None = None, max_runs: int = 10_000) -> tuple[Sweep, list[Run]]:
    """Expand, validate every member before writing anything, then store sweep and runs."""
    base = validate(config)
    members = expand(params, zip=zip, random=random)
    if len(members) > max_runs:
        raise ValueError(f"the sweep has {len(members)} runs, more than the limit of {max_runs} "
                         f"(LIPLAB_MAX_RUNS_PER_SWEEP)")
    configs = [validate(apply_overrides(base, m)) for m in members]
    sweep = Sweep(name=name or base["name"], config=base, params=params)
    db.add(sweep)
    db.flush()
    runs = [Run(name=f"{sweep.name}-{i}", config=c, sweep_id=sweep.id, overrides=m,
                status="queued", summary={}) for i, (c, m) in enumerate(builtins.zip(configs, members))]
    db.add_all(runs)
    db.flush()
    return sweep, runs


def claim_run(db: Session, *, run_id: int, worker: str) -> bool:
    """queued → running for exactly one caller (compare-and-set); False if someone else has it."""
    now = utcnow()
    result = db.execute(
        update(Run).where(Run.id == run_id, Run.status == "queued")
        .values(status="running", started_at=now, heartbeat_at=now, worker=worker,
                attempts=Run.attempts + 1)
    )
    db.commit()
    return result.rowcount == 1


def finish_run(db: Session, *, run_id: int, status: str, error: str | None = None) -> None:
    assert status in FINISHED, status
    db.execute(update(Run).where(Run.id == run_id)
               .values(status=status, error=error, finished_at=utcnow()))
    db.commit()


def write_points(db: Session, *, run_id: int, points: list[tuple[str, int, float]]) -> None:
    """Upsert (key, step, value) points and fold them into the run's summary, in one transaction."""
    if not points:
        return
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    rows = [{"run_id": run_id, "key": k, "step": int(s), "value": _json_float(float(v))}
            for k, s, v in points]
    stmt = insert(MetricPoint).values(rows)
    stmt = stmt.on_conflict_do_update(index_elements=["run_id", "key", "step"],
                                      set_={"value": stmt.excluded.value})
    db.execute(stmt)
    run = db.get(Run, run_id, with_for_update=dialect == "postgresql")
    summary = {k: dict(v) for k, v in (run.summary or {}).items()}
    for key, step, value in points:
        s = summary.setdefault(key, {"last": None, "step": -1, "min": None, "max": None})
        if step >= s["step"]:
            s["last"], s["step"] = _json_float(value), int(step)
        if math.isfinite(value):
            s["min"] = value if s["min"] is None else min(s["min"], value)
            s["max"] = value if s["max"] is None else max(s["max"], value)
    run.summary = summary
    run.heartbeat_at = utcnow()
    db.commit()


def _json_float(v: float) -> float | None:
    return v if math.isfinite(v) else None


def metric_series(db: Session, *, run_id: int, keys: list[str] | None, max_points: int | None,
                  after: int | None = None) -> dict[str, dict[str, list]]:
    """{key: {step: [...], value: [...]}} in step order, each downsampled to max_points rows."""
    q = select(MetricPoint.key, MetricPoint.step, MetricPoint.value).where(MetricPoint.run_id == run_id)
    if keys:
        q = q.where(MetricPoint.key.in_(keys))
    if after is not None:
        q = q.where(MetricPoint.step > after)
    q = q.order_by(MetricPoint.key, MetricPoint.step)
    out: dict[str, dict[str, list]] = {}
    for key, step, value in db.execute(q):
        s = out.setdefault(key, {"step": [], "value": []})
        s["step"].append(step)
        s["value"].append(value)
    if max_points:
        for key, s in out.items():
            vals = [v if v is not None else math.nan for v in s["value"]]
            idx = minmax_indices(vals, max_points)
            out[key] = {"step": [s["step"][i] for i in idx], "value": [s["value"][i] for i in idx]}
    return out


def status_counts(db: Session, *, sweep_id: int) -> dict[str, int]:
    rows = db.execute(select(Run.status, func.count()).where(Run.sweep_id == sweep_id)
                      .group_by(Run.status))
    return {status: n for status, n in rows}
