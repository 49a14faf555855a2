"""`/sweeps`: every sweep with its size, runs by status, best value of a chosen metric and
creation time; studies (sweeps of `liplab study`) are marked."""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dash_table, dcc, html

from dashboard import client, sweeps_view

METRICS = ["test_acc", "train_acc", "test_loss", "train_loss"]
PAGE_SIZE = 25


def layout(metric: str = "test_loss", **_kw) -> html.Div:
    return html.Div([
        html.H2("Sweeps"),
        html.Div([html.Label(["best ", dcc.Dropdown(id="sweeps-metric", options=METRICS, value=metric,
                                                    clearable=False)]),
                  html.Span("(lowest min of a loss, highest max of an accuracy)")], className="controls"),
        html.Div(id="sweeps-empty"),
        dash_table.DataTable(
            id="sweeps-table", data=[], page_action="custom", page_current=0, page_size=PAGE_SIZE,
            markdown_options={"link_target": "_self"}, style_cell={"fontSize": 13},
            columns=[{"name": "sweep", "id": "link", "presentation": "markdown"}, {"name": "name", "id": "name"},
                     {"name": "study", "id": "study"}, {"name": "runs", "id": "n_runs", "type": "numeric"},
                     {"name": "status", "id": "counts"}, {"name": "best", "id": "best", "type": "numeric"},
                     {"name": "best run", "id": "best_run", "presentation": "markdown"},
                     {"name": "created", "id": "created"}]),
    ])


def no_sweeps() -> html.Div:
    return html.Div([html.P("No sweeps yet. A sweep is a config with lists of values; submit one with"),
                     html.Pre(f"LIPLAB_URL={client.base_url()} liplab submit configs/quickstart.yaml "
                              "training.lr=0.001,0.01 model.width=16,32"),
                     html.P(["or run a study: ", html.Code("liplab study configs/studies/001_deep_linear.yaml --wait"),
                             ", or give overrides on the ", dcc.Link("submit page", href="/submit"), "."])],
                    className="empty")


@callback(Output("sweeps-table", "data"), Output("sweeps-table", "page_count"),
          Output("sweeps-empty", "children"), Input("sweeps-metric", "value"),
          Input("sweeps-table", "page_current"))
def refresh(metric, page):  # noqa: ANN001
    """One page of sweeps, each with its best run found by the API (one ordered query per sweep)."""
    data = client.get("/sweeps", limit=PAGE_SIZE, offset=(page or 0) * PAGE_SIZE)
    rows = []
    for s in data["items"]:
        best = client.runs(sweep_id=s["id"], limit=1, **sweeps_view.best_order(metric))["items"]
        rows.append(sweeps_view.sweep_row(s, best[0] if best else None, metric))
    pages = max(1, -(-data["total"] // PAGE_SIZE))
    return rows, pages, [] if data["total"] else no_sweeps()


def register() -> None:
    dash.register_page(__name__, path="/sweeps", name="Sweeps", layout=layout, order=3)
