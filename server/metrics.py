"""Metric points: idempotent writes that keep the run summary current (reads: server.series_read).

Writers call `write_points(session, run_id, points)` (a stable signature); the worker's DB sink
calls `write_series`, the same write of points it already holds grouped by key.

Each point stores `seq`, its row number within (run, key) in step order, kept at write time:
points normally arrive in step order and are appended; a point older than the newest one
renumbers its series once. With `seq`, a downsampled read's bucket is arithmetic on a column,
with no window function over the whole series.
"""
from __future__ import annotations

from collections import defaultdict
from itertools import repeat
from math import isfinite
from typing import Iterable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from server import blocks, copy_binary
from server.models import MetricPoint, Run, utcnow

CHUNK = 1000  # rows per executemany batch


# Number again the rows from `from_step` on (the oldest step just inserted before the end): the
# rows before it keep their seq, so the tail's numbering starts at the seq after theirs.
_RENUMBER = text("""
UPDATE metric_points SET seq = r.rn
FROM (SELECT step, row_number() OVER (ORDER BY step) - 1
             + COALESCE((SELECT seq + 1 FROM metric_points
                         WHERE run_id = :run_id AND key = :key AND step < :from_step
                         ORDER BY step DESC LIMIT 1), 0) AS rn
      FROM metric_points WHERE run_id = :run_id AND key = :key AND step >= :from_step) AS r
WHERE metric_points.run_id = :run_id AND metric_points.key = :key
  AND metric_points.step >= :from_step AND metric_points.step = r.step
""")
# A run's rows have no planner statistics while it trains (estimated at one row), and with that
# estimate PostgreSQL joins by a nested loop that re-runs the window for every row: O(n²), 10 s
# for 3,000 points. The renumber's one statement runs with nested loops off (a hash join, O(n)).
_NO_NESTLOOP, _NESTLOOP = text("SET LOCAL enable_nestloop = off"), text("SET LOCAL enable_nestloop TO DEFAULT")


