"""An API per test on a migrated throwaway store, on SQLite and on PostgreSQL (`store` param).

The queue is a recorder, so routes are tested without a broker; `tests/server/test_queue.py`
covers the real Celery client.
"""
from __future__ import annotations

import shutil
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from server.main import create_app
from server.migrate import upgrade
from server.settings import Settings

TABLES = "probe_jobs, artifacts, metric_blocks, metric_points, runs, sweeps, workers"


class RecordingQueue:
    """Stands in for `server.queue.Queue`: remembers what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any], str]] = []

    def enqueue_run(self, run_id: int, queue: str = "gpu") -> None:
        self.sent.append(("liplab.run", [run_id], queue))

    def enqueue_pack(self, run_ids: list[int], queue: str = "gpu") -> None:
        if len(run_ids) == 1:  # as `server.queue.Queue`: a pack of one is an ordinary run
            self.enqueue_run(run_ids[0], queue)
        else:
            self.sent.append(("liplab.pack", [list(run_ids)], queue))

    def enqueue_probe(self, run_id: int, probes: list[str], params: dict, queue: str = "gpu") -> None:
        self.sent.append(("liplab.probe", [run_id, probes, params], queue))

    def ping(self) -> str:
        return "ok"

    def lengths(self) -> dict[str, int]:
        return {"gpu": sum(q == "gpu" for *_, q in self.sent), "cpu": sum(q == "cpu" for *_, q in self.sent)}

    def run_ids(self) -> list[int]:
        """Every run sent, alone or as a member of a pack, in sending order."""
        out: list[int] = []
        for name, args, _ in self.sent:
            out += [args[0]] if name == "liplab.run" else list(args[0]) if name == "liplab.pack" else []
        return out


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated(pg_url):
    upgrade(pg_url)
    return pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path, sqlite_template):
    """A migrated, empty store: a copied SQLite file, or the session's PostgreSQL DB truncated."""
    if request.param == "sqlite":
        path = tmp_path / "liplab.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


def make_settings(url: str, tmp_path, **kw: Any) -> Settings:
    return Settings(home=tmp_path, database_url=url, artifact_dir=tmp_path / "artifacts",
                    sse_poll_s=0.05, **kw)


@pytest.fixture
def queue():
    return RecordingQueue()


@pytest.fixture
def app(store_url, tmp_path, queue):
    app = create_app(make_settings(store_url, tmp_path), queue=queue)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def client(app):
    with TestClient(app, base_url="http://testserver/api/v1") as c:
        yield c


@pytest.fixture
def db(app):
    with app.state.sessionmaker() as session:
        yield session
