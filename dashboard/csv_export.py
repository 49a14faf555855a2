"""`/download/runs.csv?<view>`: the runs table's view in full as CSV, paged over the API.

The same query string as the runs page (dashboard.runs_view), so the page's link downloads
what the table shows, every page of it, with full-precision metrics.
"""
from __future__ import annotations

import httpx
from flask import Flask, Response, request

from dashboard import client, runs_view
from dashboard.derive import summary_keys

MAX_ROWS = 200_000


def view_csv(view: dict) -> str:
    runs: list[dict] = []
    params = runs_view.api_params(view)
    while len(runs) < MAX_ROWS:
        page = client.runs(**params, limit=1000, offset=len(runs))["items"]
        runs += page
        if len(page) < 1000:
            break
    metrics = runs_view.chosen_metrics(view, summary_keys(runs))
    return runs_view.csv_text(runs, runs_view.chosen_keys(view, runs), metrics)


def register(server: Flask) -> None:
    @server.route("/download/runs.csv")
    def runs_csv() -> Response:
        view = runs_view.view_from_query(request.args.to_dict())
        try:
            body = view_csv(view)
        except (ValueError, httpx.HTTPStatusError) as e:  # a column the API cannot sort by, a bad filter
            detail = e.response.text if isinstance(e, httpx.HTTPStatusError) else str(e)
            return Response(f"{detail}\n", status=422, mimetype="text/plain")
        return Response(body, mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=liplab-runs.csv"})
