"""Tags and notes on runs (PATCH /runs/{id}), and where=/order_by= on columns, metrics, tags and
notes, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.server.helpers import QUICK, finish


def ids_of(client, **params) -> list[int]:  # noqa: ANN001
    r = client.get("/runs", params=params)
    assert r.status_code == 200, r.text
    return [run["id"] for run in r.json()["items"]]


def test_tags_and_note_round_trip_and_are_searchable(client):
    a, b, c = (client.post("/runs", json={"config": QUICK}).json()["id"] for _ in range(3))
    assert client.get(f"/runs/{a}").json()["tags"] == [] and client.get(f"/runs/{a}").json()["note"] == ""
    r = client.patch(f"/runs/{a}", json={"tags": ["baseline", "lr_sweep", "baseline"], "note": "Warm-up 100%"})
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["baseline", "lr_sweep"] and r.json()["note"] == "Warm-up 100%"
    client.patch(f"/runs/{b}", json={"tags": ["lrXsweep"]})
    client.patch(f"/runs/{c}", json={"note": "no warm-up here"})
    assert client.patch(f"/runs/{a}", json={"note": "warm-up 100%, seed 3"}).json()["tags"] == ["baseline", "lr_sweep"]
    assert client.get(f"/runs/{a}").json()["note"] == "warm-up 100%, seed 3"
    assert ids_of(client, where="tags contains baseline") == [a]
    assert ids_of(client, where="tags contains lr_sweep") == [a]  # '_' is not a wildcard
    assert ids_of(client, where="tags contains lr") == []  # whole tags only
    assert ids_of(client, where="note~WARM-UP", order_by="id") == [a, c]
    assert ids_of(client, where="note~100%") == [a]
    assert ids_of(client, where="note~1_0") == []
    assert ids_of(client, where=["note~warm", "tags contains baseline"]) == [a]
    assert ids_of(client, where="name~QUICK", order_by="id") == [a, b, c]  # the config's name, quick
    assert ids_of(client, where="name~slow") == []


@pytest.mark.parametrize("body,field", [
    ({"tags": ["has space"]}, "tags"), ({"tags": ['q"uote']}, "tags"), ({"tags": "one"}, "tags"),
    ({"note": 5}, "note"), ({"tags": ["x" * 65]}, "tags"),
])
def test_bad_notes_are_422_naming_the_field(client, body, field):
    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    r = client.patch(f"/runs/{run_id}", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:2] == ["body", field]
    assert client.patch("/runs/999", json={"note": "x"}).status_code == 404


def test_filters_and_order_on_columns_metrics_and_config(client, db):
    from server.models import Run

    widths = [8, 32, 16, 64]
    ids = [client.post("/runs", json={"config": {**QUICK, "model": {**QUICK["model"], "width": w}}}).json()["id"]
           for w in widths]
    accs = [(0.2, 0.9), (0.5, 0.6), (0.1, 0.95), None]  # (last, best) of test_acc; the 4th logs none
    for run_id, acc in zip(ids, accs):
        points = [("test_acc", 0, 0.0), ("test_acc", 1, acc[1]), ("test_acc", 2, acc[0])] if acc else ()
        finish(db, run_id, status="failed" if acc is None else "succeeded", points=points)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i, run_id in enumerate(ids):
        run = db.get(Run, run_id)
        run.attempts, run.worker = i, f"w{i % 2}@host"
        run.created_at = t0 + timedelta(days=i)
        run.started_at, run.finished_at = t0, t0 + timedelta(seconds=[90, 30, 600, 5][i])
    db.commit()
    assert ids_of(client, where="summary.test_acc.max>=0.9", order_by="id") == [ids[0], ids[2]]
    assert ids_of(client, where="summary.test_acc.last>0.15", order_by="id") == [ids[0], ids[1]]
    assert ids_of(client, where="summary.test_acc.min==0") == ids[2::-1]
    assert ids_of(client, order_by="-test_acc", order_stat="max") == [ids[2], ids[0], ids[1], ids[3]]
    assert ids_of(client, where="status==failed") == [ids[3]]
    assert ids_of(client, where="attempts>=2", order_by="id") == ids[2:]
    assert ids_of(client, where="worker==w1@host", order_by="id") == [ids[1], ids[3]]
    assert ids_of(client, where="created_at>=2026-01-02T12:00", order_by="id") == ids[2:]
    assert ids_of(client, where="created_at<2026-01-02") == [ids[0]]
    assert ids_of(client, order_by="-attempts") == ids[::-1]
    assert ids_of(client, order_by="worker") == [ids[0], ids[2], ids[1], ids[3]]
    assert ids_of(client, order_by="model.width") == [ids[0], ids[2], ids[1], ids[3]]  # numerically
    assert ids_of(client, order_by="-model.width") == [ids[3], ids[1], ids[2], ids[0]]
    assert ids_of(client, where="model.width>10", order_by="id") == ids[1:]  # config filters still work
    assert ids_of(client, order_by="-duration") == [ids[2], ids[0], ids[1], ids[3]]  # 600, 90, 30, 5 s
    assert ids_of(client, where=["duration>=30", "duration<100"], order_by="id") == ids[:2]


@pytest.mark.parametrize("params", [
    {"where": "summary.test_acc.best>1"}, {"where": "summary.test_acc.max>high"},
    {"where": "attempts>many"}, {"where": "created_at>yesterday"}, {"where": "status>failed"},
    {"where": "tags contains two words"}, {"order_by": "model.blocks"},
])
def test_bad_run_filters_are_422_naming_the_parameter(client, params):
    r = client.get("/runs", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", next(iter(params))]
