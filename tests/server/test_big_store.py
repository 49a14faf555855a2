"""A lab-sized store built by bulk insert: 100,000 runs and one 1,000,000-point series.

Listing, filtering, ordering and 1M → 1,000 downsampling must answer correctly (the speed of the
same queries is measured by bench/api.py, not asserted here).
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sqlalchemy.orm import Session

from server import blocks
from server.main import create_app
from server.models import utcnow
from tests.server.conftest import RecordingQueue, make_settings

N_RUNS, N_POINTS = 100_000, 1_000_000
WIDTHS = [8, 16, 32, 64, 128]


def run_rows(n: int, sweep_id: int) -> list[dict]:
    now = utcnow()
    rows = []
    for i in range(n):  # the keys the queries read; a smaller row loads faster
        cfg = {"model": {"width": WIDTHS[i % len(WIDTHS)]}, "training": {"batch_seed": i}}
        loss = ((i * 7919) % 100_003) / 100_003  # a permutation-like spread of losses
        rows.append({"sweep_id": sweep_id, "name": f"r{i}", "status": "succeeded" if i % 10 else "failed",
                     "config": cfg, "overrides": {}, "created_at": now, "attempts": 1,
                     "summary": {"train_loss": {"last": loss, "step": 9, "min": loss, "max": loss}},
                     "cancel_requested": 0})
    return rows


def series(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    v = np.cumsum(rng.normal(size=n))
    v[123_457] = 1e6    # spikes that must survive
    v[876_543] = -1e6
    return v


def brute_minmax(values: np.ndarray, max_points: int) -> dict[int, float]:
    n, nb = len(values), (max_points - 2) // 2
    rn = np.arange(1, n - 1)
    bucket = (rn - 1) * nb // (n - 2)
    keep = {0: values[0], n - 1: values[-1]}
    edges = np.flatnonzero(np.diff(bucket)) + 1
    for rows in np.split(rn, edges):
        chunk = values[rows]
        lo, hi = rows[np.argmin(chunk)], rows[np.argmax(chunk)]  # first occurrence, as in SQL
        keep[int(lo)], keep[int(hi)] = values[lo], values[hi]
    return keep


def brute_blocks(values: np.ndarray, max_points: int) -> dict[int, float]:
    """The long-series definition on the raw rows: buckets of g whole blocks (g * BLOCK rows),
    each keeping its first min and first max row, plus the first and last row."""
    n, nb = len(values), (max_points - 2) // 2
    g = -(-(-(-n // blocks.BLOCK)) // nb)
    keep = {0: values[0], n - 1: values[-1]}
    for start in range(0, n, g * blocks.BLOCK):
        chunk = values[start:start + g * blocks.BLOCK]
        lo, hi = start + int(np.argmin(chunk)), start + int(np.argmax(chunk))
        keep[lo], keep[hi] = values[lo], values[hi]
    return keep


@pytest.fixture(scope="module")
def big(tmp_path_factory, sqlite_template):
    tmp = tmp_path_factory.mktemp("big")
    shutil.copy(sqlite_template, tmp / "big.db")
    app = create_app(make_settings(f"sqlite:///{tmp / 'big.db'}", tmp), queue=RecordingQueue())
    values = series(N_POINTS)
    runs = run_rows(N_RUNS, 1)
    now = str(runs[0]["created_at"].replace(tzinfo=None))
    with app.state.engine.begin() as c:  # raw DBAPI executemany: no per-row ORM work
        c.exec_driver_sql("INSERT INTO sweeps (id, name, config, params, created_at) "
                          "VALUES (1, 'big', '{}', '{}', ?)", (now,))
        c.exec_driver_sql(
            "INSERT INTO runs (sweep_id, name, status, config, overrides, created_at, attempts, summary, "
            "cancel_requested) VALUES (?, ?, ?, ?, '{}', ?, 1, ?, 0)",
            [(1, r["name"], r["status"], json.dumps(r["config"]), now, json.dumps(r["summary"])) for r in runs])
        c.exec_driver_sql("INSERT INTO metric_points (run_id, key, step, value, seq) VALUES (1, 'train_loss', ?, ?, ?)",
                          [(3 * i, float(values[i]), i) for i in range(N_POINTS)])
    with Session(app.state.engine) as session:  # a bulk load bypasses write_points: build the blocks
        blocks.rebuild(session, 1, "train_loss")
        session.commit()
    with TestClient(app, base_url="http://t/api/v1") as client:
        yield client, values
    app.state.engine.dispose()


@pytest.mark.slow
def test_listing_filtering_and_ordering_100k_runs(big):
    client, _ = big
    page = client.get("/runs", params={"limit": 50}).json()
    assert page["estimated"] and page["total"] > 50  # past EXACT_TOTAL matches: never a full count
    assert [r["id"] for r in page["items"]] == list(range(N_RUNS, N_RUNS - 50, -1))
    wide = client.get("/runs", params={"where": ["model.width==64", "training.batch_seed<1000"],
                                       "limit": 5}).json()
    assert wide["total"] == sum(1 for i in range(1000) if WIDTHS[i % 5] == 64) and not wide["estimated"]
    best = client.get("/runs", params={"order_by": "train_loss", "limit": 3, "status": "succeeded"}).json()
    losses = sorted(((i * 7919) % 100_003) / 100_003 for i in range(N_RUNS) if i % 10)
    assert [r["summary"]["train_loss"]["last"] for r in best["items"]] == losses[:3]
    assert best["estimated"] and N_RUNS - N_RUNS // 10 >= best["total"] > 3
    deep = client.get("/runs", params={"limit": 10, "offset": 99_995}).json()["items"]
    assert [r["id"] for r in deep] == [5, 4, 3, 2, 1]


@pytest.mark.slow
def test_one_million_points_downsampled_to_1000(big):
    client, values = big
    got = client.get("/runs/1/metrics", params={"keys": "train_loss", "max_points": 1000}).json()["train_loss"]
    assert len(got["step"]) <= 1000
    expect = brute_blocks(values, 1000)  # long series: buckets of whole blocks
    assert got["step"] == [3 * i for i in sorted(expect)]
    assert got["value"] == pytest.approx([expect[i] for i in sorted(expect)])
    assert 1e6 in got["value"] and -1e6 in got["value"]
    rows = client.get("/runs/1/metrics", params={"after": -1, "max_points": 1000}).json()["train_loss"]
    expect = brute_minmax(values, 1000)  # after= reads the points: equal-row buckets
    assert rows["step"] == [3 * i for i in sorted(expect)]
    assert rows["value"] == pytest.approx([expect[i] for i in sorted(expect)])
    tail = client.get("/runs/1/metrics", params={"after": 3 * (N_POINTS - 6), "max_points": 1000}).json()
    assert tail["train_loss"]["step"] == [3 * i for i in range(N_POINTS - 5, N_POINTS)]
