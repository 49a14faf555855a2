"""Shared test set-up: services found (or skipped with a reason) and a live liplab system.

With CI=true a test that needs PostgreSQL, Redis, a worker or the browser fails when its
service is missing instead of skipping (see `need`).
"""
from __future__ import annotations

import os

import pytest

from tests.services import need, pg_database, redis_database  # noqa: F401
from tests.live import LiveSystem

CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url():
    with redis_database() as url:
        yield url


@pytest.fixture(scope="module")
def embedded_system(tmp_path_factory):
    """API + one real Celery worker on SQLite and the filesystem broker (no external service)."""
    home = tmp_path_factory.mktemp("liplab-home")
    with LiveSystem(home) as system:
        yield system


@pytest.fixture(scope="module")
def lab_system(tmp_path_factory, pg_url, redis_url):
    """API + one real Celery worker on PostgreSQL and Redis."""
    home = tmp_path_factory.mktemp("liplab-lab")
    with LiveSystem(home, database_url=pg_url, broker_url=redis_url) as system:
        yield system
