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

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.models import MetricBlock, MetricPoint

BLOCK = 256  # rows per block: 1M points → 3,907 block rows
LONG_ROWS = 65_536  # shorter series are scanned (cheap) with exact equal-row buckets instead


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
    rows = [{"run_id": run_id, "key": key, **{c: s[c] for c in _COLS}} for s in summaries]
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


def rebuild(session: Session, run_id: int, key: str) -> None:
    """Drop and rebuild every block of one series (bulk loads that bypass write_points)."""
    session.execute(delete(MetricBlock).where(MetricBlock.run_id == run_id, MetricBlock.key == key))
    rows = session.execute(select(MetricPoint.seq, MetricPoint.step, MetricPoint.value)
                           .where(MetricPoint.run_id == run_id, MetricPoint.key == key)
                           .order_by(MetricPoint.seq))
    _upsert(session, run_id, key, summarise(rows).values())


def append(session: Session, run_id: int, key: str, rows: list[tuple[int, int, float | None]]) -> None:
    """Fold rows appended at the end of a series (seq above every existing row) into its blocks."""
    if not rows:
        return
    first_block = rows[0][0] // BLOCK
    last = session.scalars(select(MetricBlock).where(MetricBlock.run_id == run_id, MetricBlock.key == key,
                                                     MetricBlock.block == first_block)).one_or_none()
    out: dict[int, dict[str, Any]] = {}
    if last is not None:
        out[first_block] = {c: getattr(last, c) for c in _COLS}
    for seq, step, value in rows:
        b = seq // BLOCK
        if b not in out:
            out[b] = summarise([(seq, step, value)])[b]
        else:
            fold(out[b], seq, step, value)
    _upsert(session, run_id, key, out.values())


def block_stats(session: Session, run_id: int, keys: list[str] | None) -> dict[str, list]:
    """{key: block rows in block order}; only for series whose blocks tile 0..n-1 exactly."""
    cols = [MetricBlock.key, *(getattr(MetricBlock, c) for c in _COLS)]
    q = select(*cols).where(MetricBlock.run_id == run_id)  # plain rows: no ORM objects for 4k blocks
    if keys:
        q = q.where(MetricBlock.key.in_(keys))
    by_key: dict[str, list] = {}
    for b in session.execute(q.order_by(MetricBlock.key, MetricBlock.block)):
        by_key.setdefault(b.key, []).append(b)
    ok = {}
    for key, bl in by_key.items():
        if all(b.block == i and b.first_seq == i * BLOCK and b.last_seq == i * BLOCK + b.n - 1
               and (b.n == BLOCK or i == len(bl) - 1) for i, b in enumerate(bl)):
            ok[key] = bl
    return ok


def downsample(blocks: list, max_points: int) -> dict[str, list] | None:
    """Min-max by whole blocks: None when the series is short (< LONG_ROWS rows or fewer blocks
    than buckets), which the caller then reads from the points.

    `nb = (max_points - 2) // 2` buckets at most, each `g = ceil(n_blocks / nb)` consecutive
    blocks; each bucket keeps its first minimum and first maximum row (a bucket of non-finite
    values only keeps its first row, as None), plus the series' first and last row.
    """
    nb = (max_points - 2) // 2
    n = blocks[-1].last_seq + 1 if blocks else 0
    if max_points < 4 or len(blocks) < nb or n < LONG_ROWS or n <= max_points:
        return None
    g = -(-len(blocks) // nb)
    kept: dict[int, float | None] = {blocks[0].first_step: blocks[0].first_value,
                                     blocks[-1].last_step: blocks[-1].last_value}
    for i in range(0, len(blocks), g):
        lo = hi = None
        for b in blocks[i:i + g]:
            if b.min_value is not None and (lo is None or b.min_value < lo.min_value):
                lo = b
            if b.max_value is not None and (hi is None or b.max_value > hi.max_value):
                hi = b
        if lo is None:
            kept.setdefault(blocks[i].first_step, None)
        else:
            kept[lo.min_step], kept[hi.max_step] = lo.min_value, hi.max_value
    steps = sorted(kept)
    return {"step": steps, "value": [kept[s] for s in steps]}
