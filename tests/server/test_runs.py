"""/runs on SQLite and PostgreSQL: submit, 422/404, filters, ordering, pagination, cancel, retry."""
from __future__ import annotations

import copy

import pytest

from tests.server.helpers import QUICK, finish


def submit(client, **changes) -> int:  # noqa: ANN001
    cfg = copy.deepcopy(QUICK)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        cfg.setdefault(section, {})[key] = value
    r = client.post("/runs", json={"config": cfg})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_submit_queues_on_the_device_queue(client, queue):
    r = client.post("/runs", json={"name": "first", "config": QUICK})
    assert r.status_code == 201 and r.json()["status"] == "queued"
    gpu = client.post("/runs", json={"config": {**QUICK, "training": {"device": "auto"}}}).json()["id"]
    assert queue.sent == [("liplab.run", [r.json()["id"]], "cpu"), ("liplab.run", [gpu], "gpu")]
    run = client.get(f"/runs/{r.json()['id']}").json()
    assert run["name"] == "first" and run["config"]["model"]["width"] == 8
    assert run["config"]["training"]["batch_size"] == 64  # defaults filled in
    assert {"id", "sweep_id", "status", "config", "created_at", "started_at", "finished_at",
            "error", "summary"} <= run.keys()


def test_invalid_config_is_422_naming_every_key(client, queue):
    r = client.post("/runs", json={"config": {"training": {"lrr": 1, "lr": -1}, "model": {"name": "nope"}}})
    assert r.status_code == 422
    locs = {tuple(d["loc"]) for d in r.json()["detail"]}
    assert locs == {("body", "config", "training", "lrr"), ("body", "config", "training", "lr"),
                    ("body", "config", "model", "name")}
    assert queue.sent == []


def test_unknown_ids_are_404(client):
    for path in ("/runs/999", "/runs/999/metrics", "/runs/999/artifacts", "/runs/999/probes"):
        assert client.get(path).status_code == 404, path
    assert client.post("/runs/999/cancel").status_code == 404
    assert client.post("/runs/999/retry").status_code == 404