def renumber_series(session: Session, run_id: int, key: str, from_step: int = -(2**31)) -> None:
    """Number the series' rows from `from_step` on again (by default all of them), in step order."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(_NO_NESTLOOP)
    session.execute(_RENUMBER, {"run_id": run_id, "key": key, "from_step": from_step})
    if postgres:
        session.execute(_NESTLOOP)


def _existing_steps(session: Session, run_id: int, key: str, steps: list[int]) -> dict[int, int | None]:
    """{step: seq} of the given steps already stored."""
    found: dict[int, int | None] = {}
    for i in range(0, len(steps), CHUNK):
        for step, seq in session.execute(select(MetricPoint.step, MetricPoint.seq).where(
                MetricPoint.run_id == run_id, MetricPoint.key == key,
                MetricPoint.step.in_(steps[i:i + CHUNK]))):
            found[step] = seq
    return found


Series = dict[str, dict[int, float]]  # {key: {step: value}}: one run's points, one per (key, step)


def series_of(points: Iterable[tuple[str, int, float]]) -> Series:
    """`(key, step, value)` points as a `Series`, converted to str, int and float; a later point
    of the same (key, step) wins."""
    by_key: Series = defaultdict(dict)
    for key, step, value in points:
        by_key[str(key)][int(step)] = float(value)
    return by_key


def _stage_series(session: Session, run_id: int, by_key: Series, run: Run | None = None) -> bool:
    """`write_series` without the commit; False when there was nothing to write. `run`: its row,
    already loaded (and locked, on PostgreSQL) by the caller."""
    if not by_key:
        return False
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # Lock the run row first (PostgreSQL): concurrent writers of one run fold summaries in turn.
    if run is None:
        run = session.get(Run, run_id, with_for_update=dialect == "postgresql")
    if run is None:
        session.rollback()
        raise LookupError(f"run {run_id} not found")
    summary = {k: dict(v) for k, v in (run.summary or {}).items()}
    # fresh / older: (key, steps, values, seqs or None) columns past / not past the stored steps
    fresh, older_cols, renumber, appended, rewritten, n_before = [], [], [], {}, {}, {}
    for key, pts in by_key.items():
        s = summary.get(key)
        n, top = (s["n"], s["step"]) if s else (0, None)
        n_before[key] = n
        steps = sorted(pts)
        older = [st for st in steps if st <= top] if top is not None and steps[0] <= top else []
        existing = _existing_steps(session, run_id, key, older) if older else {}
        new_older = [st for st in older if st not in existing]
        if new_older:
            renumber.append((key, new_older[0]))
        rewritten[key] = {q // blocks.BLOCK for q in existing.values() if q is not None}
        seq = n + len(new_older)
        values = [pts[st] for st in steps]
        finite = [v if isfinite(v) else None for v in values]  # list comprehensions, zip: C loops
        cut = len(older)  # steps[cut:] are past the newest stored step: appended in order
        if cut:
            older_cols.append((key, older, finite[:cut], None))
        new_steps, new_values, seqs = steps[cut:], finite[cut:], range(seq, seq + len(steps) - cut)
        if new_steps:
            fresh.append((key, new_steps, new_values, seqs))
            appended[key] = (seq, new_steps, new_values)
        s = summary.setdefault(key, {"last": None, "step": -1, "min": None, "max": None, "n": 0})
        s["n"] = seq + len(new_steps)
        if steps[-1] >= s["step"]:
            s["last"], s["step"] = finite[-1], steps[-1]
        kept = [v for v in finite if v is not None]
        if kept:
            lo, hi = min(kept), max(kept)
            s["min"] = lo if s["min"] is None else min(s["min"], lo)
            s["max"] = hi if s["max"] is None else max(s["max"], hi)
    if dialect == "postgresql":
        cols = older_cols
        if _n_rows(fresh) >= COPY_MIN_ROWS:  # past the series' newest step: nothing to collide with
            _copy_append(session, run_id, fresh)
        else:
            cols = fresh + older_cols
        if _n_rows(cols) >= COPY_MIN_ROWS:
            _copy_upsert(session, run_id, cols)
        elif cols:  # one statement of five arrays, not one INSERT per point
            rows = _rows(run_id, cols)
            session.execute(_UNNEST, {c: [r[i] for r in rows] for i, c in enumerate(_COLUMNS)})
    else:
        rows = _rows(run_id, fresh + older_cols)
        stmt = insert(MetricPoint.__table__)  # Core: the ORM's bulk path costs ~0.3 ms a call
        stmt = stmt.on_conflict_do_update(index_elements=["run_id", "key", "step"],
                                          set_={"value": stmt.excluded.value})  # seq stays
        for i in range(0, len(rows), CHUNK):  # executemany: compiled once
            session.execute(stmt, [dict(zip(_COLUMNS, r)) for r in rows[i:i + CHUNK]])
    renumbered = dict(renumber)
    for key, from_step in renumbered.items():  # rows inserted before the end: number them again
        renumber_series(session, run_id, key, from_step)
    tail = {}  # series whose new rows all come after their stored ones: folded into blocks together
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
            if key in appended:
                tail[key] = appended[key]
            blocks.recompute(session, run_id, key, rewritten[key])
    blocks.append_many(session, run_id, tail)
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
    write_series(session, run_id, series_of(points))


def write_series(session: Session, run_id: int, series: Series) -> None:
    """`write_points` of points already grouped by key, steps ints and values floats (the
    worker's reporter keeps them so): no tuple per point, no conversion."""
    if _stage_series(session, run_id, series):
        session.commit()


def write_points_many(session: Session, points: dict[int, Iterable[tuple[str, int, float]]]) -> None:
    """`write_points` for several runs (run id → points) in one transaction: a pack's members
    store their points together, all or none. Runs are locked in id order, so two writers of
    overlapping runs never wait on each other in a cycle."""
    write_series_many(session, {run_id: series_of(pts) for run_id, pts in points.items()})


def write_series_many(session: Session, series: dict[int, Series]) -> None:
    """`write_points_many` of `Series` (see `write_series`): the runs' rows read (and locked, on
    PostgreSQL, in id order) in one statement, their summaries written together at the commit,
    not one SELECT and one UPDATE a run (a 100-member pack's flush paid ~2 ms a member)."""
    ids = sorted(run_id for run_id, by_key in series.items() if by_key)
    query = select(Run).where(Run.id.in_(ids)).order_by(Run.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    runs = {run.id: run for run in session.scalars(query)} if ids else {}
    with session.no_autoflush:
        for run_id in ids:
            _stage_series(session, run_id, series[run_id], runs.get(run_id))
    session.commit()


# The same upsert as `stmt` for PostgreSQL, its rows as arrays: psycopg's executemany pipelines
# one INSERT per point, which cost more client CPU and server work than the rows themselves.
_UNNEST = text("""
INSERT INTO metric_points (run_id, key, step, value, seq)
SELECT * FROM unnest(CAST(:run_id AS integer[]), CAST(:key AS varchar[]), CAST(:step AS integer[]),
                     CAST(:value AS float8[]), CAST(:seq AS integer[]))
ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value
""")


_COLUMNS = ("run_id", "key", "step", "value", "seq")

Columns = tuple[str, list[int], list["float | None"], "range | None"]  # key, steps, values, seqs


def _n_rows(cols: list[Columns]) -> int:
    return sum(len(c[1]) for c in cols)


def _rows(run_id: int, cols: list[Columns]) -> list[tuple]:
    """(run_id, key, step, value, seq) rows of some series' columns (seq None where unknown)."""
    return [r for key, steps, values, seqs in cols
            for r in zip(repeat(run_id), repeat(key), steps, values, repeat(None) if seqs is None else seqs)]

# From this many rows a PostgreSQL batch is COPYed into a temporary table and upserted from it in
# one statement: COPY's rows are built by column (`server.copy_binary`), where the arrays of
# `_UNNEST` are dumped element by element in Python (about half of the client's time per point). Below it the
# temporary table's extra statements cost more than they save (a tiny run's few points).
COPY_MIN_ROWS = 500

# One per connection, emptied at each commit (a truncate, so no dead rows pile up in it).
_STAGE = text("""
CREATE TEMPORARY TABLE IF NOT EXISTS metric_points_stage
  (run_id integer, key varchar, step integer, value float8, seq integer) ON COMMIT DELETE ROWS
""")
# `WHERE run_id`: a transaction that stores several runs (`write_points_many`) stages each in turn.
_FROM_STAGE = text("""
INSERT INTO metric_points (run_id, key, step, value, seq)
SELECT run_id, key, step, value, seq FROM metric_points_stage WHERE run_id = :run_id
ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value
""")


def _copy(raw, table: str, run_id: int, cols: list[Columns]) -> None:  # noqa: ANN001
    """COPY one run's columns into `table` in binary (`server.copy_binary`: built by column with
    numpy, where the text format formatted every double in Python)."""
    with raw.cursor() as cur, cur.copy(
            f"COPY {table} (run_id, key, step, value, seq) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(copy_binary.copy_data(run_id, cols, raw.info.encoding))


def _copy_upsert(session: Session, run_id: int, cols: list[Columns]) -> None:
    """The `_UNNEST` upsert of `cols` (one run's, each (key, step) once) through COPY into the
    connection's staging table, in the session's transaction: the same idempotent write (a point
    sent again keeps one row, with the newer value), for a fraction of the client's CPU."""
    session.execute(_STAGE)
    raw = session.connection().connection.driver_connection  # psycopg 3, same transaction
    _copy(raw, "metric_points_stage", run_id, cols)
    session.execute(_FROM_STAGE, {"run_id": run_id})


def _copy_append(session: Session, run_id: int, cols: list[Columns]) -> None:
    """Rows past their series' newest stored step (the summary's `step`, read under the run
    row's lock) COPYed straight into `metric_points`: no row can be there already, so the
    upsert's per-row conflict check is skipped. Should a row be there all the same (points
    written around `write_points`), the COPY fails inside a savepoint and the rows take the
    staged upsert instead: a point is never stored twice."""
    import psycopg

    raw = session.connection().connection.driver_connection  # psycopg 3, same transaction
    try:
        with raw.transaction():  # a savepoint here
            _copy(raw, "metric_points", run_id, cols)
    except psycopg.errors.UniqueViolation:
        _copy_upsert(session, run_id, cols)
