"""Per-block summaries of metric series, so a 1M-point series downsamples without reading it.

A series' rows (ordered by step, numbered by `seq` in server.metrics) are cut into blocks of
`BLOCK` consecutive rows (block = seq // BLOCK). Each block keeps its row count, its first and
last row (step, value) and its minimum and maximum (value, seq, step; ties: the first row, as in
the row-by-row definition; NULL = non-finite values are skipped). `server.metrics.write_points`
keeps them current: appends fold into the last block, rewrites and out-of-order inserts
recompute the blocks they touch from the points.

A long series' downsampled read then groups whole blocks into at most `(max_points - 2) // 2`
buckets (`g` consecutive blocks each) and keeps per bucket its min and max row plus the series'
first and last row: exact by row, from a few thousand block rows instead of a million points.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.orm import Session

from server.models import MetricBlock, MetricPoint

BLOCK = 256  # rows per block: 1M points → 3,907 block rows
LONG_ROWS = 65_536  # shorter series are scanned (cheap) with exact equal-row buckets instead
# Series shorter than this keep no blocks at all (reads never use them below LONG_ROWS), so the
# many short runs of a sweep pay nothing for them; the write that crosses it builds them once.
EAGER_ROWS = 16_384


def summarise(rows: Iterable[tuple[int, int, float | None]]) -> dict[int, dict[str, Any]]:
    """{block: summary} from `(seq, step, value)` rows in seq order (None value = non-finite)."""
    out: dict[int, dict[str, Any]] = {}
    for seq, step, value in rows:
        b = seq // BLOCK
        s = out.get(b)
        if s is None:
            s = out[b] = {"block": b, "n": 0, "first_seq": seq, "first_step": step, "first_value": value,
                          "min_value": None, "min_seq": None, "min_step": None,
                          "max_value": None, "max_seq": None, "max_step": None}
        fold(s, seq, step, value)
    return out


def fold(s: dict[str, Any], seq: int, step: int, value: float | None) -> None:
    """Append one row (later in seq than every row of the block) to a block summary."""
    s["n"] += 1
    s["last_seq"], s["last_step"], s["last_value"] = seq, step, value
    if value is None:
        return
    if s["min_value"] is None or value < s["min_value"]:  # strict: ties keep the first row
        s["min_value"], s["min_seq"], s["min_step"] = value, seq, step
    if s["max_value"] is None or value > s["max_value"]:
        s["max_value"], s["max_seq"], s["max_step"] = value, seq, step


_COLS = ("block", "n", "first_seq", "first_step", "first_value", "last_seq", "last_step", "last_value",
         "min_value", "min_seq", "min_step", "max_value", "max_seq", "max_step")


def _upsert(session: Session, run_id: int, key: str, summaries: Iterable[dict[str, Any]]) -> None:
    _upsert_rows(session, [{"run_id": run_id, "key": key, **{c: s[c] for c in _COLS}} for s in summaries])


def _upsert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(MetricBlock)
    stmt = stmt.on_conflict_do_update(index_elements=["run_id", "key", "block"],
                                      set_={c: stmt.excluded[c] for c in _COLS if c != "block"})
    for i in range(0, len(rows), 1000):
        session.execute(stmt, rows[i:i + 1000])


def recompute(session: Session, run_id: int, key: str, blocks: Iterable[int]) -> None:
    """Rebuild the given blocks from the points (after rewrites or a renumbering)."""
    todo = sorted(set(blocks))
    i = 0
    while i < len(todo):  # contiguous runs of blocks: one range read each
        j = i
        while j + 1 < len(todo) and todo[j + 1] == todo[j] + 1:
            j += 1
        lo, hi = todo[i] * BLOCK, (todo[j] + 1) * BLOCK
        rows = session.execute(
            select(MetricPoint.seq, MetricPoint.step, MetricPoint.value)
            .where(MetricPoint.run_id == run_id, MetricPoint.key == key,
                   MetricPoint.seq >= lo, MetricPoint.seq < hi).order_by(MetricPoint.seq))
        fresh = summarise(rows)
        gone = [b for b in todo[i:j + 1] if b not in fresh]
        if gone:
            session.execute(delete(MetricBlock).where(MetricBlock.run_id == run_id, MetricBlock.key == key,
                                                      MetricBlock.block.in_(gone)))
        _upsert(session, run_id, key, fresh.values())
        i = j + 1


# `rebuild` in one statement (PostgreSQL): arrays compare element by element, so min/max of
# [seq, step, value] is the block's first/last row and min of [value, seq, step] its first
# minimum (max with -seq: its first maximum), as `fold` keeps them; a 17,000-row series is not
# read back to the client.
_REBUILD_PG = text(f"""
INSERT INTO metric_blocks (run_id, key, {", ".join(_COLS)})
SELECT :run_id, :key, block, n, f[1], f[2], f[3], l[1], l[2], l[3], lo[1], lo[2], lo[3], hi[1], -hi[2], hi[3]
FROM (SELECT seq / {BLOCK} AS block, count(*) AS n,
             min(ARRAY[seq, step, value]) AS f, max(ARRAY[seq, step, value]) AS l,
             min(ARRAY[value, seq, step]) FILTER (WHERE value IS NOT NULL) AS lo,
             max(ARRAY[value, -seq, step]) FILTER (WHERE value IS NOT NULL) AS hi
      FROM metric_points WHERE run_id = :run_id AND key = :key GROUP BY seq / {BLOCK}) AS b
