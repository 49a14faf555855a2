"""PostgreSQL: a `where=KEY==VALUE` filter on config values is answered from the GIN index on
`runs.config` (checked on the plan of the statement the API really sends, on 20,000 runs)."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from lipcore.config import validate
from server.main import create_app
from server.migrate import upgrade
from server.settings import Settings
from tests.reliability.tally import record
from tests.services import pg_database

pytestmark = pytest.mark.postgres
RUNS = 20_000


def copy_runs(url: str, n: int) -> None:
    import psycopg

    base = validate({})
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn, conn.cursor() as cur:
        with cur.copy("COPY runs (name, status, config, overrides, created_at, attempts, summary, "
                      "cancel_requested) FROM STDIN") as copy:
            for i in range(n):
                cfg = {**base, "model": {**base["model"], "width": 8 << (i % 8)},
                       "training": {**base["training"], "lr": [1e-4, 1e-3, 1e-2, 3e-2, 1e-1][i // 8 % 5]}}
                copy.write_row((f"r{i}", "succeeded", json.dumps(cfg), "{}", "2026-01-01 00:00:00+00", 1,
                                json.dumps({"train_loss": {"last": i / n}}), 0))
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("ANALYZE runs")


def test_config_equality_filter_uses_the_gin_index(tmp_path):
    with pg_database() as url:
        upgrade(url)
        copy_runs(url, RUNS)
        app = create_app(Settings(home=tmp_path, database_url=url))
        sent: list[tuple[str, object]] = []

        @event.listens_for(app.state.engine, "before_cursor_execute")
        def _capture(_conn, _cursor, statement, parameters, _context, _many):  # noqa: ANN001
            if "@>" in statement:
                sent.append((statement, parameters))

        with TestClient(app, base_url="http://t/api/v1") as client:
            r = client.get("/runs", params={"where": ["model.width==64", "training.lr==0.01"],
                                            "limit": 1000})
        assert r.status_code == 200
        ids = sorted(run["id"] for run in r.json()["items"])
        assert ids == [i + 1 for i in range(RUNS) if i % 8 == 3 and i // 8 % 5 == 2]
        assert sent, "the equality filter was not sent as containment"
        statement, parameters = sent[0]
        raw = app.state.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("EXPLAIN " + statement, parameters)
            plan = "\n".join(row[0] for row in cur.fetchall())
            with_index = execution_ms(cur, statement, parameters)
            cur.execute("SET enable_bitmapscan = off")  # what the same query costs as a scan
            without = execution_ms(cur, statement, parameters)
        finally:
            raw.close()
        app.state.engine.dispose()
    record("Load", f"PostgreSQL: where=model.width==64&where=training.lr==0.01 over {RUNS:,} runs",
           tried=1, sees=f"answered from the GIN index ix_runs_config_path_ops: {with_index:.1f} ms "
                         f"in PostgreSQL (as a scan: {without:.1f} ms)")
    assert "ix_runs_config_path_ops" in plan, plan


def execution_ms(cur, statement: str, parameters) -> float:  # noqa: ANN001
    """The best of three `EXPLAIN ANALYZE` execution times of the statement, ms."""
    times = []
    for _ in range(3):
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
        times.append(cur.fetchone()[0][0]["Execution Time"])
    return min(times)
