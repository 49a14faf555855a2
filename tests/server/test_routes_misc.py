"""/compare, /validate, probes and artifacts, /health, auth and body limits, on both stores."""
from __future__ import annotations

import json

import pytest

from fastapi.testclient import TestClient

from server.main import create_app
from tests.server.conftest import make_settings
from tests.server.helpers import QUICK, finish


def test_compare_follows_the_asked_order(client, db):
    a = client.post("/runs", json={"name": "a", "config": QUICK}).json()["id"]
    b = client.post("/runs", json={"name": "b", "config": QUICK}).json()["id"]
    finish(db, a, points=[("test_acc", 0, 0.5), ("test_acc", 1, 0.9), ("train_loss", 1, 0.1)])
    finish(db, b, points=[("test_acc", 0, 0.7)])
    got = client.get("/compare", params={"run_ids": f"{b},{a}", "metrics": "test_acc,train_loss"}).json()
    assert got["runs"] == [
        {"id": b, "label": "b", "status": "succeeded", "values": {"test_acc": 0.7, "train_loss": None}},
        {"id": a, "label": "a", "status": "succeeded", "values": {"test_acc": 0.9, "train_loss": 0.1}}]
    mins = client.get("/compare", params={"run_ids": f"{a}", "metrics": "test_acc", "stat": "min"}).json()
    assert mins["runs"][0]["values"] == {"test_acc": 0.5}
    assert client.get("/compare", params={"run_ids": f"{a},999"}).status_code == 404
    assert client.get("/compare", params={"run_ids": "x"}).status_code == 422
    assert client.get("/compare").status_code == 422


def test_validate_reports_keys_and_sweep_size(client, queue):
    ok = client.post("/validate", json={"config": QUICK, "params": {"model.width": "8,16", "training.lr": "0.1,0.2"}})
    assert ok.status_code == 200 and ok.json()["valid"] and ok.json()["n_runs"] == 4
    bad = client.post("/validate", json={"config": {"training": {"lr": "fast"}}}).json()
    assert not bad["valid"] and bad["issues"][0]["key"] == "training.lr"
    swept = client.post("/validate", json={"config": QUICK, "params": {"model.depth": "0,1"}}).json()
    assert not swept["valid"] and swept["issues"][0]["key"] == "model.depth" and swept["n_runs"] == 2
    zipped = client.post("/validate", json={"config": QUICK, "params": {"a.b": "1,2", "c.d": "1"},
                                            "zip": [["a.b", "c.d"]]}).json()
    assert not zipped["valid"] and zipped["issues"][0]["key"] == "a.b"
    listed = client.post("/validate", json={"config": QUICK, "params": {"training.metrics": "[weight_norm]",
                                                                        "training.lr": "0.1,0.2"}}).json()
    assert listed["valid"] and listed["n_runs"] == 2  # an inline list is one value, not an axis
    broken = client.post("/validate", json={"config": QUICK, "params": {"training.metrics": "[weight_norm"}})
    assert broken.status_code == 200 and broken.json()["issues"][0]["key"] == "training.metrics"
    assert queue.sent == []


