"""Finding the test services: PostgreSQL and Redis on 127.0.0.1, skip or fail (CI) if absent."""
from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator

import pytest

CI = os.environ.get("CI") == "true"
PG_ADMIN = os.environ.get("LIPLAB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("LIPLAB_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def need(ok: bool, what: str) -> None:
    """Skip (locally) or fail (CI=true) when a service the test needs is missing."""
    if ok:
        return
    if CI:
        pytest.fail(f"{what} is required in CI but unavailable")
    pytest.skip(f"{what} unavailable")


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text("SELECT 1"))
        ok = True
    except Exception:  # noqa: BLE001
        ok = False
    need(ok, f"PostgreSQL at {PG_ADMIN}")
    name = f"liplab_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def redis_database() -> Iterator[str]:
    import redis

    try:
        client = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
        ok = bool(client.ping())
    except Exception:  # noqa: BLE001
        ok = False
    need(ok, f"Redis at {REDIS}")
    admin = redis.Redis.from_url(f"{REDIS}/0")
    token = uuid.uuid4().hex
    db = next((i for i in range(1, 16)
               if admin.set(f"liplab-test-lock:{i}", token, nx=True, ex=3600)), None)
    need(db is not None, "a free Redis database (1-15) for this test session")
    url = f"{REDIS}/{db}"
    redis.Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()
        if admin.get(f"liplab-test-lock:{db}") == token.encode():
            admin.delete(f"liplab-test-lock:{db}")
