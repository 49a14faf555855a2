"""GET /runs through server.api.plain_query: the same answers as FastAPI's own parameter
handling (the oracle: the same app with the plain path switched off), and the plain path is
really the one taken for the dashboard's plain pages."""
from __future__ import annotations

import pytest

from server.api import plain_query
from server.models import Run, Sweep

QUERIES = [
    "", "limit=50", "limit=1&offset=1", "offset=2", "limit=1000&offset=1000000000", "sweep_id=7",
    "sweep_id=7&status=failed", "status=queued", "order_by=name", "order_by=-created_at&limit=2",
    "order_by=train_loss&order_stat=min", "order_by=-model.width", "order_by=training.lr",
    "unknown=1&limit=2",
    # left to FastAPI by the parsers: a 422 or a value FastAPI reads its own way
    "limit=0", "limit=1001", "limit=-1", "limit=+5", "limit=%205", "limit=05", "limit=5.0", "limit=",
    "limit=1_0", "limit=99999999999", "offset=1000000001", "sweep_id=2147483648", "status=done",
    "status=", "order_stat=mean", "order_by=", "order_by=%0Aname", "order_by=name%0A", "order_by=a%20b",
    "order_by=nope.key", "limit=2&limit=3", "status=queued&status=failed", "where=status==failed",
    "where=status==failed&where=attempts>0&limit=1",
]


@pytest.fixture
def runs(db):  # noqa: ANN001
    db.add(Sweep(id=7, name="s", config={}, params={}))
    db.flush()
    db.add_all([Run(name=f"r{i}", status=("queued", "failed")[i % 2], sweep_id=7 if i % 3 else None,
                    config={"model": {"width": 8 * i}, "training": {"lr": 10.0 ** -i}}, attempts=i,
                    summary={"train_loss": {"last": 1 / (i + 1), "min": 0.5 / (i + 1), "n": 1}},
                    tags=["baseline"] if i % 2 else [], note="warm" if i == 3 else None)
                for i in range(5)])
    db.commit()


def test_plain_pages_answer_as_fastapi_does(app, client, runs):  # noqa: ANN001
    plain = [(r.status_code, r.content) for r in (client.get(f"/runs?{q}") for q in QUERIES)]
    app.dependency_overrides[object] = object  # any override: every request through FastAPI
    oracle = [(r.status_code, r.content) for r in (client.get(f"/runs?{q}") for q in QUERIES)]
    for q, got, want in zip(QUERIES, plain, oracle):
        assert got == want, q
    assert {s for s, _ in oracle} == {200, 422}


def test_the_plain_path_is_taken_for_plain_pages(client, runs, monkeypatch):  # noqa: ANN001
    taken = []
    real = plain_query.plain_values
    monkeypatch.setattr(plain_query, "plain_values", lambda *a: taken.append(real(*a)) or taken[-1])
    for q in ("limit=50", "limit=2&offset=2&order_by=-id&status=queued&sweep_id=7&order_stat=last",
              "where=status==failed", "limit=2&limit=3"):
        assert client.get(f"/runs?{q}").status_code == 200
    assert [t is not None for t in taken] == [True, True, False, False]
