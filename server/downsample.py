"""Downsampling a metric series by row while keeping each bucket's extremes (min-max)."""
from __future__ import annotations


def minmax_indices(values: list[float], max_points: int) -> list[int]:
    """Indices (ascending) of at most `max_points` rows: first, last, and per bucket its min and max.

    Buckets are equal runs of rows (not of steps), so dense and sparse stretches are treated
    alike; spikes survive because every bucket keeps its extremes.
    """
    n = len(values)
    if n <= max_points:
        return list(range(n))
    if max_points < 4:
        return sorted({0, n - 1})[:max_points]
    n_buckets = (max_points - 2) // 2
    inner = range(1, n - 1)
    size = len(inner) / n_buckets
    keep = {0, n - 1}
    for b in range(n_buckets):
        lo, hi = 1 + int(b * size), 1 + int((b + 1) * size)
        if hi <= lo:
            continue
        chunk = range(lo, hi)
        keep.add(min(chunk, key=values.__getitem__))
        keep.add(max(chunk, key=values.__getitem__))
    return sorted(keep)
