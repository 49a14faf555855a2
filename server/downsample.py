"""Min-max downsampling by row of one series held as numpy columns (PostgreSQL's raw-points read).

A series is n rows `(seq, step, value)`, `seq` its row number (s0..s1, see server.metrics).
The first row (seq s0) and the last (seq s1) are buckets of their own; every other row falls in
bucket `(seq - s0 - 1) * nb // (n - 2)`, `nb = (max_points - 2) // 2`: equal runs of rows, so
dense and sparse stretches of steps are treated alike. Each bucket keeps its minimum and its
maximum row, of equal values the one at the smallest step, so a spike is never averaged away;
a bucket without a stored value (all NULL: non-finite when written) keeps its first row, as
None. Values order as PostgreSQL's float8 does (NaN above every number and equal to itself, -0
equal to 0), so this is exactly what its grouped SQL over the points gave (a scan's hash
aggregate of per-row arrays, which cost more than fetching the columns and doing this).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Columns(NamedTuple):
    """One series' rows, in any order, each array of shape (n,)."""

    seq: np.ndarray  # int64, -1 where NULL (rows stored before seq was kept)
    step: np.ndarray  # int64, unique
    value: np.ndarray  # float64, NaN where NULL
    null: np.ndarray  # bool: the stored value is NULL

    def numbered(self) -> bool:
        """Every row has a seq and they span exactly n numbers (else: number the series again)."""
        n = len(self.seq)
        return n == 0 or (self.seq.min() >= 0 and self.seq.max() - self.seq.min() == n - 1)


def as_lists(c: Columns, rows: np.ndarray) -> dict[str, list]:
    """{"step", "value"} of the given rows in step order, None where the value is NULL."""
    rows = rows[np.argsort(c.step[rows], kind="stable")]
    values = c.value[rows].tolist()
    for i in np.flatnonzero(c.null[rows]).tolist():
        values[i] = None
    return {"step": c.step[rows].tolist(), "value": values}


def every_row(c: Columns) -> dict[str, list]:
    return as_lists(c, np.arange(len(c.step)))


def ends(c: Columns, max_points: int) -> dict[str, list]:
    """The first and last row (by seq), at most `max_points` of them: no room for buckets."""
    rows = np.flatnonzero((c.seq == c.seq.min()) | (c.seq == c.seq.max()))
    picked = as_lists(c, rows)
    return {k: v[:max_points] for k, v in picked.items()}


def _first(mask: np.ndarray, segment: np.ndarray, n_segments: int) -> np.ndarray:
    """Per segment, the first row where `mask` holds, or -1: (n_segments,) int64."""
    out = np.full(n_segments, -1, dtype=np.int64)
    rows = np.flatnonzero(mask)
    seg = segment[rows]
    head = np.ones(len(rows), dtype=bool)
    head[1:] = seg[1:] != seg[:-1]
    out[seg[head]] = rows[head]
    return out


def minmax(c: Columns, max_points: int) -> dict[str, list]:
    """The min-max rows of a numbered series (`c.numbered()`) of more than `max_points` ≥ 4 rows."""
    n, nb = len(c.seq), (max_points - 2) // 2
    s0, s1 = int(c.seq.min()), int(c.seq.max())
    bucket = np.where(c.seq == s0, 0, np.where(c.seq == s1, nb + 1, (c.seq - s0 - 1) * nb // (n - 2) + 1))
    order = np.arange(n)
    if not (np.all(np.diff(c.step) > 0) and np.all(np.diff(bucket) >= 0)):  # rows by bucket, then step
        order = np.lexsort((c.step, bucket))
    bucket, value, null = bucket[order], c.value[order], c.null[order]
    change = np.flatnonzero(bucket[1:] != bucket[:-1]) + 1
    starts = np.concatenate(([0], change))
    segment = np.repeat(np.arange(len(starts)), np.diff(np.concatenate((starts, [n]))))
    nan = np.isnan(value) & ~null
    number = ~np.isnan(value)
    k = len(starts)
    lo_value = np.minimum.reduceat(np.where(number, value, np.inf), starts)
    lo = _first(number & (value == lo_value[segment]), segment, k)
    lo = np.where(lo >= 0, lo, _first(nan, segment, k))  # NaN only: the first NaN is the least
    hi_value = np.maximum.reduceat(np.where(number, value, -np.inf), starts)
    hi = _first(nan, segment, k)  # any NaN is the greatest
    hi = np.where(hi >= 0, hi, _first(number & (value == hi_value[segment]), segment, k))
    marker = np.where(lo < 0, starts, -1)  # no stored value: the bucket's first row, as None
    kept = np.unique(np.concatenate((lo, hi, marker)))
    return as_lists(c, order[kept[kept >= 0]])
