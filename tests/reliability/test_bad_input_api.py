"""Hostile input at the API's edge, on the embedded store: every answer is a 4xx that says what
was wrong (413, 400, 422 naming the field, 404), never a 5xx, and nothing leaks or breaks.

Oversized bodies (with and without Content-Length), deeply nested JSON, non-finite numbers,
wrong types, path traversal to artifact files, SQL injection in filters and ordering, config
values that name files outside the allowed folders, and a script in a run name."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from server.main import create_app
from server.migrate import upgrade
from server.models import Artifact
from server.settings import Settings
from tests.reliability.tally import record
from tests.server.helpers import QUICK, finish

SCRIPT = "<script>alert('x')</script><img src=x onerror=alert(1)>"
answers: dict[str, list[int]] = {}


@pytest.fixture
def api(tmp_path):
    url = f"sqlite:///{tmp_path / 'liplab.db'}"
    upgrade(url)
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    app = create_app(Settings(home=tmp_path, database_url=url, max_body_bytes=64 * 1024))
    with TestClient(app, base_url="http://t/api/v1", raise_server_exceptions=False) as c:
        c.app_ = app
        c.home = tmp_path
        yield c
    app.state.engine.dispose()


def send(api, group: str, method: str, path: str, **kw):  # noqa: ANN001
    r = api.request(method, path, **kw)
    answers.setdefault(group, []).append(r.status_code)
    assert r.status_code < 500, (path, r.status_code, r.text[:500])
    return r


def raw(api, group: str, body: str):  # noqa: ANN001
    return send(api, group, "POST", "/runs", content=body, headers={"content-type": "application/json"})


def locs(r) -> list[str]:  # noqa: ANN001
    return [".".join(str(p) for p in d["loc"]) for d in r.json()["detail"]]


def test_oversized_bodies_and_configs_are_413(api):
    big = json.dumps({"config": {**QUICK, "name": "x" * 70_000}})
    assert raw(api, "oversized body or config", big).status_code == 413
    chunks = (big[i:i + 4096].encode() for i in range(0, len(big), 4096))  # no Content-Length
    r = send(api, "oversized body or config", "POST", "/runs", content=chunks,
             headers={"content-type": "application/json"})
    assert r.status_code == 413 and "LIPLAB_MAX_BODY_BYTES" in r.text
    params = {"training.lr": ",".join(["0.001"] * 20_000)}
    r = send(api, "oversized body or config", "POST", "/sweeps", json={"config": QUICK, "params": params})
    assert r.status_code == 413


def test_deeply_nested_json_is_refused(api):
    for depth in (1_000, 10_000):  # both under the 64 KiB limit: the parser meets them
        body = '{"config": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
        assert raw(api, "deeply nested JSON", body).status_code in (400, 413, 422)
        body = '{"config": {"name": ' + "[" * depth + "]" * depth + "}}"
        assert raw(api, "deeply nested JSON", body).status_code in (400, 413, 422)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_422_naming_the_field(api, number):
    r = raw(api, "non-finite numbers", '{"config": {"training": {"lr": %s}}}' % number)
    assert r.status_code == 422 and locs(r) == ["body.config.training.lr"], r.text


@pytest.mark.parametrize(("body", "field"), [
    ({"config": {"training": {"lr": "fast"}}}, "body.config.training.lr"),
    ({"config": {"model": {"width": [1, 2]}}}, "body.config.model.width"),
    ({"config": {"training": {"epochs": 2.5}}}, "body.config.training.epochs"),
    ({"config": QUICK, "name": 5}, "body.name"),
    ({"config": "not a mapping"}, "body.config"),
    ({"config": {"model": {"depth": "two"}}}, "body.config.model.depth"),
])
def test_wrong_types_are_422_naming_the_field(api, body, field):
    r = send(api, "wrong types", "POST", "/runs", json=body)
    assert r.status_code == 422 and field in locs(r), r.text


def test_artifact_paths_outside_the_artifact_folder_are_never_served(api):
    run_id = send(api, "path traversal in artifact names", "POST", "/runs", json={"config": QUICK}).json()["id"]
    secret = api.home / "secret.txt"
    secret.write_text("the database password")
    arts = api.home / "artifacts"
    arts.mkdir(exist_ok=True)
    (arts / "link").symlink_to(secret)
    names = ["../secret.txt", str(secret), str(arts / ".." / "secret.txt"), str(arts / "link"),
             "/etc/passwd", "artifacts/../../../../etc/passwd", str(arts) + "/../secret.txt\x00.png"]
    with api.app_.state.sessionmaker() as db:
        ids = []
        for i, path in enumerate(names):
            art = Artifact(run_id=run_id, name=path, path=path.replace("\x00", ""), kind="file")
            db.add(art)
            db.flush()
            ids.append(art.id)
        db.commit()
    for art_id in ids:
        r = send(api, "path traversal in artifact names", "GET", f"/artifacts/{art_id}")
        assert r.status_code == 404 and "password" not in r.text and "root:" not in r.text
    assert send(api, "path traversal in artifact names", "GET",
                "/artifacts/..%2F..%2Fetc%2Fpasswd").status_code in (404, 422)


INJECTIONS = ["model.layer==aol' OR '1'='1", "model.layer==aol\" OR 1=1 --", "training.lr<0 OR 1=1",
              "model.layer==x'); DROP TABLE runs; --", "name==x", "1=1", "model.width==1 UNION SELECT 1",
              "data.root==null) OR (1=1"]
ORDERS = ["id; DROP TABLE runs", "train_loss') --", "-id DESC, (SELECT 1)", "1", "(select 1)",
          "train_loss;DELETE FROM runs", "name COLLATE nocase"]


def test_sql_injection_in_filters_and_ordering_changes_nothing(api):
    db = api.app_.state.sessionmaker()
    ids = [send(api, "SQL injection in where= / order_by=", "POST", "/runs",
                json={"config": {**QUICK, "training": {**QUICK["training"], "lr": lr}}}).json()["id"]
           for lr in (0.1, 0.1, 0.01)]
    for i in ids:
        finish(db, i, points=[("train_loss", 0, float(i))])
    db.close()
    for where in INJECTIONS:
        r = send(api, "SQL injection in where= / order_by=", "GET", "/runs", params={"where": where})
        assert r.status_code == 422 or r.json()["total"] == 0, (where, r.text)
    for order in ORDERS:
        r = send(api, "SQL injection in where= / order_by=", "GET", "/runs", params={"order_by": order})
        assert (locs(r) == ["query.order_by"] if r.status_code == 422  # "1": a metric nobody logs
                else r.json()["total"] == 3), (order, r.text)
    assert send(api, "SQL injection in where= / order_by=", "GET", "/runs").json()["total"] == 3


def test_config_paths_outside_the_allowed_folders_are_422_naming_the_key(api):
    ok = str(api.home / "data" / "mnist")
    cfg = {**QUICK, "data": {**QUICK["data"], "root": ok}}
    assert send(api, "config values naming files", "POST", "/runs", json={"config": cfg}).status_code == 201
    for root in ("/etc", str(api.home / "data" / ".." / ".."), "data/mnist", "~/.ssh"):
        cfg = {**QUICK, "data": {**QUICK["data"], "root": root}}
        r = send(api, "config values naming files", "POST", "/runs", json={"config": cfg})
        assert r.status_code == 422 and locs(r) == ["body.config.data.root"], r.text
    r = send(api, "config values naming files", "POST", "/sweeps",
             json={"config": QUICK, "params": {"data.root": f"{ok},/etc"}})
    assert r.status_code == 422 and locs(r) == ["body.params.data.root"], r.text
    probe = {**QUICK, "probes": [{"name": "connectivity", "other": "/root/run"}]}
    r = send(api, "config values naming files", "POST", "/runs", json={"config": probe})
    assert r.status_code == 422 and locs(r) == ["body.config.probes.0.other"], r.text
    run_id = send(api, "config values naming files", "POST", "/runs", json={"config": QUICK}).json()["id"]
    with api.app_.state.sessionmaker() as db:
        finish(db, run_id)
    body = {"probes": ["connectivity"], "params": {"connectivity": {"other": "/etc/shadow"}}}
    r = send(api, "config values naming files", "POST", f"/runs/{run_id}/probes", json=body)
    assert r.status_code == 422 and locs(r) == ["body.params.connectivity.other"], r.text


def find(component, wanted: str):  # noqa: ANN001
    """The component with id `wanted` anywhere in a Dash layout tree (None if absent)."""
    if getattr(component, "id", None) == wanted:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if child is not None and not isinstance(child, (str, int, float)):
            found = find(child, wanted)
            if found is not None:
                return found
    return None


def test_a_script_in_a_run_name_is_stored_and_shown_as_text(api, monkeypatch):
    from dashboard import client
    from dashboard.pages import run as run_page
    from dashboard.pages import runs as runs_page

    r = send(api, "script in a run name", "POST", "/runs", json={"config": QUICK, "name": SCRIPT})
    stored = send(api, "script in a run name", "GET", f"/runs/{r.json()['id']}").json()
    assert stored["name"] == SCRIPT  # kept as the user wrote it; escaping is the page's job
    monkeypatch.setattr(client, "runs", lambda **_kw: {"items": [stored], "total": 1})
    monkeypatch.setattr(client, "run", lambda _rid: stored)
    rows, columns = runs_page.refresh(0, None, None, None, None, None, 0, "UTC", None)[:2]
    shown = [c for c in columns if any(SCRIPT in str(row.get(c["id"], "")) for row in rows)]
    # a DataTable cell is text unless its column is markdown (and markdown renders no HTML here)
    assert shown and all(c.get("presentation") != "markdown" for c in shown)
    table = find(runs_page.layout(), "runs-table")
    assert not table.markdown_options.get("html")
    import flask

    with flask.Flask(__name__).test_request_context("/"):  # load() names the dashboard's own URL
        title = run_page.load(stored["id"])[2]
    assert isinstance(title, str) and SCRIPT in title  # the children of an H2: a text node


def test_zz_record():
    for group, codes in sorted(answers.items()):
        record("Bad input", group, tried=len(codes), five_xx=sum(c >= 500 for c in codes),
               sees=SEES[group])
    assert answers and all(c < 500 for codes in answers.values() for c in codes)


SEES = {
    "oversized body or config": "413 'request body larger than N bytes (LIPLAB_MAX_BODY_BYTES)'",
    "deeply nested JSON": "400 (the body is not parsed) or 413",
    "non-finite numbers": "422 naming training.lr: 'must be finite'",
    "wrong types": "422 naming the field",
    "path traversal in artifact names": "404 'has no file under the artifact folder'",
    "SQL injection in where= / order_by=": "422 naming where / order_by, or an empty page; the table intact",
    "config values naming files": "422 naming data.root / probes.N.other: outside LIPLAB_DATA_ROOTS",
    "script in a run name": "the name as text in the runs table and the run page title",
}
