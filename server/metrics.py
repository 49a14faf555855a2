"""Metric points: idempotent writes that keep the run summary current, and downsampled reads.

Workers call `write_points(session, run_id, points)` (a stable signature: the worker's DB sink
depends on it). Reads downsample in SQL, by row rather than by step: the series' rows are cut
into equal buckets and each bucket keeps its minimum and its maximum (min-max decimation), plus
the first and last row, so spikes survive and a 1M-point series never leaves the database whole.
"""
from __future__ import annotations

import math
from typing import Iterable

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from server.models import MetricPoint, Run, utcnow

CHUNK = 1000  # rows per INSERT: under SQLite's bound-variable limit


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def write_points(session: Session, run_id: int, points: Iterable[tuple[str, int, float]]) -> None:
    """Upsert `(key, step, value)` points of one run and fold them into its summary; commits.

    Writing the same (run, key, step) twice keeps one row with the newer value. Non-finite
    values are stored as NULL and never become a summary min or max. The summary holds, per key,
    `last` (value at the highest step seen), `step`, `min` and `max`, so listings never read the
    history.
    """
    latest: dict[tuple[str, int], float] = {}
    for key, step, value in points:
        latest[(str(key), int(step))] = float(value)  # one row per (key, step) per statement
    if not latest:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    rows = [{"run_id": run_id, "key": k, "step": s, "value": _finite(v)} for (k, s), v in latest.items()]
    for i in range(0, len(rows), CHUNK):
        stmt = insert(MetricPoint).values(rows[i:i + CHUNK])
        stmt = stmt.on_conflict_do_update(index_elements=["run_id", "key", "step"],
                                          set_={"value": stmt.excluded.value})
        session.execute(stmt)
    run = session.get(Run, run_id, with_for_update=dialect == "postgresql")
    if run is None:
        session.rollback()
        raise LookupError(f"run {run_id} not found")
    summary = {k: dict(v) for k, v in (run.summary or {}).items()}
    for (key, step), value in sorted(latest.items(), key=lambda kv: kv[0][1]):
        s = summary.setdefault(key, {"last": None, "step": -1, "min": None, "max": None})
        if step >= s["step"]:
            s["last"], s["step"] = _finite(value), step
        if math.isfinite(value):
            s["min"] = value if s["min"] is None else min(s["min"], value)
            s["max"] = value if s["max"] is None else max(s["max"], value)
    run.summary = summary
    run.heartbeat_at = utcnow()
    session.commit()


# One series, bucketed by row number; per bucket the first step holding its min and its max.
# Buckets -1 and -2 are the first and last rows; with n <= :m every row is its own bucket.
_DOWNSAMPLE = text("""
WITH pts AS (
    SELECT step, value, row_number() OVER (ORDER BY step) - 1 AS rn
    FROM metric_points WHERE run_id = :run_id AND key = :key AND step > :after
), b AS (
    SELECT step, value,
           CASE WHEN :n <= :m THEN rn WHEN rn = 0 THEN -1 WHEN rn = :n - 1 THEN -2
                ELSE ((rn - 1) * :nb) / (:n - 2) END AS bucket
    FROM pts
), agg AS (
    SELECT bucket, min(value) AS lo, max(value) AS hi FROM b GROUP BY bucket
)
SELECT b.bucket, agg.lo, agg.hi,
       min(CASE WHEN b.value = agg.lo THEN b.step END) AS s_lo,
       min(CASE WHEN b.value = agg.hi THEN b.step END) AS s_hi,
       min(b.step) AS s_first
FROM b JOIN agg ON b.bucket = agg.bucket
GROUP BY b.bucket, agg.lo, agg.hi
""")


def _downsample(session: Session, run_id: int, key: str, n: int, max_points: int,
                after: int) -> dict[str, list]:
    if max_points < 4:  # room for the ends only
        ends = session.execute(
            select(MetricPoint.step, MetricPoint.value)
            .where(MetricPoint.run_id == run_id, MetricPoint.key == key, MetricPoint.step > after,
                   MetricPoint.step.in_(select(func.min(MetricPoint.step)).where(
                       MetricPoint.run_id == run_id, MetricPoint.key == key, MetricPoint.step > after)
                       .union(select(func.max(MetricPoint.step)).where(
                           MetricPoint.run_id == run_id, MetricPoint.key == key,
                           MetricPoint.step > after))))
            .order_by(MetricPoint.step)).all()[:max_points]
        return {"step": [s for s, _ in ends], "value": [v for _, v in ends]}
    n_buckets = (max_points - 2) // 2
    rows = session.execute(_DOWNSAMPLE, {"run_id": run_id, "key": key, "after": after, "n": n,
                                         "m": max_points, "nb": n_buckets}).all()
    kept: dict[int, float | None] = {}
    for _bucket, lo, hi, s_lo, s_hi, s_first in rows:
        if s_lo is None:  # the bucket holds only non-finite (NULL) values
            kept[s_first] = None
            continue
        kept[s_lo], kept[s_hi] = lo, hi
    steps = sorted(kept)
    return {"step": steps, "value": [kept[s] for s in steps]}


def metric_series(session: Session, *, run_id: int, keys: list[str] | None = None,
                  max_points: int | None = None, after: int | None = None) -> dict[str, dict[str, list]]:
    """{key: {"step": [...], "value": [...]}} in step order; at most `max_points` rows per key.

    `after` keeps only steps greater than it (incremental polling). Each series is bucketed by
    row (not by step) and each bucket keeps its extremes, so a spike is never averaged away.
    """
    after_ = -(2**62) if after is None else int(after)
    counts = select(MetricPoint.key, func.count()).where(MetricPoint.run_id == run_id,
                                                          MetricPoint.step > after_)
    if keys:
        counts = counts.where(MetricPoint.key.in_(keys))
    sizes = dict(session.execute(counts.group_by(MetricPoint.key)).all())
    out: dict[str, dict[str, list]] = {}
    small = [k for k, n in sizes.items() if not max_points or n <= max_points]
    if small:
        q = (select(MetricPoint.key, MetricPoint.step, MetricPoint.value)
             .where(MetricPoint.run_id == run_id, MetricPoint.step > after_,
                    MetricPoint.key.in_(bindparam("keys", small, expanding=True)))
             .order_by(MetricPoint.key, MetricPoint.step))
        for key, step, value in session.execute(q):
            s = out.setdefault(key, {"step": [], "value": []})
            s["step"].append(step)
            s["value"].append(value)
    for key, n in sizes.items():
        if key not in out and key not in small:
            out[key] = _downsample(session, run_id, key, n, max_points, after_)
    return dict(sorted(out.items()))
