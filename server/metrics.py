"""Metric points: idempotent writes that keep the run summary current, and downsampled reads.

Workers call `write_points(session, run_id, points)` (a stable signature: the worker's DB sink
depends on it). Reads downsample in SQL, by row rather than by step: the series' rows are cut
into equal buckets and each bucket keeps its minimum and its maximum (min-max decimation), plus
the first and last row, so spikes survive and a 1M-point series never leaves the database whole.

Each point stores `seq`, its row number within (run, key) in step order, kept at write time:
points normally arrive in step order and are appended; a point older than the newest one
renumbers its series once. With `seq`, a bucket is arithmetic on a column and a downsampled read
is one index range scan, with no window function over the whole series.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from server import blocks
from server.models import MetricBlock, MetricPoint, Run, utcnow

CHUNK = 1000  # rows per executemany batch


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


_RENUMBER = text("""
UPDATE metric_points SET seq = r.rn
FROM (SELECT step, row_number() OVER (ORDER BY step) - 1 AS rn
      FROM metric_points WHERE run_id = :run_id AND key = :key) AS r
WHERE metric_points.run_id = :run_id AND metric_points.key = :key AND metric_points.step = r.step
""")


def _existing_steps(session: Session, run_id: int, key: str, steps: list[int]) -> dict[int, int | None]:
    """{step: seq} of the given steps already stored."""
    found: dict[int, int | None] = {}
    for i in range(0, len(steps), CHUNK):
        for step, seq in session.execute(select(MetricPoint.step, MetricPoint.seq).where(
                MetricPoint.run_id == run_id, MetricPoint.key == key,
                MetricPoint.step.in_(steps[i:i + CHUNK]))):
            found[step] = seq
    return found


def _stage_points(session: Session, run_id: int, points: Iterable[tuple[str, int, float]]) -> bool:
    """`write_points` without the commit; False when there was nothing to write."""
    by_key: dict[str, dict[int, float]] = defaultdict(dict)
    for key, step, value in points:
        by_key[str(key)][int(step)] = float(value)  # one row per (key, step) per statement
    if not by_key:
        return False
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # Lock the run row first (PostgreSQL): concurrent writers of one run fold summaries in turn.
    run = session.get(Run, run_id, with_for_update=dialect == "postgresql")
    if run is None:
        session.rollback()
        raise LookupError(f"run {run_id} not found")
    summary = {k: dict(v) for k, v in (run.summary or {}).items()}
    rows, renumber, appended, rewritten, n_before = [], [], {}, {}, {}
    for key, pts in by_key.items():
        s = summary.get(key)
        n, top = (s["n"], s["step"]) if s else (0, None)
        n_before[key] = n
        steps = sorted(pts)
        older = [st for st in steps if top is not None and st <= top]
        existing = _existing_steps(session, run_id, key, older) if older else {}
        new_older = [st for st in older if st not in existing]
        if new_older:
            renumber.append((key, new_older[0]))
        rewritten[key] = {q // blocks.BLOCK for q in existing.values() if q is not None}
        seq = n + len(new_older)
        for st in steps:
            if top is None or st > top:
                rows.append({"run_id": run_id, "key": key, "step": st, "value": _finite(pts[st]), "seq": seq})
                appended.setdefault(key, []).append((seq, st, _finite(pts[st])))
                seq += 1
            else:
                rows.append({"run_id": run_id, "key": key, "step": st, "value": _finite(pts[st]), "seq": None})
        s = summary.setdefault(key, {"last": None, "step": -1, "min": None, "max": None, "n": 0})
        s["n"] = seq
        for st in steps:
            value = pts[st]
            if st >= s["step"]:
                s["last"], s["step"] = _finite(value), st
            if math.isfinite(value):
                s["min"] = value if s["min"] is None else min(s["min"], value)
                s["max"] = value if s["max"] is None else max(s["max"], value)
    stmt = insert(MetricPoint)
    stmt = stmt.on_conflict_do_update(index_elements=["run_id", "key", "step"],
                                      set_={"value": stmt.excluded.value})  # seq stays
    if dialect == "postgresql":  # one statement of five arrays, not one INSERT per point
        session.execute(_UNNEST, {c: [r[c] for r in rows] for c in ("run_id", "key", "step", "value", "seq")})
    else:
        for i in range(0, len(rows), CHUNK):
            session.execute(stmt, rows[i:i + CHUNK])  # executemany: compiled once
    renumbered = dict(renumber)
    for key in renumbered:  # rows inserted before the end: number the series' rows again
        session.execute(_RENUMBER, {"run_id": run_id, "key": key})
    for key in by_key:  # keep the block summaries (server.blocks) current, for long series only
        if summary[key]["n"] < blocks.EAGER_ROWS:
            continue
        if n_before[key] < blocks.EAGER_ROWS:  # crossing the threshold: build them once
            blocks.rebuild(session, run_id, key)
        elif key in renumbered:
            first = session.scalar(select(MetricPoint.seq).where(
                MetricPoint.run_id == run_id, MetricPoint.key == key, MetricPoint.step == renumbered[key]))
            last = (summary[key]["n"] - 1) // blocks.BLOCK
            blocks.recompute(session, run_id, key, rewritten[key] | set(range(first // blocks.BLOCK, last + 1)))
        else:
            blocks.append(session, run_id, key, appended.get(key, []))
            blocks.recompute(session, run_id, key, rewritten[key])
    run.summary = summary
    run.heartbeat_at = utcnow()
    return True


def write_points(session: Session, run_id: int, points: Iterable[tuple[str, int, float]]) -> None:
    """Upsert `(key, step, value)` points of one run and fold them into its summary; commits.

    Writing the same (run, key, step) twice keeps one row with the newer value. Non-finite
    values are stored as NULL and never become a summary min or max. The summary holds, per key,
    `last` (value at the highest step seen), `step`, `min`, `max` and `n` (rows), so listings
    never read the history.
    """
    if _stage_points(session, run_id, points):
        session.commit()


def write_points_many(session: Session, points: dict[int, Iterable[tuple[str, int, float]]]) -> None:
    """`write_points` for several runs (run id → points) in one transaction: a pack's members
    store their points together, all or none. Runs are locked in id order, so two writers of
    overlapping runs never wait on each other in a cycle."""
    for run_id in sorted(points):
        _stage_points(session, run_id, points[run_id])
    session.commit()


# The same upsert as `stmt` for PostgreSQL, its rows as arrays: psycopg's executemany pipelines
# one INSERT per point, which cost more client CPU and server work than the rows themselves.
_UNNEST = text("""
INSERT INTO metric_points (run_id, key, step, value, seq)
SELECT * FROM unnest(CAST(:run_id AS integer[]), CAST(:key AS varchar[]), CAST(:step AS integer[]),
                     CAST(:value AS float8[]), CAST(:seq AS integer[]))
ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value
""")


# Bucket of a row from its ordinal: -1 first row, -2 last row, else equal runs of rows.
_BUCKET = ("CASE WHEN seq = :s0 THEN -1 WHEN seq = :s1 THEN -2 "
           "ELSE ((seq - :s0 - 1) * :nb) / (:n - 2) END")
_RANGE = "FROM metric_points WHERE run_id = :run_id AND key = :key AND step > :after"

# PostgreSQL: one scan, one hash aggregate. Arrays compare element by element, so
# min([value, step]) is the bucket's minimum at its first step, max([value, -step]) its maximum
# at its first step; NULL (non-finite) values are left out and marked by the bucket's first step.
_PG = text(f"""
SELECT min(ARRAY[value, step::float8]) FILTER (WHERE value IS NOT NULL),
       max(ARRAY[value, -step::float8]) FILTER (WHERE value IS NOT NULL),
       min(step)
