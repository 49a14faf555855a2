"""/sweeps on SQLite and PostgreSQL: expansion, limits, skip-completed, retry, cancel, grid,
varying params, grouped curves (checked against numpy)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.server.helpers import QUICK, finish


def post_sweep(client, params, **body):  # noqa: ANN001
    return client.post("/sweeps", json={"config": QUICK, "params": params, **body})


def test_grid_sweep_expands_validates_and_queues_every_member(client, queue):
    r = post_sweep(client, {"model.width": "8,16", "training.lr": [0.1, 0.01, 0.001]}, name="g")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["n_runs"] == 6 and len(body["run_ids"]) == 6 and body["queued"] == 6
    assert sorted(queue.run_ids()) == sorted(body["run_ids"])
    sweep = client.get(f"/sweeps/{body['id']}").json()
    assert sweep["name"] == "g" and sweep["n_runs"] == 6 and sweep["counts"] == {"queued": 6}
    runs = client.get("/runs", params={"sweep_id": body["id"], "limit": 100}).json()["items"]
    assert {(r["config"]["model"]["width"], r["config"]["training"]["lr"]) for r in runs} == {
        (w, lr) for w in (8, 16) for lr in (0.1, 0.01, 0.001)}
    assert client.get("/sweeps").json()["total"] == 1


def test_zip_ranges_and_random_search(client):
    r = post_sweep(client, {"model.width": "8,16,32", "training.batch_seed": "0..3"},
                   zip=[["model.width", "training.batch_seed"]])
    assert r.status_code == 201 and r.json()["n_runs"] == 3
    r = post_sweep(client, {"training.lr": "logfloat(1e-4,1e-1)", "model.width": "choice(8,16)"},
                   random={"samples": 7, "seed": 3}, name="rand")
    assert r.status_code == 201 and r.json()["n_runs"] == 7


@pytest.mark.parametrize("params,extra,loc", [
    ({"training.lrr": "0.1,0.2"}, {}, ["body", "params", "training.lrr"]),
    ({"training.lr": "-1,0.1"}, {}, ["body", "params", "training.lr"]),
    ({"model.width": "8,16", "training.lr": "0.1,0.2,0.3"}, {"zip": [["model.width", "training.lr"]]},
     ["body", "params", "model.width"]),
    ({"training.lr": "logfloat(1e-4,1e-1)"}, {}, ["body", "params", "training.lr"]),
    ({"training.lr": []}, {}, ["body", "params", "training.lr"]),
])
def test_bad_sweeps_are_422_naming_the_key_and_queue_nothing(client, queue, params, extra, loc):
    r = post_sweep(client, params, **extra)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    assert queue.sent == [] and client.get("/runs").json()["total"] == 0


def test_max_runs_per_sweep_is_a_clear_422(store_url, tmp_path, queue):
    from fastapi.testclient import TestClient

    from server.main import create_app
    from tests.server.conftest import make_settings

    app = create_app(make_settings(store_url, tmp_path, max_runs_per_sweep=10), queue=queue)
    with TestClient(app, base_url="http://t/api/v1") as c:
        r = post_sweep(c, {"training.batch_seed": "0..11"})
        assert r.status_code == 422 and "limit of 10" in r.json()["detail"][0]["msg"]
        assert post_sweep(c, {"training.batch_seed": "0..10"}).status_code == 201
    app.state.engine.dispose()


def test_resubmitting_skips_completed_and_overwrite_reruns(client, db, queue):
    first = post_sweep(client, {"training.lr": "0.1,0.01,0.001"}, name="s").json()
    a, b, c = first["run_ids"]
    finish(db, a, "succeeded", [("train_loss", 0, 1.0)])
    finish(db, b, "failed")
    queue.sent.clear()
    again = post_sweep(client, {"training.lr": "0.1,0.01,0.001,0.0001"}, name="s").json()
    assert again["id"] == first["id"] and again["n_runs"] == 4
    assert again["run_ids"][:3] == [a, b, c] and again["reused"] == 2  # a succeeded, c still queued
    assert sorted(queue.run_ids()) == sorted([b, again["run_ids"][3]])
    assert client.get(f"/runs/{b}").json()["status"] == "queued"
    queue.sent.clear()
    over = post_sweep(client, {"training.lr": "0.1"}, name="s", overwrite=True).json()
    assert over["run_ids"] == [a] and queue.run_ids() == [a]
    run = client.get(f"/runs/{a}").json()
    assert run["status"] == "queued" and run["summary"] == {}
    assert client.get(f"/runs/{a}/metrics").json() == {}


def test_retry_failed_requeues_only_failed_diverged_cancelled(client, db, queue):
    ids = post_sweep(client, {"training.lr": "0.1,0.01,0.001,0.0001,0.00001"}).json()["run_ids"]
    for run_id, status in zip(ids, ["succeeded", "failed", "diverged", "cancelled"]):
        finish(db, run_id, status)
    queue.sent.clear()
    r = client.post(f"/sweeps/{client.get(f'/runs/{ids[0]}').json()['sweep_id']}/retry-failed")
    assert r.status_code == 202 and sorted(r.json()["ids"]) == ids[1:4]
    assert sorted(queue.run_ids()) == ids[1:4]
    assert [client.get(f"/runs/{i}").json()["status"] for i in ids] == ["succeeded"] + ["queued"] * 4


def test_cancel_sweep(client, db):
    body = post_sweep(client, {"training.lr": "0.1,0.01,0.001"}).json()
    from server import lifecycle
    lifecycle.claim_run(db, run_id=body["run_ids"][0], worker="w")
    r = client.post(f"/sweeps/{body['id']}/cancel")
    assert r.status_code == 202 and r.json()["status"] == {"running": 1, "cancelled": 2}
    assert client.get(f"/sweeps/{body['id']}").json()["counts"] == {"running": 1, "cancelled": 2}
    assert client.post("/sweeps/999/cancel").status_code == 404
    assert client.post("/sweeps/999/retry-failed").status_code == 404


def test_grid_with_status_counts_and_aggregates(client, db):
    body = post_sweep(client, {"model.width": "8,16", "training.lr": "0.1,0.01",
                               "training.batch_seed": "0,1"}).json()
    runs = client.get("/runs", params={"sweep_id": body["id"], "limit": 100}).json()["items"]
    expected: dict[tuple, list[float]] = {}
    for i, run in enumerate(runs):
        w, lr = run["config"]["model"]["width"], run["config"]["training"]["lr"]
        if (w, lr) == (16, 0.1):
            finish(db, run["id"], "failed")
            continue
        last = w * lr + run["config"]["training"]["batch_seed"]
        finish(db, run["id"], "succeeded", [("test_loss", 0, last + 5), ("test_loss", 1, last)])
        expected.setdefault((w, lr), []).append(last)
    g = client.get(f"/sweeps/{body['id']}/grid",
                   params={"x": "model.width", "y": "training.lr", "metric": "test_loss", "agg": "mean"}).json()
    assert g["x"] == [8, 16] and g["y"] == [0.01, 0.1]
    for i, lr in enumerate(g["y"]):
        for j, w in enumerate(g["x"]):
            vals = expected.get((w, lr))
            assert g["z"][i][j] == (pytest.approx(np.mean(vals)) if vals else None)
    assert g["counts"][1][1] == {"failed": 2} and g["counts"][0][0] == {"succeeded": 2}
    gmax = client.get(f"/sweeps/{body['id']}/grid", params={"x": "model.width", "y": "training.lr",
                                                            "metric": "test_loss", "agg": "max"}).json()
    assert gmax["z"][0][0] == pytest.approx(max(expected[(8, 0.01)]) + 5)  # max over history and seeds
    bad = client.get(f"/sweeps/{body['id']}/grid", params={"x": "model.wdth", "y": "training.lr"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "x"]
    assert client.get(f"/sweeps/{body['id']}/grid", params={"x": "model.width", "y": "training.lr",
                                                             "agg": "median"}).status_code == 422
    assert client.get("/sweeps/999/grid", params={"x": "model.width", "y": "training.lr"}).status_code == 404


def test_params_lists_only_varying_keys(client):
    body = post_sweep(client, {"model.width": "8,16", "training.lr": "0.1", "training.batch_seed": "0..3"}).json()
    params = client.get(f"/sweeps/{body['id']}/params").json()["params"]
    assert params == {"model.width": [8, 16], "training.batch_seed": [0, 1, 2]}


def test_groups_mean_std_stderr_n_per_step_against_numpy(client, db):
    body = post_sweep(client, {"model.width": "8,16", "training.batch_seed": "0..4"}).json()
    runs = client.get("/runs", params={"sweep_id": body["id"], "limit": 100}).json()["items"]
    rng = np.random.default_rng(0)
    curves: dict[int, dict[int, list[float]]] = {8: {}, 16: {}}
    for run in runs:
        n_steps = 3 + run["config"]["training"]["batch_seed"]  # runs end at different steps
        values = rng.normal(size=n_steps) * 10
        finish(db, run["id"], points=[("train_loss", s, float(v)) for s, v in enumerate(values)])
        for s, v in enumerate(values):
            curves[run["config"]["model"]["width"]].setdefault(s, []).append(float(v))
    r = client.get(f"/sweeps/{body['id']}/groups", params={"by": "model.width", "metric": "train_loss"})
    assert r.status_code == 200, r.text
    groups = r.json()["groups"]
    assert [g["value"] for g in groups] == [8, 16]
    for g in groups:
        ref = curves[g["value"]]
        assert g["step"] == sorted(ref) and g["n"] == [len(ref[s]) for s in sorted(ref)]
        assert g["n_runs"] == 4
        for s, mean, std, se, n in zip(g["step"], g["mean"], g["std"], g["stderr"], g["n"]):
            vals = np.array(ref[s])
            assert mean == pytest.approx(vals.mean())
            assert std == pytest.approx(vals.std(ddof=1) if n > 1 else 0.0, abs=1e-9)
            assert se == pytest.approx(std / np.sqrt(n), abs=1e-9)
    whole = client.get(f"/sweeps/{body['id']}/groups", params={"metric": "train_loss"}).json()["groups"]
    assert len(whole) == 1 and whole[0]["n"][0] == 8
    assert client.get(f"/sweeps/{body['id']}/groups", params={"by": "model.x"}).status_code == 422


@pytest.mark.parametrize("fail_fast", [False, True])
def test_fail_fast_submitted_over_the_api_cancels_the_rest(client, db, fail_fast):
    from server import lifecycle

    body = post_sweep(client, {"training.lr": "0.1,0.01,0.001"}, fail_fast=fail_fast).json()
    failing, running, queued = body["run_ids"]
    assert client.get(f"/sweeps/{body['id']}").json()["fail_fast"] is fail_fast
    lifecycle.claim(db, run_id=failing, worker="a")
    lifecycle.claim(db, run_id=running, worker="b")
    assert lifecycle.finish(db, run_id=failing, worker="a", status="failed", error="boom")
    statuses = [client.get(f"/runs/{i}").json()["status"] for i in (running, queued)]
    assert statuses == (["running", "cancelled"] if fail_fast else ["running", "queued"])


def test_retry_gives_a_reaped_run_a_fresh_attempt_budget(client, db):
    from server import lifecycle
    from server.models import Run

    run_id = post_sweep(client, {"training.lr": "0.1,0.01"}).json()["run_ids"][0]
    for attempt in range(3):  # two stale heartbeats requeued (counted), then a failure
        assert lifecycle.claim(db, run_id=run_id, worker=f"w{attempt}")
        if attempt < 2:
            assert lifecycle.requeue(db, run_id=run_id, worker=f"w{attempt}", reason="stale",
                                     forgive=False)
    assert lifecycle.finish(db, run_id=run_id, worker="w2", status="failed", error="reaped")
    db.expire_all()
    assert db.get(Run, run_id).attempts == 3
    assert client.post(f"/runs/{run_id}/retry").status_code == 202
    db.expire_all()
    assert db.get(Run, run_id).attempts == 0


def test_alike_members_are_sent_in_packs_of_at_most_pack_size(client, queue):
    params = {"model.model_seed": "0,1,2", "training.lr": [0.1, 0.01], "model.width": "8,16"}
    r = post_sweep(client, {**params, "training.pack_size": "4"})
    assert r.status_code == 201, r.text
    ids = r.json()["run_ids"]
    packs = [args[0] for name, args, _ in queue.sent if name == "liplab.pack"]
    # widths differ in shape: two groups of 6 alike members, each cut into packs of 4 and 2
    assert sorted(len(p) for p in packs) == [2, 2, 4, 4] and sorted(sum(packs, [])) == sorted(ids)
    for pack in packs:
        widths = {client.get(f"/runs/{i}").json()["config"]["model"]["width"] for i in pack}
        assert len(widths) == 1
        assert {client.get(f"/runs/{i}").json()["pack_id"] for i in pack} == {min(pack)}


def test_pack_size_one_sends_every_member_alone(client, queue):
    r = post_sweep(client, {"model.model_seed": "0,1,2", "training.pack_size": "1"})
    ids = r.json()["run_ids"]
    assert [name for name, *_ in queue.sent] == ["liplab.run"] * 3
    assert [client.get(f"/runs/{i}").json()["pack_id"] for i in ids] == [None] * 3
