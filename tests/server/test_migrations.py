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


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_upgrade_backfills_summary_counts(kind, tmp_path):
    """0006 gives each summary entry written without `n` the count of its stored points; an
    entry that has `n` keeps it. Counted by hand: 3 points of `a`, 2 of `b`, none of `c`."""
    import json

    from sqlalchemy import text

    old = {"a": {"last": 0.5, "step": 5, "min": 0.5, "max": 0.5},
           "b": {"last": 0.5, "step": 2, "min": 0.5, "max": 0.5, "n": 7},
           "c": {"last": 1.0, "step": 0, "min": 1.0, "max": 1.0}}
    with fresh(kind, tmp_path) as url:
        upgrade(url, "0004_metric_blocks")
        engine = create_engine(url)
        with engine.begin() as c:
            c.execute(text(ONE_RUN.replace("'{}', 0)", f"'{json.dumps(old)}', 0)")))
            c.execute(text(ONE_RUN.replace("(1, 'r'", "(2, 's'")))
            c.execute(text("INSERT INTO metric_points (run_id, key, step, value, seq) VALUES (1, :k, :s, 0.5, :q)"),
                      [{"k": "a", "s": s, "q": q} for q, s in enumerate([1, 3, 5])]
                      + [{"k": "b", "s": s, "q": q} for q, s in enumerate([0, 2])])
        upgrade(url)
        with engine.connect() as c:
            rows = dict(c.execute(text("SELECT id, summary FROM runs ORDER BY id")).all())
        engine.dispose()
    got = {k: json.loads(v) if isinstance(v, str) else v for k, v in rows.items()}
    assert got[1] == {"a": dict(old["a"], n=3), "b": old["b"], "c": dict(old["c"], n=0)}
    assert got[2] == {}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_utc_timestamps_keep_their_instant(kind, tmp_path):
    """Rows written before 0005 (SQLite: zone-less UTC text) read back as the same UTC instant."""
    from datetime import datetime, timezone

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from server.models import Run

    with fresh(kind, tmp_path) as url:
        upgrade(url, "0004_metric_blocks")
        engine = create_engine(url)
        stamp = "2026-12-04 12:52:10.399963" if kind == "sqlite" else "2026-12-04 12:52:10.399963+00"
        with engine.begin() as c:
            c.execute(text(ONE_RUN.replace("CURRENT_TIMESTAMP", f"'{stamp}'")))
        engine.dispose()
        upgrade(url)
        engine = create_engine(url)
        with Session(engine) as db:
            created = db.get(Run, 1).created_at
        if kind == "sqlite":
            with engine.connect() as c:
                assert c.execute(text("SELECT created_at FROM runs")).scalar() == stamp + "+00:00"
        engine.dispose()
        assert created == datetime(2026, 12, 4, 12, 52, 10, 399963, tzinfo=timezone.utc)
        assert created.utcoffset().total_seconds() == 0
        downgrade(url, "0004_metric_blocks")
        upgrade(url)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_points_lose_their_foreign_key_and_keep_their_cascade(kind, tmp_path):
    """0010 drops metric_points → runs (a check per inserted row) for a trigger that deletes a
    run's points with it; every stored point is kept both ways, and the downgrade puts the key
    back (dropping points of no run, which the key could not hold)."""
    from sqlalchemy import text

    def fks(engine) -> list:  # noqa: ANN001
        return [fk["referred_table"] for fk in inspect(engine).get_foreign_keys("metric_points")]

    insert = text("INSERT INTO metric_points (run_id, key, step, value, seq) VALUES (:r, 'x', :s, 0.5, :s)")
    count = text("SELECT run_id, count(*) FROM metric_points GROUP BY run_id ORDER BY run_id")
    with fresh(kind, tmp_path) as url:
        upgrade(url, "0009_run_notes")
        engine = create_engine(url)
        assert fks(engine) == ["runs"]
        with engine.begin() as c:
            for run_id in (1, 2, 3):
                c.execute(text(ONE_RUN.replace("(1, 'r'", f"({run_id}, 'r{run_id}'")))
                c.execute(insert, [{"r": run_id, "s": s} for s in range(5)])
        upgrade(url)
        assert fks(engine) == []
        with engine.begin() as c:
            assert [tuple(r) for r in c.execute(count)] == [(1, 5), (2, 5), (3, 5)]
            c.execute(text("DELETE FROM runs WHERE id = 2"))
            assert [tuple(r) for r in c.execute(count)] == [(1, 5), (3, 5)]
            c.execute(insert, [{"r": 99, "s": 0}])  # a point of no run, written around the API
        downgrade(url, "0009_run_notes")
        engine.dispose()
        engine = create_engine(url)
        assert fks(engine) == ["runs"]
        with engine.connect() as c:
            assert [tuple(r) for r in c.execute(count)] == [(1, 5), (3, 5)]
        engine.dispose()
        upgrade(url)
        assert diffs(url) == []
