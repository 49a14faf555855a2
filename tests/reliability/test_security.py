"""Access control and secrets: with a token every API route and every dashboard request needs
it; CORS is closed unless configured; neither the token nor the database password appears in a
log or an answer; checkpoints a user can point at are read with `weights_only=True`."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from server.main import create_app
from server.migrate import upgrade
from server.settings import Settings
from tests.reliability.tally import record
from tests.server.helpers import QUICK

TOKEN = "Tok-S3cret-99-liplab"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'liplab.db'}"
    upgrade(url)
    return url


#: public on purpose: an editor's YAML language server fetches the config schema without a token,
#: and it holds nothing but the registered names.
PUBLIC = {("GET", "/api/v1/schema/config.json")}


def api_routes(app) -> list[tuple[str, str]]:  # noqa: ANN001
    """(method, path with every id 1) of each operation in the OpenAPI document, less PUBLIC."""
    return [(method.upper(), re.sub(r"\{[^}]+\}", "1", path))
            for path, ops in app.openapi()["paths"].items() for method in ops
            if (method.upper(), path) not in PUBLIC]


def test_every_api_route_needs_the_token(store, tmp_path):
    app = create_app(Settings(home=tmp_path, database_url=store, api_token=TOKEN, sse_poll_s=0.05))
    routes = api_routes(app)
    answers = []
    with TestClient(app, raise_server_exceptions=False) as c:
        good = {"Authorization": f"Bearer {TOKEN}"}
        run = c.post("/api/v1/runs", json={"config": QUICK}, headers=good)
        assert run.status_code == 201
        c.post(f"/api/v1/runs/{run.json()['id']}/cancel", headers=good)
        for method, path in routes:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                r = c.request(method, path, headers=headers, json={})
                answers.append(r.status_code)
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert TOKEN not in r.text
            if path.endswith("/events"):  # a live stream: the status line is enough
                with c.stream(method, path, headers=good) as r:
                    answers.append(r.status_code)
                    assert r.status_code != 401 and r.status_code < 500
                continue
            r = c.request(method, path, headers=good, json={})
            answers.append(r.status_code)
            assert r.status_code != 401 and r.status_code < 500, (method, path, r.status_code, r.text)
    assert len(routes) >= 20  # every route of the API, reads and writes
    record("Security", f"API requests without / with a wrong token ({len(routes)} routes)",
           tried=len(answers), five_xx=sum(c >= 500 for c in answers),
           sees="401 'a valid bearer token is required' on every route, /health and SSE included")


def test_cors_is_closed_by_default_and_opens_only_for_configured_origins(store, tmp_path):
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"}
    app = create_app(Settings(home=tmp_path, database_url=store))
    with TestClient(app) as c:
        r = c.options("/api/v1/runs", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-origin" not in c.get("/api/v1/runs", headers={"Origin": "http://evil.example"}).headers
    app = create_app(Settings(home=tmp_path, database_url=store, cors_origins="http://lab.example, http://b.example"))
    with TestClient(app) as c:
        r = c.options("/api/v1/runs", headers={**preflight, "Origin": "http://lab.example"})
        assert r.headers["access-control-allow-origin"] == "http://lab.example"
        r = c.options("/api/v1/runs", headers=preflight)
        assert r.headers.get("access-control-allow-origin") != "http://evil.example"
    record("Security", "cross-origin requests (CORS)", tried=4,
           sees="no Access-Control-Allow-Origin unless LIPLAB_CORS_ORIGINS names the origin")


def test_the_dashboard_needs_the_token_for_pages_assets_and_callbacks():
    from dashboard.app import create_app as dashboard_app
    from dashboard.auth import COOKIE

    server = dashboard_app("http://127.0.0.1:9", TOKEN).server
    c = server.test_client()
    tried = 0
    for path in ("/", "/runs/1", "/compare", "/workers", "/assets/style.css", "/_dash-layout",
                 "/_dash-dependencies"):
        r = c.get(path)
        tried += 1
        assert r.status_code in (302, 401), path
        assert r.status_code == 401 or r.headers["Location"].startswith("/login"), path
    assert c.post("/_dash-update-component", json={}).status_code == 401
    assert c.post("/login", data={"token": "wrong"}).status_code == 401
    r = c.post("/login", data={"token": TOKEN, "next": "//evil.example/x"})
    assert r.status_code == 302 and r.headers["Location"] == "/"  # no open redirect
    cookie = c.get_cookie(COOKIE)
    assert cookie is not None and TOKEN not in cookie.value and cookie.http_only
    assert c.get("/_dash-layout").status_code == 200 and c.get("/").status_code == 200
    fresh = server.test_client()
    assert fresh.get("/_dash-layout", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    record("Security", "dashboard requests without signing in", tried=tried + 2,
           sees="pages redirect to /login, callbacks and assets 401; the session cookie holds an "
                "HMAC of the token, HttpOnly, SameSite=Strict")


def test_no_secret_in_logs_or_answers(tmp_path):
    from tests.live import LiveSystem
    from tests.services import pg_database

    password = "Pw-S3cret-42-liplab"
    with pg_database() as url:
        secret_url = url.replace("postgresql+psycopg://postgres@", f"postgresql+psycopg://postgres:{password}@")
        system = LiveSystem(tmp_path, database_url=secret_url)
        system.env["LIPLAB_API_TOKEN"] = TOKEN
        bodies = []
        with system:
            out = subprocess.run([sys.executable, "-m", "liplab.cli", "db", "upgrade"], env=system.env,
                                 capture_output=True, text=True, check=True)
            bodies.append(out.stdout + out.stderr)
            c = system.client
            run_id = c.post("/runs", json={"config": QUICK}).json()["id"]
            bad = {**QUICK, "data": {**QUICK["data"], "name": "mnist", "root": str(tmp_path / "data")}}
            (tmp_path / "data").mkdir()
            failing = c.post("/runs", json={"config": bad}).json()["id"]
            system.wait_run(run_id)
            system.wait_run(failing)
            for r in (c.get(f"/runs/{failing}"), c.get("/runs"), c.get("/health"),
                      c.post("/runs", json={"config": {"training": {"lr": "x"}}}),
                      c.get("/runs", params={"where": "nope==1"}),
                      c.get("/runs", headers={"Authorization": "Bearer nope"}),
                      c.get("/openapi.json"), c.get("/runs/1/metrics", params={"keys": "'; --"})):
                bodies.append(r.text)
            assert c.get(f"/runs/{failing}").json()["status"] == "failed"
        logs = [p.read_text(errors="replace") for p in tmp_path.glob("*.log")]
    leaks = [t for t in bodies + logs if TOKEN in t or password in t]
    record("Security", "secrets (API token, database password) in logs and answers",
           tried=len(bodies) + len(logs), sees="neither appears: URLs are printed with *** for the password")
    assert logs and not leaks, leaks[0][:2000] if leaks else ""


def test_checkpoints_are_read_with_weights_only(tmp_path):
    loads = []
    for folder in ("lipcore", "server", "worker", "dashboard", "liplab"):
        for path in (ROOT / folder).rglob("*.py"):
            for line in path.read_text().splitlines():
                if "torch.load(" in line:
                    loads.append((path, line))
    assert loads and all("weights_only=True" in line for _, line in loads), loads

    class Payload:
        def __reduce__(self):  # noqa: ANN204 - what a hostile checkpoint would run on load
            return (Path.write_text, (tmp_path / "owned", "code ran"))

    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    torch.save({"step": 1, "model": Payload()}, run / "step_00000001.pt")
    from lipcore.training.checkpoints import load

    with pytest.raises(ValueError, match="not a plain checkpoint"):
        load(run)
    from lipcore.saved import load_run

    with pytest.raises(ValueError):
        load_run(run / "step_00000001.pt", config={**QUICK})
    assert not (tmp_path / "owned").exists()
    record("Security", "a hostile checkpoint given as resume_from or a probe's saved run", tried=2,
           sees="ValueError 'not a plain checkpoint'; nothing in it runs")


def test_the_compose_deployment_keeps_the_stores_private_and_passworded():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("postgres", "redis"):
        assert "ports" not in services[name] and services[name].get("network_mode") != "host", name
    text = (ROOT / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD: liplab" not in text
    assert "${POSTGRES_PASSWORD:?" in text and "--requirepass" in text
    env = compose["x-env"]
    assert "${POSTGRES_PASSWORD:?" in env["LIPLAB_DATABASE_URL"]
    assert "${REDIS_PASSWORD:?" in env["LIPLAB_BROKER_URL"]