""")


def rebuild(session: Session, run_id: int, key: str) -> None:
    """Drop and rebuild every block of one series (bulk loads that bypass write_points)."""
    session.execute(delete(MetricBlock).where(MetricBlock.run_id == run_id, MetricBlock.key == key))
    if session.get_bind().dialect.name == "postgresql":  # summarised where the points are
        session.execute(_REBUILD_PG, {"run_id": run_id, "key": key})
        return
    rows = session.execute(select(MetricPoint.seq, MetricPoint.step, MetricPoint.value)
                           .where(MetricPoint.run_id == run_id, MetricPoint.key == key)
                           .order_by(MetricPoint.seq)).all()
    if not rows:
        return
    seqs, steps, values = zip(*rows)
    if seqs[0] is not None and seqs == tuple(range(seqs[0], seqs[0] + len(seqs))):
        append_many(session, run_id, {key: (seqs[0], list(steps), list(values))})  # numbered 0…n-1: columns
    else:
        _upsert(session, run_id, key, summarise(rows).values())


def _chunk(seq0: int, steps: list[int], values: list[float | None]) -> dict[str, Any]:
    """The summary of consecutive rows seq0, seq0 + 1, … (one block's share): min, max and
    `list.index` are C loops over the column, where `fold` is a Python call per row. The first
    of equal extremes is kept (`min`/`max` return it, `index` finds it), as `fold` does."""
    last = len(steps) - 1
    s = {"n": len(steps), "first_seq": seq0, "first_step": steps[0], "first_value": values[0],
         "last_seq": seq0 + last, "last_step": steps[last], "last_value": values[last],
         "min_value": None, "min_seq": None, "min_step": None, "max_value": None, "max_seq": None, "max_step": None}
    kept = [v for v in values if v is not None]
    if kept:
        for end, pick in (("min", min), ("max", max)):
            i = values.index(pick(kept))
            s[f"{end}_value"], s[f"{end}_seq"], s[f"{end}_step"] = values[i], seq0 + i, steps[i]
    return s


def _merge(s: dict[str, Any], t: dict[str, Any]) -> None:
    """Fold summary `t` (rows after every row of `s`, same block) into `s`: `fold` row by row."""
    s["n"] += t["n"]
    s["last_seq"], s["last_step"], s["last_value"] = t["last_seq"], t["last_step"], t["last_value"]
    if t["min_value"] is not None and (s["min_value"] is None or t["min_value"] < s["min_value"]):
        s["min_value"], s["min_seq"], s["min_step"] = t["min_value"], t["min_seq"], t["min_step"]
    if t["max_value"] is not None and (s["max_value"] is None or t["max_value"] > s["max_value"]):
        s["max_value"], s["max_seq"], s["max_step"] = t["max_value"], t["max_seq"], t["max_step"]


def append_many(session: Session, run_id: int,
                series: dict[str, tuple[int, list[int], list[float | None]]]) -> None:
    """Fold rows appended at the end of several series of one run into their blocks, each series
    given as columns (first seq, steps, values: rows seq, seq + 1, … past every stored row): one
    read of the partly filled last blocks and one upsert for all of them."""
    series = {k: c for k, c in series.items() if c[1]}
    open_ = {(k, seq0 // BLOCK) for k, (seq0, _, _) in series.items() if seq0 % BLOCK}
    stored: dict[tuple[str, int], dict[str, Any]] = {}
    if open_:
        cols = [getattr(MetricBlock, c) for c in ("key", *_COLS)]
        for row in session.execute(select(*cols).where(
                MetricBlock.run_id == run_id, tuple_(MetricBlock.key, MetricBlock.block).in_(sorted(open_)))):
            stored[(row[0], row[1])] = dict(zip(_COLS, row[1:]))
    rows = []
    for key, (seq0, steps, values) in series.items():
        i, seq = 0, seq0
        while i < len(steps):
            b = seq // BLOCK
            j = i + (b + 1) * BLOCK - seq
            s = _chunk(seq, steps[i:j], values[i:j])
            if (key, b) in stored:
                head = stored[(key, b)]
                _merge(head, s)
                s = head
            s["block"] = b
            rows.append({"run_id": run_id, "key": key, **{c: s[c] for c in _COLS}})
            seq += j - i
            i = j
    _upsert_rows(session, rows)


_STATS = text(f"""
SELECT key, count(*) AS blocks, min(block) AS lo, max(block) AS hi, sum(n) AS n, max(last_seq) AS top,
       sum(CASE WHEN first_seq <> block * {BLOCK} OR last_seq <> first_seq + n - 1 OR n > {BLOCK}
           THEN 1 ELSE 0 END) AS bad
FROM metric_blocks WHERE run_id = :run_id GROUP BY key
""")
_WHERE = "FROM metric_blocks WHERE run_id = :run_id AND key = :key"
# PostgreSQL: arrays compare element by element, so the bucket's minimum comes with its first
# row (smallest seq) and, for the maximum, -seq makes the first row win ties too.
_PG = text(f"""
SELECT block / :g, min(ARRAY[min_value, min_seq::float8, min_step::float8]) FILTER (WHERE min_value IS NOT NULL),
       max(ARRAY[max_value, -max_seq::float8, max_step::float8]) FILTER (WHERE max_value IS NOT NULL),
       min(first_step)
{_WHERE} GROUP BY block / :g
""")
# SQLite: a bare column next to one min()/max() comes from the row holding it (blocks in order).
_SQLITE = (text(f"SELECT block / :g, min(min_value), min_step {_WHERE} AND min_value IS NOT NULL GROUP BY block / :g"),
           text(f"SELECT block / :g, max(max_value), max_step {_WHERE} AND max_value IS NOT NULL GROUP BY block / :g"),
           text(f"SELECT block / :g, min(first_step) {_WHERE} GROUP BY block / :g"))


def tiled(session: Session, run_id: int) -> dict[str, int]:
    """{key: rows} for the run's series whose blocks tile rows 0..n-1 exactly (trustworthy)."""
    out = {}
    for r in session.execute(_STATS, {"run_id": run_id}):
        # blocks 0..hi, each self-consistent and at most BLOCK rows, holding top + 1 rows: all full
        # but the last, so every row 0..top is summarised exactly once.
        if r.lo == 0 and r.hi == r.blocks - 1 and not r.bad and r.n == r.top + 1:
            out[r.key] = int(r.n)
    return out


def downsample(session: Session, run_id: int, key: str, n: int, max_points: int) -> dict[str, list] | None:
    """Min-max by whole blocks, in SQL over the block rows: None when the series is short
    (< LONG_ROWS rows or fewer blocks than buckets), which the caller then reads from the points.

    `nb = (max_points - 2) // 2` buckets at most, each `g = ceil(n_blocks / nb)` consecutive
    blocks; each bucket keeps its first minimum and first maximum row (a bucket of non-finite
    values only keeps its first row, as None), plus the series' first and last row.
    """
    nb = (max_points - 2) // 2
    n_blocks = -(-n // BLOCK)
    if max_points < 4 or n_blocks < nb or n < LONG_ROWS or n <= max_points:
        return None
    g = -(-n_blocks // nb)
    p = {"run_id": run_id, "key": key, "g": g}
    kept: dict[int, float | None] = {}
    ends = session.execute(text(f"SELECT first_step, first_value, last_step, last_value {_WHERE} "
                                "AND block IN (0, :last) ORDER BY block"), {**p, "last": n_blocks - 1}).all()
    kept[ends[0][0]], kept[ends[-1][2]] = ends[0][1], ends[-1][3]
    firsts: dict[int, int] = {}
    found: set[int] = set()
    if session.get_bind().dialect.name == "postgresql":
        for bucket, lo, hi, first in session.execute(_PG, p):
            firsts[bucket] = first
            if lo is not None:
                found.add(bucket)
                kept[int(lo[2])], kept[int(hi[2])] = lo[0], hi[0]
    else:
        q_min, q_max, q_first = _SQLITE
        for query in (q_min, q_max):
            for bucket, value, step in session.execute(query, p):
                found.add(bucket)
                kept[step] = value
        firsts = {bucket: first for bucket, first in session.execute(q_first, p)}
    for bucket, first in firsts.items():
        if bucket not in found:  # only non-finite values: keep a marker at the bucket's first row
            kept.setdefault(first, None)
    steps = sorted(kept)
    return {"step": steps, "value": [kept[s] for s in steps]}
