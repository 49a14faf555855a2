"""Downsampled reads from the points (server.series_read) against two oracles, on both stores:

- a brute force over the stored rows, bucket by bucket, written from the definition
  (server.downsample), in each store's value order;
- on PostgreSQL, the grouped SQL that answered these reads before the columns were bucketed in
  numpy (`old_pg_minmax`, kept here verbatim), so the answer is the one it gave.

Equality is of the JSON text (`exact`), so ints stay ints and -0.0 stays -0.0.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sqlalchemy import text

from server import metrics, series_read
from tests.server.test_metrics import new_run

KEYS = ("ties", "nulls", "zeros")


def exact(x) -> str:  # noqa: ANN001
    return json.dumps(x, allow_nan=True)


def points(n: int, seed: int = 0) -> list[tuple[str, int, float]]:
    """Three series of n rows on irregular steps: rounded values (ties), NaN stretches (stored
    as NULL, whole buckets of them, the first row too) and signed zeros (-0.0 == 0.0)."""
    rng = np.random.default_rng(seed)
    steps = np.sort(rng.choice(3 * n + 10, size=n, replace=False)).tolist()
    ties = (np.round(rng.normal(size=n) * 2) / 2).tolist()
    nulls = rng.normal(size=n)
    for lo in (0, n // 3, n - n // 10):
        nulls[lo:lo + max(1, n // 20)] = math.nan
    nulls = nulls.tolist()
    zeros = rng.choice([-0.0, 0.0, 1.0, -1.0], size=n).tolist()
    return [(k, s, v) for k, col in zip(KEYS, (ties, nulls, zeros)) for s, v in zip(steps, col)]


def stored(db, run_id: int, key: str, after: int) -> list[tuple]:  # noqa: ANN001
    return db.execute(text("SELECT seq, step, value FROM metric_points WHERE run_id = :r AND key = :k "
                           "AND step > :a"), {"r": run_id, "k": key, "a": after}).all()


def _order(v: float) -> tuple:
    """PostgreSQL's float8 order: NaN above every number (SQLite stores no NaN)."""
    return (1, 0.0) if math.isnan(v) else (0, v)


def brute(rows: list[tuple], max_points: int | None, dialect: str) -> dict[str, list]:
    """The definition row by row. A bucket of NULLs only keeps a marker row: its first on
    PostgreSQL (`min(step)`), on SQLite the row its bare column comes from, the bucket's last."""
    rows = sorted(rows, key=lambda r: r[1])
    n = len(rows)
    if not max_points or n <= max_points:
        keep = rows
    else:
        s0, s1 = min(r[0] for r in rows), max(r[0] for r in rows)
        if max_points < 4:
            keep = [r for r in rows if r[0] in (s0, s1)][:max_points]
        else:
            nb = (max_points - 2) // 2
            buckets: dict[int, list[tuple]] = {}
            for r in rows:
                b = -1 if r[0] == s0 else -2 if r[0] == s1 else (r[0] - s0 - 1) * nb // (n - 2)
                buckets.setdefault(b, []).append(r)
            keep = []
            for members in buckets.values():
                valued = [r for r in members if r[2] is not None]
                if valued:
                    keep.append(min(valued, key=lambda r: (_order(r[2]), r[1])))
                    keep.append(max(valued, key=lambda r: (_order(r[2]), -r[1])))
                else:
                    keep.append((min if dialect == "postgresql" else max)(members, key=lambda r: r[1]))
            keep = sorted(set(keep), key=lambda r: r[1])
    return {"step": [r[1] for r in keep], "value": [r[2] for r in keep]}


# The read before server.downsample (PostgreSQL): one grouped scan of per-row arrays.
_OLD_PG = text("""
SELECT min(ARRAY[value, step::float8]) FILTER (WHERE value IS NOT NULL),
       max(ARRAY[value, -step::float8]) FILTER (WHERE value IS NOT NULL),
       min(step)
FROM (SELECT step, value, CASE WHEN seq = :s0 THEN -1 WHEN seq = :s1 THEN -2
                          ELSE ((seq - :s0 - 1) * :nb) / (:n - 2) END AS bucket
      FROM metric_points WHERE run_id = :run_id AND key = :key AND step > :after) AS b
GROUP BY bucket
""")


