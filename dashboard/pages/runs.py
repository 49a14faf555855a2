"""`/`: the runs table (filter, sort, only the config keys that vary), sweeps, compare selected."""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dash_table, dcc, html

from dashboard import client
from dashboard.derive import run_rows, summary_keys, varying_keys
from dashboard.localtime import STORE_ID

STATUSES = ["queued", "running", "succeeded", "failed", "diverged", "cancelled"]
METRICS = ["train_loss", "test_loss", "train_acc", "test_acc"]


def layout(**_kw) -> html.Div:
    return html.Div([
        html.H2("Runs"),
        dcc.Interval(id="runs-tick", interval=5000, max_intervals=0),  # re-armed by each answer
        html.Div([
            dcc.Dropdown(id="runs-status", options=STATUSES, multi=False, placeholder="any status"),
            dcc.Input(id="runs-where", placeholder="where, e.g. model.layer==aol; model.depth>2", debounce=True,
                      className="grow"),
            dcc.Input(id="runs-order", placeholder="order by, e.g. -train_loss", debounce=True),
            dcc.Link("compare selected →", id="runs-compare", href="/compare", className="button"),
        ], className="controls"),
        html.Div(id="runs-message", className="error"),
        dash_table.DataTable(id="runs-table", data=[], columns=[], sort_action="native",
                             filter_action="native", row_selectable="multi", page_size=50,
                             markdown_options={"link_target": "_self"},
                             style_table={"overflowX": "auto"}, style_cell={"fontSize": 13}),
        html.H3("Sweeps"),
        dash_table.DataTable(id="runs-sweeps", data=[], page_size=20,
                             markdown_options={"link_target": "_self"},
                             columns=[{"name": "sweep", "id": "link", "presentation": "markdown"},
                                      {"name": "name", "id": "name"}, {"name": "runs", "id": "n_runs"},
                                      {"name": "status", "id": "counts"}]),
    ])


def columns(keys: list[str], metrics: list[str]) -> list[dict]:
    md = {"presentation": "markdown"}
    return ([{"name": "id", "id": "link", **md}, {"name": "name", "id": "name"},
             {"name": "status", "id": "status"}, {"name": "sweep", "id": "sweep", **md}]
            + [{"name": k, "id": k} for k in keys]
            + [{"name": m, "id": m, "type": "numeric"} for m in metrics]
            + [{"name": "created", "id": "created"}])


@callback(Output("runs-table", "data"), Output("runs-table", "columns"),
          Output("runs-message", "children"), Output("runs-tick", "max_intervals"),
          Input("runs-tick", "n_intervals"), Input("runs-status", "value"),
          Input("runs-where", "value"), Input("runs-order", "value"), Input(STORE_ID, "data"))
def refresh(n, status, where, order, tz):  # noqa: ANN001
    try:
        items = client.runs(status=status, where=where, order_by=order, limit=1000)["items"]
        message = ""
    except Exception as e:  # noqa: BLE001 - a bad filter is the user's to fix, say why
        items, message = client.runs(status=status, limit=1000)["items"], f"filter ignored: {e}"
    keys = varying_keys([r["config"] for r in items])
    metrics = [m for m in METRICS if m in summary_keys(items)]
    return run_rows(items, keys, metrics, tz), columns(keys, metrics), message, (n or 0) + 1


@callback(Output("runs-compare", "href"), Input("runs-table", "selected_row_ids"))
def compare_link(selected):  # noqa: ANN001
    ids = [str(i) for i in selected or []]
    return f"/compare?runs={','.join(ids)}" if ids else "/compare"


@callback(Output("runs-sweeps", "data"), Input("runs-tick", "n_intervals"))
def refresh_sweeps(_n):  # noqa: ANN001
    try:
        items = client.sweeps()
    except client.Missing:
        return []
    return [{"link": f"[{s['id']}](/sweeps/{s['id']})", "name": s["name"], "n_runs": s.get("n_runs"),
             "counts": ", ".join(f"{n} {k}" for k, n in sorted((s.get("counts") or {}).items()))}
            for s in items]


def register() -> None:
    dash.register_page(__name__, path="/", name="Runs", layout=layout, order=0)
