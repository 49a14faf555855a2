"""The runs table's view: URL round trip, API parameters, rows and CSV, on hand-made runs."""
from __future__ import annotations

import csv
import io

import pytest

from dashboard import runs_view

RUN = {"id": 7, "name": "quick", "status": "succeeded", "sweep_id": 3, "tags": ["base", "lr"],
       "note": "warm, up", "config": {"model": {"depth": 2, "blocks": [1, 2]}, "name": "quick"},
       "created_at": "2026-12-01T09:00:00Z", "started_at": "2026-12-01T09:00:05.5Z",
       "finished_at": "2026-12-01T09:02:10Z", "attempts": 1, "worker": "w0@h",
       "summary": {"test_acc": {"last": 0.8, "min": 0.1, "max": 0.912345678}}}


def test_a_view_survives_the_query_string():
    view = {"status": "failed", "where": "model.depth>2; note~a&b", "sort": "-test_acc:max",
            "metrics": ["test_acc:max", "lyapunov/0:last"], "keys": ["model.depth"], "page": 3}
    query = runs_view.view_to_query(view)
    assert query.startswith("?status=failed&where=model.depth%3E2%3B+note~a%26b")
    from urllib.parse import parse_qsl
    assert runs_view.view_from_query(dict(parse_qsl(query[1:]))) == view
    default = runs_view.view_from_query({})
    assert default == {"status": None, "where": "", "sort": "", "metrics": None, "keys": None, "page": 0}
    assert runs_view.view_to_query(default) == ""
    assert runs_view.view_from_query({"page": "x"})["page"] == 0


@pytest.mark.parametrize("sort,want", [
    ("-test_acc:max", {"order_by": "-test_acc", "order_stat": "max"}),
    ("lyapunov/0:last", {"order_by": "lyapunov/0", "order_stat": "last"}),
    ("created", {"order_by": "created_at"}), ("-link", {"order_by": "-id"}),
    ("model.width", {"order_by": "model.width"}), ("-duration", {"order_by": "-duration"}), ("", {}),
])
def test_sort_columns_map_to_the_api_order(sort, want):
    assert runs_view.order_params(sort) == want


@pytest.mark.parametrize("sort", ["tags", "-note"])
def test_columns_the_api_cannot_order_are_refused(sort):
    with pytest.raises(ValueError, match=sort.lstrip("-")):
        runs_view.order_params(sort)


def test_rows_show_times_duration_tags_and_metric_stats():
    row = runs_view.table_rows([RUN], ["model.depth", "model.blocks"], ["test_acc:max", "test_acc:min"])[0]
    assert row["duration"] == 124.5  # 09:00:05.5 → 09:02:10
    assert row["created"] == "2026-12-01 09:00:00 UTC" and row["tags"] == "base, lr"
    assert runs_view.table_rows([RUN], [], [], "Europe/Berlin")[0]["created"] == "2026-12-01 10:00:00 CET"
    assert row["test_acc:max"] == 0.912346 and row["test_acc:min"] == 0.1
    assert row["model.depth"] == 2 and row["model.blocks"] == "[1, 2]"
    assert runs_view.duration_s({**RUN, "finished_at": None}) is None


def test_csv_holds_full_precision_and_quotes_commas():
    text = runs_view.csv_text([RUN], ["model.depth"], ["test_acc:max", "train_loss:last"])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:8] == ["id", "name", "status", "sweep_id", "tags", "note", "test_acc:max", "train_loss:last"]
    assert rows[1][:8] == ["7", "quick", "succeeded", "3", "base lr", "warm, up", "0.912345678", ""]
    assert rows[1][8] == "2" and rows[1][12] == "124.5"


def test_default_metrics_are_the_logged_losses_and_accuracies():
    assert runs_view.chosen_metrics({"metrics": None}, ["test_acc", "x"]) == ["test_acc:last"]
    assert runs_view.chosen_metrics({"metrics": ["x:min"]}, ["test_acc"]) == ["x:min"]


def test_csv_route_pages_through_the_api_and_names_a_bad_filter(monkeypatch):
    import httpx
    from flask import Flask

    from dashboard import client, csv_export

    runs = [{**RUN, "id": i} for i in range(1, 1501)]
    asked = []

    def listing(limit, offset, **params):  # noqa: ANN001
        asked.append((params, offset))
        if params.get("where") == "bad":
            request = httpx.Request("GET", "http://api/runs")
            raise httpx.HTTPStatusError("422", request=request, response=httpx.Response(
                422, request=request, text='{"detail":[{"loc":["query","where"],"msg":"bad: not KEY OP VALUE"}]}'))
        return {"items": runs[offset:offset + limit], "total": len(runs)}

    monkeypatch.setattr(client, "runs", listing)
    server = Flask(__name__)
    csv_export.register(server)
    web = server.test_client()
    r = web.get("/download/runs.csv?sort=-test_acc:max&metrics=test_acc:max")
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert r.status_code == 200 and len(rows) == 1 + 1500 and rows[1500][0] == "1500"
    assert [o for _, o in asked] == [0, 1000]  # two pages of the API's 1000
    assert asked[0][0] == {"status": None, "where": None, "order_by": "-test_acc", "order_stat": "max"}
    bad = web.get("/download/runs.csv?where=bad")
    assert bad.status_code == 422 and "not KEY OP VALUE" in bad.get_data(as_text=True)
    assert web.get("/download/runs.csv?sort=tags").status_code == 422
