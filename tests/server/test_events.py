"""Server-Sent Events: DB polling in the embedded mode, Redis pub/sub in a lab."""
from __future__ import annotations

import json
import math
import threading
import time

import pytest
from fastapi.testclient import TestClient

from server import lifecycle, metrics
from server.events import pack_doubles
from server.main import create_app
from tests.server.conftest import make_settings
from tests.server.helpers import QUICK, finish


def read_events(lines, until: str = "end", limit: int = 200) -> list[dict]:  # noqa: ANN001
    """Events from an iterator of SSE lines, up to the first of type `until`."""
    events = []
    for line in lines:
        if line.startswith("data: "):
            events.append(json.loads(line[6:]))
            if events[-1]["type"] == until or len(events) >= limit:
                break
    return events


def test_run_events_stream_points_and_status_until_the_run_ends(client, db):
    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    lifecycle.claim_run(db, run_id=run_id, worker="w")
    metrics.write_points(db, run_id, [("train_loss", 0, 1.0)])

    def worker() -> None:
        time.sleep(0.3)
        metrics.write_points(db, run_id, [("train_loss", 1, 0.5), ("test_loss", 1, 0.7)])
        time.sleep(0.2)
        finish(db, run_id, "succeeded", worker="w")

    t = threading.Thread(target=worker)
    t.start()
    with client.stream("GET", f"/runs/{run_id}/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = read_events(r.iter_lines())
    t.join()
    points = [tuple(p) for e in events if e["type"] == "metrics" for p in e["points"]]
    assert points == [("train_loss", 0, 1.0), ("test_loss", 1, 0.7), ("train_loss", 1, 0.5)]
    statuses = [e["status"] for e in events if e["type"] == "status"]
    assert statuses == ["running", "succeeded"] and events[-1]["type"] == "end"
    assert client.get("/runs/999/events").status_code == 404


def test_a_reconnect_with_last_event_id_gets_only_what_came_after_it(client, db):
    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    finish(db, run_id, points=[("train_loss", s, 1.0 / (s + 1)) for s in range(4)]
           + [("test_loss", 1, 0.9), ("test_loss", 3, 0.8)])
    with client.stream("GET", f"/runs/{run_id}/events") as r:
        lines = list(r.iter_lines())
    ids = [line[4:] for line in lines if line.startswith("id: ")]
    assert ids[0] == "test_loss=3;train_loss=3"  # the last step sent of every key
    resumed = {"Last-Event-ID": "test_loss=1;train_loss=2"}
    with client.stream("GET", f"/runs/{run_id}/events", headers=resumed) as r:
        events = read_events(r.iter_lines())
    points = [tuple(p[:2]) for e in events if e["type"] == "metrics" for p in e["points"]]
    assert points == [("test_loss", 3), ("train_loss", 3)]
    with client.stream("GET", f"/runs/{run_id}/events", headers={"Last-Event-ID": "x;=;"}) as r:
        events = read_events(r.iter_lines())  # a malformed id: everything, from the start
    assert len([p for e in events if e["type"] == "metrics" for p in e["points"]]) == 6


def test_relayed_points_after_a_gap_wait_for_the_store_then_follow_in_order(app, client, db):
    from server.api.routes.events import RunPoller

    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    metrics.write_points(db, run_id, [("train_loss", s, 1.0) for s in range(4)])
    poller = RunPoller(app.state.sessionmaker, run_id)
    poller.poll()

    def live(after: int, *steps: int) -> dict:
        return {"type": "metrics", "run_id": run_id, "after": {"train_loss": after},
                "points": [["train_loss", s, 0.5] for s in steps]}

    assert poller.fresh(live(2, 3)) is None  # already sent from the store
    assert poller.fresh(live(5, 6)) is None and poller.behind  # 4 and 5 are not stored yet
    assert poller.fresh(live(6, 7)) is None
    metrics.write_points(db, run_id, [("train_loss", 4, 1.0), ("train_loss", 5, 1.0)])
    sent = [p[1] for e in poller.poll() if e["type"] == "metrics" for p in e["points"]]
    assert sent == [4, 5, 6, 7] and not poller.behind
    assert [p[1] for p in poller.fresh(live(7, 8))["points"]] == [8]  # live again
    assert poller.cursor() == "train_loss=8"


def test_the_first_points_of_a_fresh_series_are_relayed_at_once(app, client):
    # a client with nothing of a key, and a reporter's first event (after = its skip_until,
    # -1): nothing came before, so the points go out live instead of waiting for the store
    from server.api.routes.events import RunPoller

    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    poller = RunPoller(app.state.sessionmaker, run_id)
    poller.poll()
    first = {"type": "metrics", "run_id": run_id, "after": {"train_loss": -1},
             "points": [["train_loss", 0, 1.0], ["train_loss", 1, 0.9]]}
    assert [p[1] for p in poller.fresh(first)["points"]] == [0, 1] and not poller.behind
    # a key whose first event starts later (a resumed run: after = its last stored step) waits
    later = {"type": "metrics", "run_id": run_id, "after": {"test_loss": 9},
             "points": [["test_loss", 10, 1.0]]}
    assert poller.fresh(later) is None and poller.behind


COLUMNS = {"type": "metrics", "run_id": 1, "after": {"loss": -1, "acc": -1}, "steps": [0, 1, 3],
           "values": {"loss": pack_doubles([2.0, 1.5, math.nan]), "acc": pack_doubles([0.1, 0.2, 0.3])}}
ODD = [0.1, -0.0, 0.0, -1.5, 5e-324, -1.7976931348623157e308, 2.0**-1022, 1e300, -123456.789]


def test_packed_doubles_are_the_float64s_bit_for_bit():
    """Against numpy's reading of the bytes; non-finite values come back None."""
    import base64

    import numpy as np

    from server.events import unpack_doubles

    values = ODD + [math.nan, math.inf, -math.inf]
    packed = pack_doubles(values)
    assert np.frombuffer(base64.b64decode(packed), "<f8").tobytes() == np.asarray(values, "<f8").tobytes()
    back = unpack_doubles(packed)
    assert back[-3:] == [None] * 3
    assert [(v, math.copysign(1, v)) for v in back[:-3]] == [(v, math.copysign(1, v)) for v in ODD]
    assert unpack_doubles(pack_doubles(ODD)) == ODD and unpack_doubles(pack_doubles([])) == []


def test_event_points_reads_columns_as_the_points_step_by_step():
    from server.events import event_points

    by_step = [["loss", 0, 2.0], ["acc", 0, 0.1], ["loss", 1, 1.5], ["acc", 1, 0.2],
               ["loss", 3, None], ["acc", 3, 0.3]]
    assert event_points(COLUMNS) == by_step
    points = {k: v for k, v in COLUMNS.items() if k not in ("steps", "values")} | {"points": by_step}
    assert event_points(points) == by_step
    assert event_points({"type": "metrics", "steps": [], "values": {}}) == []


def test_relayed_columns_go_to_the_client_as_points(app, client):
    """The relay sends clients the `points` form whichever form the reporter published: the
    same event as for the points form, less the columns."""
    from server.api.routes.events import RunPoller
    from server.events import event_points

    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    sent = []
    for form in (COLUMNS, {**{k: v for k, v in COLUMNS.items() if k not in ("steps", "values")},
                           "points": event_points(COLUMNS)}):
        poller = RunPoller(app.state.sessionmaker, run_id)
        poller.poll()
        sent.append(poller.fresh({**form, "run_id": run_id}))
    assert sent[0] == sent[1] and set(sent[0]) == {"type", "run_id", "after", "points"}
    assert [p[:2] for p in sent[0]["points"]] == [["loss", 0], ["acc", 0], ["loss", 1], ["acc", 1],
                                                  ["loss", 3], ["acc", 3]]


def test_sweep_events_stream_status_changes(client, db):
    body = client.post("/sweeps", json={"config": QUICK, "params": {"training.lr": "0.1,0.01"}}).json()
    a, b = body["run_ids"]

    def worker() -> None:
        time.sleep(0.2)
        finish(db, a, "succeeded")
        time.sleep(0.2)
        finish(db, b, "failed", error="boom")

    t = threading.Thread(target=worker)
    t.start()
    with client.stream("GET", f"/sweeps/{body['id']}/events") as r:
        events = read_events(r.iter_lines())
    t.join()
    changes = [(e["run_id"], e["status"]) for e in events if e["type"] == "status"]
    # a claim and its finish come close together: the poller may or may not see `running`
    assert [c for c in changes if c[1] != "running"] == [(a, "queued"), (b, "queued"),
                                                         (a, "succeeded"), (b, "failed")]
    assert [e for e in events if e["type"] == "counts"][-1]["counts"] == {"succeeded": 1, "failed": 1}
    assert client.get("/sweeps/999/events").status_code == 404


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.parametrize("published", [{"points": [["lr", 0, 0.1]]},  # as before
                                       {"steps": [0], "values": {"lr": pack_doubles([0.1])}}])  # columns
def test_lab_events_come_from_redis_pubsub(pg_migrated, tmp_path, queue, redis_url, published):
    """Points published over Redis in either form reach the SSE client as points."""
    from sqlalchemy import create_engine, text

    from server.events import EventBus
    from tests.server.conftest import TABLES

    engine = create_engine(pg_migrated)
    with engine.begin() as c:
        c.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    settings = make_settings(pg_migrated, tmp_path, broker_url=redis_url)
    app = create_app(settings, queue=queue)
    bus = EventBus(settings)
    with TestClient(app, base_url="http://t/api/v1") as c, app.state.sessionmaker() as db:
        run_id = c.post("/runs", json={"config": QUICK}).json()["id"]
        lifecycle.claim_run(db, run_id=run_id, worker="w")
        stop = threading.Event()

        def publisher() -> None:  # until the stream has subscribed, messages may be lost
            while not stop.is_set():
                bus.publish({"type": "metrics", "run_id": run_id, **published}, run_id)
                time.sleep(0.05)
            finish(db, run_id, "succeeded", worker="w")
            bus.publish({"type": "status", "run_id": run_id, "status": "succeeded", "error": None}, run_id)

        t = threading.Thread(target=publisher)
        t.start()
        with c.stream("GET", f"/runs/{run_id}/events") as r:
            lines = r.iter_lines()
            events = read_events(lines, until="metrics")  # no DB point exists: this came over Redis
            stop.set()
            events += read_events(lines)
        t.join()
    assert events[0] == {"type": "status", "run_id": run_id, "status": "running", "error": None}
    assert {"type": "metrics", "run_id": run_id, "points": [["lr", 0, 0.1]]} in events
    assert {"type": "status", "run_id": run_id, "status": "succeeded", "error": None} in events
    assert events[-1]["type"] == "end"
    app.state.engine.dispose()


@pytest.mark.redis
@pytest.mark.postgres
def test_lab_events_fall_back_to_the_store_when_nothing_is_published(pg_migrated, tmp_path, queue,
                                                                      redis_url):
    from sqlalchemy import create_engine, text

    from tests.server.conftest import TABLES

    engine = create_engine(pg_migrated)
    with engine.begin() as c:
        c.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    app = create_app(make_settings(pg_migrated, tmp_path, broker_url=redis_url), queue=queue)
    with TestClient(app, base_url="http://t/api/v1") as c, app.state.sessionmaker() as db:
        run_id = c.post("/runs", json={"config": QUICK}).json()["id"]
        lifecycle.claim_run(db, run_id=run_id, worker="w")

        def silent_worker() -> None:
            time.sleep(0.3)
            metrics.write_points(db, run_id, [("train_loss", 0, 2.0)])
            time.sleep(0.3)
            finish(db, run_id, "succeeded", worker="w")

        t = threading.Thread(target=silent_worker)
        t.start()
        with c.stream("GET", f"/runs/{run_id}/events") as r:
            events = read_events(r.iter_lines())
        t.join()
    assert {"type": "metrics", "run_id": run_id, "points": [["train_loss", 0, 2.0]]} in events
    assert [e["status"] for e in events if e["type"] == "status"] == ["running", "succeeded"]
    app.state.engine.dispose()
