"""GET /runs written from rows (server.runs_page): byte for byte what pydantic writes for the ORM
runs, and never a stale run from the memo after a write; on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from server import runs_page
from server.models import Run, Sweep
from server.schemas import RunPublic, RunsPublic

T0 = datetime(2026, 12, 5, 17, 0, 0, 123456, tzinfo=timezone.utc)
ODD_TEXT = "é ü 漢字 🙂 \" \\ / \t\n\r\x00\x01\x1f\x7f \u2028 </script>"


def odd_runs(db) -> None:  # noqa: ANN001
    """Runs whose columns stress the JSON writer: text with quotes, controls and astral
    characters, floats in exponent form, integers past 64 bits, nulls, microsecond times."""
    db.add(Sweep(id=7, name="s", config={}, params={}))
    db.flush()
    db.add_all([
        Run(name="plain", status="queued", config={"model": {"width": 8}}, created_at=T0),
        Run(sweep_id=7, name=ODD_TEXT.replace("\x00", ""), status="failed",
            config={"training": {"lr": 1e-05, "big": 2**70, "neg": -0.0, "tiny": 5e-324,
                                 "third": 1 / 3, "huge": 1.7976931348623157e308},
                    "text": ODD_TEXT.replace("\x00", ""), "list": [1, 2.5, None, True, "x"], "empty": {}},
            overrides={"training.lr": 1e-05}, created_at=T0 + timedelta(seconds=1),
            started_at=T0 + timedelta(seconds=2), finished_at=T0 + timedelta(seconds=3, microseconds=7),
            error=ODD_TEXT.replace("\x00", ""), attempts=3, worker="w0@host", pack_id=12,
            summary={"train_loss": {"last": 0.1 + 0.2, "min": 1e-300, "max": 1e21, "n": 10, "step": 9}},
            tags=["baseline", "a:b"], note=ODD_TEXT.replace("\x00", "")),
    ])
    db.commit()


def oracle(db, **page) -> bytes:  # noqa: ANN001
    """The listing as written before server.runs_page: ORM runs validated into RunsPublic."""
    db.expire_all()  # loaded afresh, as the route did
    runs = db.scalars(select(Run).order_by(Run.id.desc())).all()
    return RunsPublic(items=[RunPublic.model_validate(r) for r in runs], **page).model_dump_json().encode()


def test_the_page_is_pydantics_json_byte_for_byte(client, db):
    odd_runs(db)
    for _ in range(2):  # written on a miss, then from the memo
        r = client.get("/runs", params={"limit": 50})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.content == oracle(db, total=2, estimated=False)
    page = client.get("/runs", params={"limit": 1}).json()
    assert page["total"] == 2 and [x["name"] for x in page["items"]] == [ODD_TEXT.replace("\x00", "")]


def test_a_write_to_any_shown_column_changes_the_answer(client, db):
    odd_runs(db)
    before = client.get("/runs").content
    run = db.get(Run, 2)
    writes = [("status", "running"), ("summary", {"train_loss": {"last": 0.25, "n": 11}}),
              ("note", "changed"), ("tags", ["other"]), ("finished_at", T0 + timedelta(hours=1)),
              ("config", {"model": {"width": 16}}), ("worker", None), ("attempts", 4)]
    for column, value in writes:
        setattr(run, column, value)
        db.commit()
        body = client.get("/runs").content
        assert body == oracle(db, total=2, estimated=False), column
        assert body != before, column
        before = body


def test_filtered_and_ordered_pages_match_the_oracle(client, db):
    odd_runs(db)
    db.add_all([Run(name=f"r{i}", status="succeeded", config={"training": {"lr": lr}}, created_at=T0,
                    summary={"train_loss": {"last": lr * 10}}) for i, lr in enumerate([3e-3, 1e-4, 1e-2])])
    db.commit()
    db.expire_all()
    for order_by, params, expected in [("training.lr", {}, [2, 4, 3, 5, 1]), ("-train_loss", {}, [2, 5, 3, 4, 1]),
                                       ("name", {"where": ["status==succeeded"]}, [3, 4, 5]),
                                       ("-id", {"sweep_id": 7}, [2]), ("name", {"status": "succeeded"}, [3, 4, 5])]:
        r = client.get("/runs", params={"order_by": order_by, "limit": 50, **params})
        runs = [db.get(Run, i) for i in expected]
        assert r.content == RunsPublic(items=[RunPublic.model_validate(x) for x in runs],
                                       total=len(runs)).model_dump_json().encode(), order_by


@pytest.mark.postgres
def test_json_columns_become_text_after_the_page_is_cut(pg_migrated):
    """Cast in the ordered query, PostgreSQL converts every matching run's config to text
    below the sort; the scan of runs must hand the JSON over as it is stored."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.dialects import postgresql

    from server.run_filters import apply_run_order

    ordered = apply_run_order(select(*runs_page.COLUMNS), "training.lr", "last", "postgresql")
    sql = runs_page.page_select(ordered, 50, 0).compile(dialect=postgresql.dialect(),
                                                         compile_kwargs={"literal_binds": True})
    engine = create_engine(pg_migrated)
    with engine.connect() as conn:
        plan = [r[0] for r in conn.execute(text(f"EXPLAIN (VERBOSE) {sql}"))]
    engine.dispose()
    scan = next(i for i, line in enumerate(plan) if "Scan on public.runs" in line)
    output = next(line for line in plan[scan:] if line.strip().startswith("Output:"))
    assert "config" in output and not re.search(r"\((runs\.)?(config|summary)\)::text\b", output), plan
