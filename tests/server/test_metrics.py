"""Metric points: idempotent upserts, the summary, and SQL min-max downsampling against brute force."""
from __future__ import annotations

import math

import numpy as np
import pytest

from server import metrics
from tests.server.helpers import QUICK


def new_run(client) -> int:  # noqa: ANN001
    return client.post("/runs", json={"config": QUICK}).json()["id"]


def brute_minmax(steps: list[int], values: list[float], max_points: int) -> dict[int, float]:
    """The definition, row by row: first, last, and per equal-rows bucket its first min and max."""
    n = len(steps)
    if n <= max_points:
        return dict(zip(steps, values))
    nb = (max_points - 2) // 2
    keep = {steps[0]: values[0], steps[-1]: values[-1]}
    buckets: dict[int, list[int]] = {}
    for rn in range(1, n - 1):
        buckets.setdefault((rn - 1) * nb // (n - 2), []).append(rn)
    for rows in buckets.values():
        lo = min(rows, key=lambda r: (values[r], r))
        hi = min(rows, key=lambda r: (-values[r], r))
        keep[steps[lo]], keep[steps[hi]] = values[lo], values[hi]
    return keep


def test_upsert_is_idempotent_and_summary_current(client, db):
    run_id = new_run(client)
    metrics.write_points(db, run_id, [("train_loss", 0, 3.0), ("train_loss", 1, 2.0), ("lr", 0, 0.1)])
    metrics.write_points(db, run_id, [("train_loss", 1, 2.5), ("train_loss", 1, 1.5)])  # same point twice
    metrics.write_points(db, run_id, [("train_loss", 2, float("nan")), ("grad_norm", 0, float("inf"))])
    series = client.get(f"/runs/{run_id}/metrics").json()
    assert series["train_loss"] == {"step": [0, 1, 2], "value": [3.0, 1.5, None]}
    assert series["grad_norm"] == {"step": [0], "value": [None]}
    summary = client.get(f"/runs/{run_id}").json()["summary"]
    assert summary["train_loss"] == {"last": None, "step": 2, "min": 1.5, "max": 3.0, "n": 3}
    assert summary["lr"]["last"] == 0.1 and summary["grad_norm"]["min"] is None
    assert client.get(f"/runs/{run_id}/metrics", params={"keys": "lr"}).json().keys() == {"lr"}
    with pytest.raises(LookupError):
        metrics.write_points(db, 999, [("x", 0, 1.0)])


@pytest.mark.parametrize("n,max_points", [(5000, 100), (1003, 1000), (1000, 1000), (977, 10), (50, 3)])
def test_downsampling_keeps_each_bucket_extremes(client, db, n, max_points):
    run_id = new_run(client)
    rng = np.random.default_rng(n)
    steps = sorted(rng.choice(10 * n, size=n, replace=False).tolist())  # irregular steps
    values = np.round(rng.normal(size=n), 1).tolist()  # rounding makes ties
    values[n // 3] = 99.0  # a spike
    metrics.write_points(db, run_id, [("train_loss", s, v) for s, v in zip(steps, values)])
    got = client.get(f"/runs/{run_id}/metrics", params={"max_points": max_points}).json()["train_loss"]
    assert len(got["step"]) <= max_points and got["step"] == sorted(got["step"])
    if max_points >= 4:
        expect = brute_minmax(steps, values, max_points)
        assert dict(zip(got["step"], got["value"])) == expect
        assert 99.0 in got["value"]
    else:
        assert got == {"step": [steps[0], steps[-1]], "value": [values[0], values[-1]]}


def test_after_polls_incrementally_and_downsamples_the_rest(client, db):
    run_id = new_run(client)
    metrics.write_points(db, run_id, [("train_loss", s, math.sin(s / 10)) for s in range(2000)])
    tail = client.get(f"/runs/{run_id}/metrics", params={"after": 1989}).json()["train_loss"]
    assert tail["step"] == list(range(1990, 2000))
    part = client.get(f"/runs/{run_id}/metrics", params={"after": 999, "max_points": 100}).json()["train_loss"]
    assert part["step"][0] == 1000 and part["step"][-1] == 1999 and len(part["step"]) <= 100
    vals = [math.sin(s / 10) for s in range(1000, 2000)]
    assert max(part["value"]) == pytest.approx(max(vals)) and min(part["value"]) == pytest.approx(min(vals))


def test_metrics_with_null_buckets_keeps_a_marker(client, db):
    run_id = new_run(client)
    metrics.write_points(db, run_id, [("loss", s, float("nan") if 40 <= s < 60 else 1.0) for s in range(100)])
    got = client.get(f"/runs/{run_id}/metrics", params={"max_points": 20}).json()["loss"]
    assert None in got["value"] and len(got["step"]) <= 20


def test_out_of_order_points_renumber_their_series(client, db):
    from sqlalchemy import select

    from server.models import MetricPoint

    run_id = new_run(client)
    rng = np.random.default_rng(1)
    values = rng.normal(size=400).tolist()
    metrics.write_points(db, run_id, [("x", s, values[s]) for s in range(0, 400, 2)])
    metrics.write_points(db, run_id, [("x", s, values[s]) for s in range(1, 400, 2)])  # gaps filled late
    metrics.write_points(db, run_id, [("x", s, values[s]) for s in range(0, 10)])  # rewrites only
    seqs = db.execute(select(MetricPoint.step, MetricPoint.seq).where(MetricPoint.run_id == run_id)
                      .order_by(MetricPoint.step)).all()
    assert [q for _, q in seqs] == list(range(400))
    # a gap in the middle filled late: only the tail from the gap on is numbered again
    metrics.write_points(db, run_id, [("y", s, 1.0) for s in [*range(0, 200), *range(300, 400)]])
    metrics.write_points(db, run_id, [("y", s, 2.0) for s in range(250, 200, -1)])
    metrics.write_points(db, run_id, [("y", s, 3.0) for s in range(201, 300)])
    ys = db.execute(select(MetricPoint.step, MetricPoint.seq).where(
        MetricPoint.run_id == run_id, MetricPoint.key == "y").order_by(MetricPoint.step)).all()
    assert [st for st, _ in ys] == [*range(0, 200), *range(201, 400)]
    assert [q for _, q in ys] == list(range(399))
    got = client.get(f"/runs/{run_id}/metrics", params={"max_points": 50}).json()["x"]
    assert dict(zip(got["step"], got["value"])) == brute_minmax(list(range(400)), values, 50)
    assert client.get(f"/runs/{run_id}").json()["summary"]["x"]["n"] == 400


def test_large_batches_stay_idempotent(client, db):
    """Batches past `metrics.COPY_MIN_ROWS` (PostgreSQL: COPY, straight or staged): a batch sent
    again, a batch mixing rewrites with new steps, and rows stored behind `write_points`' back
    (beyond the summary's newest step, so the straight COPY collides) each keep one row a step."""
    from sqlalchemy import func, insert, select

    from server.models import MetricPoint

    n = 2 * metrics.COPY_MIN_ROWS
    run_id = new_run(client)
    first = [("x", s, float(s)) for s in range(n)]
    metrics.write_points(db, run_id, first)
    metrics.write_points(db, run_id, first)  # redelivered whole
    metrics.write_points(db, run_id, [("x", s, -float(s)) for s in range(n // 2, n + n // 2)])  # half old
    db.execute(insert(MetricPoint), [{"run_id": run_id, "key": "x", "step": s, "value": 0.0, "seq": None}
                                     for s in range(n + n // 2, n + n // 2 + 10)])  # around write_points
    db.commit()
    metrics.write_points(db, run_id, [("x", s, 7.0) for s in range(n + n // 2, 2 * n + n // 2)])
    rows = dict(db.execute(select(MetricPoint.step, MetricPoint.value).where(MetricPoint.run_id == run_id)).all())
    assert db.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id)) == len(rows)
    assert sorted(rows) == list(range(2 * n + n // 2))
    assert all(rows[s] == float(s) for s in range(n // 2))
    assert all(rows[s] == -float(s) for s in range(n // 2, n + n // 2))
    assert all(rows[s] == 7.0 for s in range(n + n // 2, 2 * n + n // 2))
    summary = client.get(f"/runs/{run_id}").json()["summary"]["x"]
    assert summary["step"] == 2 * n + n // 2 - 1 and summary["last"] == 7.0
    assert summary["min"] == -float(n + n // 2 - 1) and summary["max"] == float(n - 1)  # every value seen


def test_large_batches_store_every_key_and_double_exactly(client, db):
    """COPY's rows are built in bulk (PostgreSQL: its binary format, `server.copy_binary`): keys
    holding COPY's text separators and escapes or non-ASCII characters, and doubles at the
    edges of the format, read back as written, whether a batch takes the straight COPY or the
    staged upsert (its steps rewritten)."""
    from sqlalchemy import select

    from server.models import MetricPoint

    keys = ["tab\there", "back\\slash", "new\nline\r", "\\N", "ünï ✓"]
    doubles = [0.1, 1 / 3, 5e-324, -0.0, 1.7976931348623157e308, -2.2250738585072014e-308, 123456789.125]
    n = metrics.COPY_MIN_ROWS // len(keys) + 1
    run_id = new_run(client)
    for sign in (1.0, -1.0):  # new steps, then every step again (the staged upsert)
        sent = [(k, s, sign * doubles[(s + i) % len(doubles)]) for i, k in enumerate(keys) for s in range(n)]
        metrics.write_points(db, run_id, sent + [(keys[0], n + 1, float("nan"))])
        got = {(k, s): v for k, s, v in db.execute(select(MetricPoint.key, MetricPoint.step, MetricPoint.value)
                                                   .where(MetricPoint.run_id == run_id))}
        assert got.pop((keys[0], n + 1)) is None and len(got) == len(sent)
        signed = db.get_bind().dialect.name == "postgresql"  # SQLite keeps no negative zero
        for k, s, v in sent:
            assert got[(k, s)] == v and (not signed or math.copysign(1, got[(k, s)]) == math.copysign(1, v)), (k, s)


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_only_points_past_the_stored_steps_take_the_straight_copy(client, db, monkeypatch):
    """PostgreSQL: a batch's rows past each series' newest stored step are COPYed straight into
    metric_points (no conflict check), every other row takes the staged upsert: a fresh batch
    goes straight, a redelivered one never, a mixed one splits at the stored step."""
    assert db.get_bind().dialect.name == "postgresql"
    taken: list[tuple[str, dict[str, list[int]]]] = []
    for name in ("_copy_append", "_copy_upsert"):
        real = getattr(metrics, name)

        def spy(session, run_id, cols, real=real, name=name):  # noqa: ANN001
            taken.append((name, {key: list(steps) for key, steps, _, _ in cols}))
            return real(session, run_id, cols)
        monkeypatch.setattr(metrics, name, spy)
    n = metrics.COPY_MIN_ROWS
    run_id = new_run(client)
    batch = [(k, s, float(s)) for k in ("a", "b") for s in range(n)]
    metrics.write_points(db, run_id, batch)
    assert taken == [("_copy_append", {"a": list(range(n)), "b": list(range(n))})]
    taken.clear()
    metrics.write_points(db, run_id, batch)  # redelivered: every row collides
    assert taken == [("_copy_upsert", {"a": list(range(n)), "b": list(range(n))})]
    taken.clear()
    metrics.write_points(db, run_id, [("a", s, 1.0) for s in range(n + n // 2)]
                         + [("b", s, 1.0) for s in range(n, 2 * n)])
    assert taken == [("_copy_append", {"a": list(range(n, n + n // 2)), "b": list(range(n, 2 * n))}),
                     ("_copy_upsert", {"a": list(range(n))})]
    from sqlalchemy import func, select

    from server.models import MetricPoint
    assert db.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id)) \
        == n + n // 2 + 2 * n