def test_probes_are_jobs_with_results_as_artifacts(client, db, queue, app, monkeypatch):
    from lipcore import catalog
    from server import probes

    monkeypatch.setattr(catalog, "PROBES", ["hessian", "sharpness"])
    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    assert client.post(f"/runs/{run_id}/probes", json={"probes": ["hessian"]}).status_code == 409
    finish(db, run_id)
    r = client.post(f"/runs/{run_id}/probes", json={"probes": ["nope"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "probes", 0]
    r = client.post(f"/runs/{run_id}/probes", json={"probes": ["hessian", "sharpness"], "params": {"k": 3}})
    assert r.status_code == 202 and r.json()["status"] == "queued"
    assert queue.sent[-1] == ("liplab.probe", [run_id, ["hessian", "sharpness"], {"k": 3}], "cpu")
    root = app.state.settings.artifacts
    probes.store_probe_result(db, run_id, "hessian", {"eigenvalues": [3.0, float("nan")]}, artifact_dir=root)
    got = client.get(f"/runs/{run_id}/probes").json()
    assert got["jobs"][0]["status"] == "running"
    assert got["results"] == {"hessian": {"eigenvalues": [3.0, None]}}
    probes.store_probe_result(db, run_id, "sharpness", {"value": 1.5}, artifact_dir=root)
    got = client.get(f"/runs/{run_id}/probes").json()
    assert got["jobs"][0]["status"] == "succeeded" and got["results"]["sharpness"] == {"value": 1.5}
    arts = client.get(f"/runs/{run_id}/artifacts").json()
    assert [a["name"] for a in arts] == ["hessian", "sharpness"] and arts[0]["kind"] == "probe"
    file = client.get(f"/artifacts/{arts[1]['id']}")
    assert file.status_code == 200 and json.loads(file.content) == {"value": 1.5}
    client.post(f"/runs/{run_id}/probes", json={"probes": ["hessian"]})
    probes.fail_probe_jobs(db, run_id, "boom")
    assert client.get(f"/runs/{run_id}/probes").json()["jobs"][1]["status"] == "failed"
    assert client.get("/artifacts/999").status_code == 404


def test_artifact_outside_the_artifact_folder_is_not_served(client, db, tmp_path):
    from server.models import Artifact

    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    db.add(Artifact(run_id=run_id, name="evil", kind="file", path=str(secret)))
    db.commit()
    art = client.get(f"/runs/{run_id}/artifacts").json()[0]
    assert client.get(f"/artifacts/{art['id']}").status_code == 404


def test_health_reports_database_broker_workers_and_queues(client, db):
    from server.models import Worker, utcnow

    db.add(Worker(name="w1", queues="cpu,gpu", started_at=utcnow(), last_seen=utcnow()))
    db.commit()
    client.post("/runs", json={"config": QUICK})
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["database"] == "ok" and h["broker"] == "ok"
    assert h["workers"][0]["name"] == "w1" and h["workers"][0]["alive"]
    assert h["queues"] == {"gpu": 0, "cpu": 1} and h["runs"] == {"queued": 1}
    assert h["dashboard_url"].startswith("http")  # what `liplab submit` and `liplab open` print


def test_writes_need_the_bearer_token(store_url, tmp_path, queue):
    app = create_app(make_settings(store_url, tmp_path, api_token="s3cret"), queue=queue)
    with TestClient(app, base_url="http://t/api/v1") as c:
        assert c.post("/runs", json={"config": QUICK}).status_code == 401
        assert c.post("/runs", json={"config": QUICK},
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/sweeps/1/cancel").status_code == 401
        r = c.post("/runs", json={"config": QUICK}, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 201
        assert c.get("/runs").status_code == 200  # reads stay open by default
    app.state.engine.dispose()
    app = create_app(make_settings(store_url, tmp_path, api_token="s3cret", reads_need_token=True), queue=queue)
    with TestClient(app, base_url="http://t/api/v1") as c:
        assert c.get("/runs").status_code == 401
        assert c.get("/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    app.state.engine.dispose()


def test_oversized_bodies_are_413(store_url, tmp_path, queue):
    app = create_app(make_settings(store_url, tmp_path, max_body_bytes=1000), queue=queue)
    with TestClient(app, base_url="http://t/api/v1") as c:
        big = {"config": QUICK, "name": "x" * 150, "params": {"training.lr": [0.1] * 400}}
        assert c.post("/sweeps", json=big).status_code == 413
        chunked = c.post("/runs", content=iter([b'{"config": {"name": "' + b"y" * 2000 + b'"}}']),
                         headers={"content-type": "application/json"})
        assert chunked.status_code == 413
        assert c.post("/runs", json={"config": QUICK}).status_code == 201
        small_chunked = c.post("/runs", content=iter([json.dumps({"config": QUICK}).encode()]),
                               headers={"content-type": "application/json"})
        assert small_chunked.status_code == 201
    assert queue.sent and len(queue.sent) == 2
    app.state.engine.dispose()


ROUTES = ["/runs", "/runs/{run_id}", "/sweeps", "/sweeps/{sweep_id}", "/compare", "/health", "/validate", "/runs/{run_id}/events",
          "/sweeps/{sweep_id}/events", "/sweeps/{sweep_id}/grid", "/sweeps/{sweep_id}/params",
          "/sweeps/{sweep_id}/groups", "/sweeps/{sweep_id}/cancel", "/sweeps/{sweep_id}/retry-failed",
          "/runs/{run_id}/probes", "/runs/{run_id}/artifacts", "/artifacts/{artifact_id}",
          "/runs/{run_id}/metrics", "/runs/{run_id}/cancel", "/runs/{run_id}/retry",
          "/schema/config.json"]


def test_every_route_is_in_the_openapi_docs(tmp_path, sqlite_template, queue):
    import shutil

    shutil.copy(sqlite_template, tmp_path / "x.db")
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path), queue=queue)
    with TestClient(app) as c:
        spec = c.get("/openapi.json").json()
        assert c.get("/docs").status_code == 200
    assert set(spec["paths"]) == {f"/api/v1{p}" for p in ROUTES}
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert op.get("description") or op.get("summary"), path
    app.state.engine.dispose()


def test_an_empty_submission_is_a_422_naming_config(client):
    for path in ("/runs", "/sweeps"):
        r = client.post(path, json={})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "config"], path


def test_timestamps_are_served_in_utc_with_an_offset(client):
    from datetime import datetime, timezone

    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    created = client.get(f"/runs/{run_id}").json()["created_at"]
    stamp = datetime.fromisoformat(created)
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0, created
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 600


def test_the_config_schema_is_served_and_used_for_config_fields(client):
    schema = client.get("/schema/config.json").json()
    assert schema["$schema"].startswith("http://json-schema.org/draft-07")
    assert "aol" in schema["properties"]["model"]["properties"]["layer"]["enum"]
    spec = client.app.openapi()
    assert spec["components"]["schemas"]["RunCreate"]["properties"]["config"]["$ref"] == \
        "#/components/schemas/ExperimentConfig"


@pytest.mark.parametrize(("name", "media"), [("step_3.pt", "application/octet-stream"),
                                             ("loss.png", "image/png"), ("r.json", "application/json"),
                                             ("config.yaml", "application/yaml"),
                                             ("odd.weird", "application/octet-stream")])
def test_artifacts_are_served_with_their_true_media_type(client, db, app, name, media):
    from server.models import Artifact

    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    path = app.state.settings.artifacts / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    art = Artifact(run_id=run_id, name=name, kind="file", path=str(path))
    db.add(art)
    db.commit()
    r = client.get(f"/artifacts/{art.id}")
    assert r.status_code == 200 and r.headers["content-type"].split(";")[0] == media


def test_the_bearer_scheme_appears_only_with_a_token(tmp_path, sqlite_template, queue):
    import shutil

    for token, expect in ((None, False), ("s3cret", True)):
        shutil.copy(sqlite_template, tmp_path / "t.db")
        app = create_app(make_settings(f"sqlite:///{tmp_path / 't.db'}", tmp_path, api_token=token),
                         queue=queue)
        spec = app.openapi()
        post = spec["paths"]["/api/v1/runs"]["post"]
        assert ("bearer" in spec["components"].get("securitySchemes", {})) is expect
        assert ("security" in post, "401" in post["responses"]) == (expect, expect)
        assert "security" not in spec["paths"]["/api/v1/runs"]["get"]
        app.state.engine.dispose()
