"""A run's metric series, each at most `max_points` rows chosen by min-max decimation by row.

A series' rows are cut into equal buckets and each bucket keeps its minimum and its maximum,
plus the first and last row (the definition: server.downsample), so spikes survive. A long
series (server.blocks: ≥ LONG_ROWS rows, at least as many blocks as buckets, no `after`) is
bucketed by whole blocks from its block summaries, never reading its points. The others are
read from the points, each store its cheapest way (`_FROM_POINTS`):

- PostgreSQL: one scan hands every series' columns over as packed arrays
  (server.series_columns) and numpy buckets them (server.downsample): half of what its grouped
  SQL of per-row arrays cost with the two scans that counted the rows first;
- SQLite: SQL, one grouped scan per extreme (a bare column next to a single min() or max() comes
  from the row holding it), as fetching its rows into Python costs more than both scans.
"""
from __future__ import annotations

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from server import blocks, downsample, series_columns
from server.metrics import renumber_series
from server.models import MetricBlock, MetricPoint, Run

Series = dict[str, dict[str, list]]  # {key: {"step": [...], "value": [...]}}


def _number_again(session: Session, run_id: int, key: str) -> None:
    """Rows written before seq existed (or numbered out of step order): number them once."""
    renumber_series(session, run_id, key)
    blocks.rebuild(session, run_id, key)
    session.commit()


def _from_columns(session: Session, run_id: int, keys: list[str] | None, max_points: int | None,
                  after: int) -> Series:
    out = {}
    for key, cols in series_columns.read(session, run_id, keys, after).items():
        if not max_points or len(cols.step) <= max_points:
            out[key] = downsample.every_row(cols)
            continue
        if not cols.numbered():
            _number_again(session, run_id, key)
            cols = series_columns.read(session, run_id, [key], after)[key]
        out[key] = (downsample.ends if max_points < 4 else downsample.minmax)(cols, max_points)
    return out


# Bucket of a row from its ordinal: -1 first row, -2 last row, else equal runs of rows.
_BUCKET = ("CASE WHEN seq = :s0 THEN -1 WHEN seq = :s1 THEN -2 "
           "ELSE ((seq - :s0 - 1) * :nb) / (:n - 2) END")
_RANGE = "FROM metric_points WHERE run_id = :run_id AND key = :key AND step > :after"
# Ties: the first row in step order holds the extreme.
_SQLITE_MIN = text(f"SELECT min(value), step FROM (SELECT step, value, {_BUCKET} AS bucket {_RANGE}) "
                   "GROUP BY bucket")
_SQLITE_MAX = text(f"SELECT max(value), step FROM (SELECT step, value, {_BUCKET} AS bucket {_RANGE}) "
                   "GROUP BY bucket")


def _stats(session: Session, run_id: int, keys: list[str] | None, after: int) -> dict[str, tuple]:
    """{key: (rows, least seq, greatest seq, rows without seq)} of the rows with step > after."""
    q = (select(MetricPoint.key, func.count(), func.min(MetricPoint.seq), func.max(MetricPoint.seq),
                func.count() - func.count(MetricPoint.seq))
         .where(MetricPoint.run_id == run_id, MetricPoint.step > after).group_by(MetricPoint.key))
    if keys is not None:
        q = q.where(MetricPoint.key.in_(keys))
    return {key: tuple(counts) for key, *counts in session.execute(q)}


def _sql_minmax(session: Session, run_id: int, key: str, max_points: int, after: int,
                stats: tuple) -> dict[str, list]:
    n, s0, s1, unordered = stats
    if unordered or s1 - s0 != n - 1:
        _number_again(session, run_id, key)
        n, s0, s1, _ = _stats(session, run_id, [key], after)[key]
    where = (MetricPoint.run_id == run_id, MetricPoint.key == key, MetricPoint.step > after)
    if max_points < 4:  # room for the ends only
        ends = session.execute(select(MetricPoint.step, MetricPoint.value)
                               .where(*where, MetricPoint.seq.in_([s0, s1])).order_by(MetricPoint.step))
        pairs = ends.all()[:max_points]
        return {"step": [s for s, _ in pairs], "value": [v for _, v in pairs]}
    params = {"run_id": run_id, "key": key, "after": after, "n": n, "s0": s0, "s1": s1,
              "nb": (max_points - 2) // 2}
    kept: dict[int, float | None] = {}
    for query in (_SQLITE_MIN, _SQLITE_MAX):
        for value, step in session.execute(query, params):
            if value is not None or step not in kept:
                kept[step] = value
    steps = sorted(kept)
    return {"step": steps, "value": [kept[s] for s in steps]}


def _from_sql(session: Session, run_id: int, keys: list[str] | None, max_points: int | None,
              after: int) -> Series:
    stats = _stats(session, run_id, keys, after)
    small = [k for k, (n, *_) in stats.items() if not max_points or n <= max_points]
    out: Series = {}
    if small:
        q = (select(MetricPoint.key, MetricPoint.step, MetricPoint.value)
             .where(MetricPoint.run_id == run_id, MetricPoint.step > after,
                    MetricPoint.key.in_(bindparam("keys", small, expanding=True)))
             .order_by(MetricPoint.key, MetricPoint.step))
        for key, step, value in session.execute(q):
            s = out.setdefault(key, {"step": [], "value": []})
            s["step"].append(step)
            s["value"].append(value)
    for key in stats:
        if key not in out:
            out[key] = _sql_minmax(session, run_id, key, max_points, after, stats[key])
    return out


_FROM_POINTS = {"postgresql": _from_columns, "sqlite": _from_sql}


def metric_series(session: Session, *, run_id: int, keys: list[str] | None = None,
                  max_points: int | None = None, after: int | None = None) -> Series:
    """{key: {"step": [...], "value": [...]}} in step order; at most `max_points` rows per key.

    `after` keeps only steps greater than it (incremental polling). Each series is bucketed by
    row (not by step) and each bucket keeps its extremes, so a spike is never averaged away.
    """
    after_ = -(2**31) if after is None else int(after)
    out: Series = {}
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
    rest = None if wanted is None else [k for k in wanted if k not in out]
    if rest == []:
        return dict(sorted(out.items()))
    read = _FROM_POINTS[session.get_bind().dialect.name]
    out.update({k: v for k, v in read(session, run_id, rest, max_points, after_).items() if k not in out})
    return dict(sorted(out.items()))
