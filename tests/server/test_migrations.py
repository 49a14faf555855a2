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


# Run 1, inserted as the schema of 0001-0003 has it (no models: they follow the newest schema).
ONE_RUN = ("INSERT INTO runs (id, name, status, config, overrides, created_at, attempts, summary, "
           "cancel_requested) VALUES (1, 'r', 'succeeded', '{}', '{}', CURRENT_TIMESTAMP, 1, '{}', 0)")


def diffs(url: str) -> list:
    engine = create_engine(url)
    dialect = engine.dialect.name

    def on_this_dialect(obj, _name, _type, _reflected, _compare_to) -> bool:  # noqa: ANN001
        only = getattr(obj, "_ddl_if", None)  # Index(...).ddl_if(dialect=...): absent elsewhere
        return only is None or only.dialect in (None, dialect)

    with engine.connect() as c:
        ctx = MigrationContext.configure(c, opts={"compare_type": True, "include_object": on_this_dialect})
        out = compare_metadata(ctx, Base.metadata)
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


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_upgrade_numbers_existing_points(kind, tmp_path):
    from sqlalchemy import text

    with fresh(kind, tmp_path) as url:
        upgrade(url, "0001")
        engine = create_engine(url)
        with engine.begin() as c:
            c.execute(text(ONE_RUN))
            for key, steps in (("a", [5, 1, 3]), ("b", [2, 0])):
                for s in steps:
                    c.execute(text("INSERT INTO metric_points (run_id, key, step, value) "
                                   "VALUES (1, :k, :s, 0.5)"), {"k": key, "s": s})
        upgrade(url)
        with engine.connect() as c:
            rows = c.execute(text("SELECT key, step, seq FROM metric_points ORDER BY key, step")).all()
        engine.dispose()
        assert [tuple(r) for r in rows] == [("a", 1, 0), ("a", 3, 1), ("a", 5, 2), ("b", 0, 0), ("b", 2, 1)]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_upgrade_backfills_metric_blocks(kind, tmp_path):
    """0004 summarises existing points per block: checked against the rows themselves."""
    from sqlalchemy import text

    from server.blocks import BLOCK

    values = [((i * 37) % 101) / 7 for i in range(BLOCK + 10)]
    values[3] = None  # a non-finite point (stored NULL)
    with fresh(kind, tmp_path) as url:
        upgrade(url, "0003_sweep_fail_fast")
        engine = create_engine(url)
        with engine.begin() as c:
            c.execute(text(ONE_RUN))
            c.execute(text("INSERT INTO metric_points (run_id, key, step, value, seq) VALUES (1, 'x', :s, :v, :q)"),
                      [{"s": 2 * i, "v": v, "q": i} for i, v in enumerate(values)])
        upgrade(url)
        with engine.connect() as c:
            got = c.execute(text("SELECT block, n, first_step, last_step, min_value, min_step, max_value, max_step "
                                 "FROM metric_blocks ORDER BY block")).all()
        downgrade(url, "0003_sweep_fail_fast")
        engine.dispose()
    for b, row in enumerate(got):
        idx = range(b * BLOCK, min(len(values), (b + 1) * BLOCK))
        fin = [i for i in idx if values[i] is not None]
        lo, hi = min(fin, key=lambda i: (values[i], i)), min(fin, key=lambda i: (-values[i], i))
        assert tuple(row) == (b, len(idx), 2 * idx[0], 2 * idx[-1], values[lo], 2 * lo, values[hi], 2 * hi)
    assert len(got) == 2
