"""`/`: the runs table."""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dash_table, dcc, html

from dashboard import client

COLUMNS = ["id", "name", "status", "train_loss", "created_at"]


def layout(**_kw) -> html.Div:
    return html.Div([
        html.H2("Runs"),
        dcc.Interval(id="runs-tick", interval=3000),
        dash_table.DataTable(id="runs-table",
                             columns=[{"name": c, "id": c, "presentation": "markdown"} if c == "id"
                                      else {"name": c, "id": c} for c in COLUMNS],
                             data=[], sort_action="native", filter_action="native",
                             page_size=50, markdown_options={"link_target": "_self"}),
    ])


def rows() -> list[dict]:
    items = client.get("/runs", limit=500)["items"]
    out = []
    for r in items:
        loss = (r["summary"].get("train_loss") or {}).get("last")
        out.append({"id": f"[{r['id']}](/runs/{r['id']})", "name": r["name"], "status": r["status"],
                    "train_loss": None if loss is None else round(loss, 6),
                    "created_at": r["created_at"][:19]})
    return out


@callback(Output("runs-table", "data"), Input("runs-tick", "n_intervals"))
def refresh(_n):  # noqa: ANN001
    return rows()


def register() -> None:
    dash.register_page(__name__, path="/", name="Runs", layout=layout)