FROM (SELECT step, value, {_BUCKET} AS bucket {_RANGE}) AS b
GROUP BY bucket
""")
# SQLite: a bare column next to a single min() or max() comes from the row holding it (ties: the
# first in step order), so each extreme is one grouped scan.
_SQLITE_MIN = text(f"SELECT min(value), step FROM (SELECT step, value, {_BUCKET} AS bucket {_RANGE}) "
                   "GROUP BY bucket")
_SQLITE_MAX = text(f"SELECT max(value), step FROM (SELECT step, value, {_BUCKET} AS bucket {_RANGE}) "
                   "GROUP BY bucket")


def _downsample(session: Session, run_id: int, key: str, max_points: int,
                after: int) -> dict[str, list]:
    where = (MetricPoint.run_id == run_id, MetricPoint.key == key, MetricPoint.step > after)
    n, s0, s1, unordered = session.execute(
        select(func.count(), func.min(MetricPoint.seq), func.max(MetricPoint.seq),
               func.count() - func.count(MetricPoint.seq)).where(*where)).one()
    if unordered or s1 - s0 != n - 1:  # rows written before seq existed: number them once
        session.execute(_RENUMBER, {"run_id": run_id, "key": key})
        blocks.rebuild(session, run_id, key)
        session.commit()
        n, s0, s1 = session.execute(select(func.count(), func.min(MetricPoint.seq),
                                           func.max(MetricPoint.seq)).where(*where)).one()
    if max_points < 4:  # room for the ends only
        ends = session.execute(select(MetricPoint.step, MetricPoint.value)
                               .where(*where, MetricPoint.seq.in_([s0, s1])).order_by(MetricPoint.step))
        pairs = ends.all()[:max_points]
        return {"step": [s for s, _ in pairs], "value": [v for _, v in pairs]}
    params = {"run_id": run_id, "key": key, "after": after, "n": n, "s0": s0, "s1": s1,
              "nb": (max_points - 2) // 2}
    kept: dict[int, float | None] = {}
    if session.get_bind().dialect.name == "postgresql":
        for lo, hi, s_any in session.execute(_PG, params):
            if lo is None:  # the bucket holds only non-finite (NULL) values
                kept[s_any] = None
            else:
                kept[int(lo[1])], kept[int(-hi[1])] = lo[0], hi[0]
    else:
        for query in (_SQLITE_MIN, _SQLITE_MAX):
            for value, step in session.execute(query, params):
                if value is not None or step not in kept:
                    kept[step] = value
    steps = sorted(kept)
    return {"step": steps, "value": [kept[s] for s in steps]}


def metric_series(session: Session, *, run_id: int, keys: list[str] | None = None,
                  max_points: int | None = None, after: int | None = None) -> dict[str, dict[str, list]]:
    """{key: {"step": [...], "value": [...]}} in step order; at most `max_points` rows per key.

    `after` keeps only steps greater than it (incremental polling). Each series is bucketed by
    row (not by step) and each bucket keeps its extremes, so a spike is never averaged away.
    """
    after_ = -(2**31) if after is None else int(after)
    out: dict[str, dict[str, list]] = {}
    if max_points and after is None:  # long series: whole blocks, never the points
        for key, n in blocks.tiled(session, run_id).items():
            ds = blocks.downsample(session, run_id, key, n, max_points) if not keys or key in keys else None
            if ds is not None:
                out[key] = ds
    wanted = keys
    if not wanted:  # the run's keys without scanning its points: summary and blocks know them
        run = session.get(Run, run_id)
        known = set((run.summary or {}) if run is not None else ()) | set(session.scalars(
            select(MetricBlock.key).where(MetricBlock.run_id == run_id).distinct()))
        wanted = sorted(known) or None
    counts = select(MetricPoint.key, func.count()).where(MetricPoint.run_id == run_id,
                                                          MetricPoint.step > after_)
    if wanted is not None:
        rest = [k for k in wanted if k not in out]
        if not rest:
            return dict(sorted(out.items()))
        counts = counts.where(MetricPoint.key.in_(rest))
    sizes = dict(session.execute(counts.group_by(MetricPoint.key)).all())
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
    for key in sizes:
        if key not in out:
            out[key] = _downsample(session, run_id, key, max_points, after_)
    return dict(sorted(out.items()))
