"""Stores for the worker tests: a fresh SQLite file and (when available) the session's PostgreSQL."""
from __future__ import annotations

import pytest

from server.db import make_engine, make_sessionmaker
from server.models import Base


@pytest.fixture(params=["sqlite", "postgres"])
def sessions(request, tmp_path):
    """A session factory on an empty schema, for each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    Base.metadata.drop_all(engine)
    engine.dispose()
