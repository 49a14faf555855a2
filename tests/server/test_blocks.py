"""Block summaries (server.blocks): kept right by every kind of write, and a long series'
downsampled read equal to a brute-force oracle computed from the raw points with the same
bucket boundaries (whole blocks of BLOCK rows, g blocks per bucket)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import select

from server import blocks, metrics
from server.models import MetricBlock, MetricPoint
from tests.server.helpers import QUICK

B = blocks.BLOCK


@pytest.fixture(autouse=True)
def long_from_zero(monkeypatch):
    """Every series counts as long here and keeps blocks, so small series exercise the block path."""
    monkeypatch.setattr(blocks, "LONG_ROWS", 0)
    monkeypatch.setattr(blocks, "EAGER_ROWS", 0)


def new_run(client) -> int:  # noqa: ANN001
    return client.post("/runs", json={"config": QUICK}).json()["id"]


def clean(v: float) -> float | None:
    return v if math.isfinite(v) else None


def brute_blocks(series: dict[int, float], max_points: int) -> dict[int, float | None]:
    """The definition on the raw points: rows in step order, buckets of g*B rows, each keeping its
    first minimum and first maximum finite row (or its first row as None), plus first and last row."""
    steps = sorted(series)
    vals = [clean(series[s]) for s in steps]
    n, nb = len(steps), (max_points - 2) // 2
    g = -(-(-(-n // B)) // nb)
    keep = {steps[0]: vals[0], steps[-1]: vals[-1]}
    for start in range(0, n, g * B):
        rows = [r for r in range(start, min(n, start + g * B)) if vals[r] is not None]
        if not rows:
            keep.setdefault(steps[start], None)
            continue
        lo = min(rows, key=lambda r: (vals[r], r))
        hi = min(rows, key=lambda r: (-vals[r], r))
        keep[steps[lo]], keep[steps[hi]] = vals[lo], vals[hi]
    return keep


def stored_blocks_match_points(db, run_id: int, key: str) -> None:  # noqa: ANN001
    """The block table equals a summary recomputed from scratch over the stored points."""
    pts = db.execute(select(MetricPoint.step, MetricPoint.value).where(
        MetricPoint.run_id == run_id, MetricPoint.key == key).order_by(MetricPoint.step)).all()
    vals = [v for _, v in pts]
    got = db.scalars(select(MetricBlock).where(MetricBlock.run_id == run_id, MetricBlock.key == key)
                     .order_by(MetricBlock.block)).all()
    assert len(got) == -(-len(pts) // B)
    for b in got:
        rows = range(b.block * B, min(len(pts), (b.block + 1) * B))
        finite = [r for r in rows if vals[r] is not None]
        assert (b.n, b.first_step, b.first_value) == (len(rows), pts[rows[0]][0], vals[rows[0]])
        assert (b.last_step, b.last_value) == (pts[rows[-1]][0], vals[rows[-1]])
        assert (b.first_seq, b.last_seq) == (rows[0], rows[-1])
        if finite:
            lo = min(finite, key=lambda r: (vals[r], r))
            hi = min(finite, key=lambda r: (-vals[r], r))
            assert (b.min_step, b.min_value, b.max_step, b.max_value) == (pts[lo][0], vals[lo], pts[hi][0], vals[hi])
            assert (b.min_seq, b.max_seq) == (lo, hi)
        else:
            assert b.min_value is None and b.max_value is None


def read(client, run_id: int, max_points: int) -> dict[int, float | None]:  # noqa: ANN001
    got = client.get(f"/runs/{run_id}/metrics", params={"max_points": max_points}).json()["x"]
    assert got["step"] == sorted(got["step"]) and len(got["step"]) <= max_points
    return dict(zip(got["step"], got["value"]))


def tied_series(n: int) -> tuple[list[int], dict[int, float]]:
    """Irregular steps; values rounded to 0.1 (ties), a spike, a bucket of NaN and an inf."""
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=n), 1)
    values[5 * B + 3] = 50.0
    values[9 * B: 12 * B] = np.nan  # a whole bucket of non-finite values (g = 3 at max_points 16)
    values[100] = np.inf
    values[0] = np.nan
    steps = np.cumsum(rng.integers(1, 5, size=n)).tolist()
    return steps, dict(zip(steps, values.tolist()))


def test_appends_in_chunks_with_ties_spikes_and_non_finite(client, db):
    run_id = new_run(client)
    n = 20 * B + 37
    steps, series = tied_series(n)
    for i in range(0, n, 700):  # appends that straddle block boundaries
        metrics.write_points(db, run_id, [("x", s, series[s]) for s in steps[i:i + 700]])
    stored_blocks_match_points(db, run_id, "x")
    for max_points in (16, 22, 30):
        got = read(client, run_id, max_points)
        assert got == brute_blocks(series, max_points)
    assert 50.0 in read(client, run_id, 16).values()


@pytest.mark.parametrize("seed", [0, 1])
def test_out_of_order_writes_and_upserts_keep_blocks_exact(client, db, seed):
    run_id = new_run(client)
    rng = np.random.default_rng(seed)
    n = 12 * B + 5
    series = dict(enumerate(rng.normal(size=n).tolist()))
    metrics.write_points(db, run_id, [("x", s, series[s]) for s in range(0, n, 2)])
    metrics.write_points(db, run_id, [("x", s, series[s]) for s in range(1, n, 2)])  # renumbers
    stored_blocks_match_points(db, run_id, "x")
    changed = rng.choice(n, size=40, replace=False).tolist()
    for s in changed:  # upserts of existing steps: new minima, maxima and plain values
        series[s] = float(rng.choice([-100.0, 100.0, 0.0, float("nan")]))
    metrics.write_points(db, run_id, [("x", s, series[s]) for s in changed])
    for s in (n + 3, n + 1, -7):  # past the end (out of order) and before the start
        series[s] = float(rng.normal())
        metrics.write_points(db, run_id, [("x", s, series[s])])
    stored_blocks_match_points(db, run_id, "x")
    for max_points in (10, 14):
        assert read(client, run_id, max_points) == brute_blocks(series, max_points)


def test_short_series_after_and_stale_blocks_read_points(client, db):
    run_id = new_run(client)
    values = [math.sin(s / 7) for s in range(4 * B)]
    metrics.write_points(db, run_id, [("x", s, v) for s, v in enumerate(values)])
    # 4 blocks < 49 buckets at max_points 100: the exact row buckets of the points path
    got = read(client, run_id, 100)
    from tests.server.test_metrics import brute_minmax

    assert got == brute_minmax(list(range(4 * B)), values, 100)
    # after= reads the tail from the points
    tail = client.get(f"/runs/{run_id}/metrics", params={"after": 4 * B - 4, "max_points": 100}).json()["x"]
    assert tail["step"] == [4 * B - 3, 4 * B - 2, 4 * B - 1]
    # blocks that no longer tile the series are ignored, not trusted
    db.execute(MetricBlock.__table__.delete().where(MetricBlock.block == 1))
    db.commit()
    assert read(client, run_id, 6) == brute_minmax(list(range(4 * B)), values, 6)


def test_rebuild_matches_incremental(client, db):
    run_id = new_run(client)
    values = np.random.default_rng(9).normal(size=3 * B + 1).tolist()
    metrics.write_points(db, run_id, [("x", s, v) for s, v in enumerate(values)])
    before = [(b.block, b.n, b.min_step, b.max_step, b.last_step) for b in
              db.scalars(select(MetricBlock).order_by(MetricBlock.block))]
    blocks.rebuild(db, run_id, "x")
    db.commit()
    after = [(b.block, b.n, b.min_step, b.max_step, b.last_step) for b in
             db.scalars(select(MetricBlock).order_by(MetricBlock.block)).all()]
    assert before == after and len(after) == 4
    stored_blocks_match_points(db, run_id, "x")


def test_rebuild_keeps_first_of_ties_and_skips_non_finite(client, db):
    """`rebuild` (one SQL statement on PostgreSQL) against the definition, on ties and NaN."""
    run_id = new_run(client)
    steps, series = tied_series(20 * B + 37)
    metrics.write_points(db, run_id, [("x", s, series[s]) for s in steps])
    db.execute(MetricBlock.__table__.delete())
    blocks.rebuild(db, run_id, "x")
    db.commit()
    stored_blocks_match_points(db, run_id, "x")


def test_blocks_are_built_once_a_series_crosses_the_threshold(client, db, monkeypatch):
    monkeypatch.setattr(blocks, "EAGER_ROWS", 2 * B)
    run_id = new_run(client)
    values = np.random.default_rng(3).normal(size=3 * B).tolist()
    metrics.write_points(db, run_id, [("x", s, v) for s, v in enumerate(values[:B])])
    assert db.scalar(select(MetricBlock.block).where(MetricBlock.run_id == run_id)) is None
    metrics.write_points(db, run_id, [("x", s, v) for s, v in enumerate(values[:2 * B]) if s >= B])
    metrics.write_points(db, run_id, [("x", s, v) for s, v in enumerate(values) if s >= 2 * B])
    stored_blocks_match_points(db, run_id, "x")
    assert read(client, run_id, 6) == brute_blocks(dict(enumerate(values)), 6)
