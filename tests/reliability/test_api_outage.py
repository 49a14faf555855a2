"""The API while its database is away: reads wait for it, then 503 with Retry-After, never 500.

The store is a PostgreSQL URL on a port where nothing listens, or a private PostgreSQL cluster
stopped and started again, so the errors are the driver's own."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError

from server.main import create_app
from server.migrate import upgrade
from server.outage import store_unavailable
from server.settings import Settings
from tests.live import free_port
from tests.reliability.stores import PostgresCluster


def app_on(url: str, **settings) -> TestClient:
    return TestClient(create_app(Settings(database_url=url, **settings)))


def test_a_read_with_the_database_away_is_503_with_retry_after_after_waiting():
    client = app_on(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none", store_wait_s=2.0)
    t0 = time.monotonic()
    r = client.get("/api/v1/runs")
    assert r.status_code == 503 and int(r.headers["retry-after"]) > 0, r.text
    assert 1.0 <= time.monotonic() - t0 < 10  # it waited for the store, then gave up
    assert "database" in r.json()["detail"]


def test_a_write_with_the_database_away_is_503_at_once():
    client = app_on(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none", store_wait_s=30.0)
    t0 = time.monotonic()
    r = client.post("/api/v1/runs/1/cancel")
    assert r.status_code == 503 and "retry-after" in r.headers
    assert time.monotonic() - t0 < 10


@pytest.mark.postgres
def test_a_read_during_a_postgres_restart_waits_and_answers_200():
    pg = PostgresCluster().init()
    try:
        upgrade(pg.url)
        client = app_on(pg.url, store_wait_s=10.0)
        assert client.get("/api/v1/runs").status_code == 200  # a pooled connection to kill
        pg.stop("immediate")
        threading.Timer(1.5, pg.start).start()
        t0 = time.monotonic()
        r = client.get("/api/v1/runs")
        assert r.status_code == 200, r.text
        assert time.monotonic() - t0 >= 1.0  # it did meet the outage
        r = client.post("/api/v1/runs/999999/cancel")
        assert r.status_code == 404  # writes work again too
    finally:
        time.sleep(0.1)
        pg.destroy()


def test_only_outages_count_as_the_store_being_away():
    refused = OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert store_unavailable(refused)
    assert not store_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not store_unavailable(ValueError("bad"))
    locked = OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    bad_sql = OperationalError("SELEC", {}, sqlite3.OperationalError('near "SELEC": syntax error'))
    assert store_unavailable(locked) and not store_unavailable(bad_sql)