def old_pg_minmax(db, run_id: int, key: str, max_points: int, after: int) -> dict[str, list]:  # noqa: ANN001
    n, s0, s1 = db.execute(text("SELECT count(*), min(seq), max(seq) FROM metric_points WHERE run_id = :r "
                                "AND key = :k AND step > :a"), {"r": run_id, "k": key, "a": after}).one()
    params = {"run_id": run_id, "key": key, "after": after, "n": n, "s0": s0, "s1": s1,
              "nb": (max_points - 2) // 2}
    kept: dict[int, float | None] = {}
    for lo, hi, s_any in db.execute(_OLD_PG, params):
        if lo is None:
            kept[s_any] = None
        else:
            kept[int(lo[1])], kept[int(-hi[1])] = lo[0], hi[0]
    steps = sorted(kept)
    return {"step": steps, "value": [kept[s] for s in steps]}


def check(db, run_id: int, max_points: int | None, after: int | None, keys=None) -> None:  # noqa: ANN001
    """`metric_series` equals the brute force for every key, and the old grouped SQL on PostgreSQL."""
    dialect = db.get_bind().dialect.name
    after_ = -(2**31) if after is None else after
    got = series_read.metric_series(db, run_id=run_id, keys=keys, max_points=max_points, after=after)
    wanted = sorted(keys or KEYS)
    expect = {k: brute(stored(db, run_id, k, after_), max_points, dialect) for k in wanted}
    assert exact(got) == exact({k: v for k, v in expect.items() if v["step"]}), (max_points, after)
    if dialect == "postgresql" and max_points and max_points >= 4:
        for key in got:
            if len(stored(db, run_id, key, after_)) > max_points:
                assert exact(got[key]) == exact(old_pg_minmax(db, run_id, key, max_points, after_))


@pytest.mark.parametrize("n", [1, 5, 1000, 1001, 4999, 20_000])
def test_points_read_equals_the_definition_and_the_old_sql(client, db, n):
    run_id = new_run(client)
    pts = points(n, seed=n)
    metrics.write_points(db, run_id, pts)
    middle = sorted({s for _, s, _ in pts})[n // 2]
    for max_points in (None, 2, 3, 4, 7, 100, 1000):
        for after in (None, middle):
            check(db, run_id, max_points, after)
    check(db, run_id, 100, None, keys=["nulls", "absent"])
    body = client.get(f"/runs/{run_id}/metrics", params={"max_points": 100}).text
    assert body == json.dumps(series_read.metric_series(db, run_id=run_id, max_points=100),
                              separators=(",", ":"))


def test_values_stored_behind_write_points(client, db):
    """±inf (and NaN on PostgreSQL; SQLite stores NaN as NULL) written by hand: they order as
    the store orders them."""
    run_id = new_run(client)
    metrics.write_points(db, run_id, points(3000, seed=1))
    for i, v in enumerate([math.inf, -math.inf, math.nan] * 40):
        db.execute(text("UPDATE metric_points SET value = :v WHERE run_id = :r AND key = :k "
                        "AND seq BETWEEN :a AND :b"), {"v": v, "r": run_id, "k": KEYS[i % 3], "a": 25 * i,
                                                        "b": 25 * i + i % 5})
    db.commit()
    for max_points in (4, 10, 100, 1000):
        check(db, run_id, max_points, None)


def test_seq_out_of_step_order_buckets_by_seq(client, db):
    """Rows numbered against step order (by hand): buckets still follow seq, as the SQL did."""
    run_id = new_run(client)
    metrics.write_points(db, run_id, points(2000, seed=2))
    db.execute(text("UPDATE metric_points SET seq = 1999 - seq WHERE run_id = :r AND key = 'ties'"), {"r": run_id})
    db.commit()
    for max_points in (3, 10, 100):
        check(db, run_id, max_points, None)


def test_rows_without_seq_are_numbered_once(client, db):
    """Rows stored before seq was kept: the read numbers the series in step order, then answers."""
    run_id = new_run(client)
    metrics.write_points(db, run_id, points(1500, seed=3))
    db.execute(text("UPDATE metric_points SET seq = NULL WHERE run_id = :r AND key = 'nulls' AND step % 3 = 0"),
               {"r": run_id})
    db.commit()
    check(db, run_id, 100, None, keys=["ties", "zeros"])
    got = series_read.metric_series(db, run_id=run_id, keys=["nulls"], max_points=100)
    rows = sorted(stored(db, run_id, "nulls", -(2**31)), key=lambda r: r[1])
    assert [r[0] for r in rows] == list(range(1500))
    assert exact(got["nulls"]) == exact(brute(rows, 100, db.get_bind().dialect.name))


@pytest.mark.slow
def test_many_buckets_past_int4_arithmetic(client, db):
    """70,000 rows into 65,536 points: (seq - 1) * buckets passes 2**31, which PostgreSQL's
    int4 arithmetic refused (a 422); int64 columns answer as SQLite did."""
    run_id = new_run(client)
    values = np.random.default_rng(4).normal(size=70_000).tolist()
    metrics.write_points(db, run_id, [("x", s, v) for s, v in enumerate(values)])
    got = client.get(f"/runs/{run_id}/metrics", params={"max_points": 65_536}).json()["x"]
    assert exact(got) == exact(brute(stored(db, run_id, "x", -(2**31)), 65_536, db.get_bind().dialect.name))