def test_where_filters_order_by_metric_and_pagination(client, db):
    layers = ["aol", "cpl", "aol", "sll", "aol"]
    ids = [submit(client, model__width=w, training__lr=lr)
           for w, lr in zip([8, 16, 32, 64, 128], [0.1, 0.01, 0.001, 0.01, 0.1])]
    from server.models import Run
    for run_id, layer in zip(ids, layers):  # model.layer is free text in the schema
        run = db.get(Run, run_id)
        run.config = {**run.config, "model": {**run.config["model"], "layer": layer}}
    db.commit()
    losses = [0.5, 0.1, 0.3, None, 0.2]
    for run_id, loss in zip(ids, losses):
        finish(db, run_id, points=[("train_loss", 0, 9.0), ("train_loss", 1, loss)] if loss else ())

    def listing(**params):
        r = client.get("/runs", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    got = listing(where="model.layer==aol")
    assert got["total"] == 3 and [r["id"] for r in got["items"]] == [ids[4], ids[2], ids[0]]
    assert listing(where=["model.layer==aol", "model.width>=32"])["total"] == 2
    assert listing(where="training.lr<0.05")["total"] == 3
    assert listing(where="model.layer!=aol")["total"] == 2
    assert listing(where="data.root==null")["total"] == 5
    assert listing(where="flossing.enabled==false")["total"] == 5
    assert listing(where="flossing.enabled==true")["total"] == 0
    assert [r["id"] for r in listing(order_by="-created_at")["items"]] == ids[::-1]
    by_loss = listing(order_by="train_loss")["items"]
    assert [r["id"] for r in by_loss] == [ids[1], ids[4], ids[2], ids[0], ids[3]]  # no metric: last
    assert [r["id"] for r in listing(order_by="-train_loss")["items"]][:4] == [ids[0], ids[2], ids[4], ids[1]]
    assert [r["id"] for r in listing(order_by="train_loss", order_stat="max")["items"]][:4] == sorted(
        [ids[0], ids[1], ids[2], ids[4]])  # all max 9.0: ties by id
    page = listing(order_by="id", limit=2, offset=2)
    assert page["total"] == 5 and [r["id"] for r in page["items"]] == ids[2:4]
    assert listing(status="succeeded")["total"] == 5 and listing(status="queued")["total"] == 0


@pytest.mark.parametrize("params,param", [
    ({"where": "model.widht==3"}, "where"), ({"where": "model.width==abc"}, "where"),
    ({"where": "nonsense"}, "where"), ({"where": "probes==1"}, "where"),
    ({"order_by": "train loss!"}, "order_by"), ({"status": "lost"}, "status"),
    ({"limit": 0}, "limit"),
])
def test_bad_listing_queries_are_422_naming_the_parameter(client, params, param):
    r = client.get("/runs", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:2] == ["query", param]


def test_cancel_and_retry(client, db, queue):
    run_id = submit(client)
    r = client.post(f"/runs/{run_id}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    r = client.post(f"/runs/{run_id}/retry")
    assert r.status_code == 202 and client.get(f"/runs/{run_id}").json()["status"] == "queued"
    assert queue.run_ids() == [run_id, run_id]
    assert client.post(f"/runs/{run_id}/retry").status_code == 409  # not finished
    from server import lifecycle
    assert lifecycle.claim_run(db, run_id=run_id, worker="w")
    r = client.post(f"/runs/{run_id}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "running"
    assert client.get(f"/runs/{run_id}").json()["status"] == "running"
    from server.models import Run
    db.expire_all()
    assert db.get(Run, run_id).cancel_requested == 1


def test_listing_total_is_exact_up_to_the_cap_then_flagged(client, db, monkeypatch):
    """Past EXACT_TOTAL matches the count stops (estimated), yet never ends paging early."""
    from server.api.routes import runs as routes

    monkeypatch.setattr(routes, "EXACT_TOTAL", 3)
    ids = [client.post("/runs", json={"config": QUICK}).json()["id"] for _ in range(6)]
    page = client.get("/runs", params={"limit": 2}).json()
    assert page["estimated"] and page["total"] >= 4  # > offset + limit: a pager goes on
    assert client.get("/runs", params={"limit": 2, "offset": 4}).json() | {"items": None} == \
        {"items": None, "total": 6, "estimated": False}  # upto = offset + limit = 6: exact
    assert client.get("/runs", params={"limit": 10}).json()["total"] == 6
    seen, offset = [], 0
    while True:  # the dashboard's pager (dashboard/client.all_runs)
        p = client.get("/runs", params={"limit": 2, "offset": offset}).json()
        seen += [r["id"] for r in p["items"]]
        offset += len(p["items"])
        if not p["items"] or offset >= p["total"]:
            break
    assert sorted(seen) == sorted(ids)


def test_a_bad_filter_says_what_is_wrong(client):
    detail = client.get("/runs", params={"where": "model.widht==3"}).json()["detail"][0]
    assert "did you mean model.width" in detail["msg"]
    detail = client.get("/runs", params={"where": "name==x"}).json()["detail"][0]
    assert detail["loc"][:2] == ["query", "where"] and "section key" in detail["msg"]


def test_pack_size_does_not_change_the_config_hash():
    """A run trained in a pack computes what it computes alone: the same hash, so a resubmitted
    sweep with another pack size reuses it; any key that changes results changes the hash."""
    from lipcore.config import validate
    from server.crud import config_hash

    base = validate({"model": {"name": "mlp"}})
    packed = validate({"model": {"name": "mlp"}, "training": {"pack_size": 1}})
    other_lr = validate({"model": {"name": "mlp"}, "training": {"lr": base["training"]["lr"] * 2}})
    assert config_hash(base) == config_hash(packed)
    assert config_hash(base) != config_hash(other_lr)
