"""Alembic migrations: upgrade from empty, match the models exactly, downgrade and upgrade again,
on SQLite (batch mode) and PostgreSQL (JSONB)."""
from __future__ import annotations

import contextlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from server.migrate import downgrade, upgrade
from server.models import Base
from tests.services import pg_database


@contextlib.contextmanager
def fresh(kind: str, tmp_path):  # noqa: ANN001
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
    else:
        with pg_database() as url:
            yield url


def diffs(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as c:
        out = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    return out


def columns(url: str, table: str) -> dict[str, str]:
    engine = create_engine(url)
    cols = {c["name"]: str(c["type"]) for c in inspect(engine).get_columns(table)}
    engine.dispose()
    return cols


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_round_trip_and_models_match(kind, tmp_path):
    with fresh(kind, tmp_path) as url:
        upgrade(url)
        assert diffs(url) == []
        cols = columns(url, "runs")
        assert "config_hash" in cols
        if kind == "postgres":
            assert cols["config"] == "JSONB" and columns(url, "sweeps")["params"] == "JSONB"
        downgrade(url, "0001")
        assert "config_hash" not in columns(url, "runs")
        if kind == "postgres":
            assert columns(url, "runs")["config"] == "JSON"
        downgrade(url, "base")
        engine = create_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        upgrade(url)
        assert diffs(url) == []
