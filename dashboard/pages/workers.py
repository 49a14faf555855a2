"""`/workers`: health of the database, the broker and each worker; queue lengths; runs by status."""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dash_table, dcc, html

from dashboard import client
from dashboard.localtime import STORE_ID, local_time
from dashboard.figures import queues_figure, status_counts_figure

STATUSES = ["queued", "running", "succeeded", "failed", "diverged", "cancelled"]


def layout(**_kw) -> html.Div:
    return html.Div([
        html.H2("Workers and services"),
        dcc.Interval(id="workers-tick", interval=3000, max_intervals=0),  # re-armed by each answer
        html.Div(id="workers-services", className="row"),
        html.Div(id="workers-empty"),
        dash_table.DataTable(id="workers-table", data=[], columns=[
            {"name": c, "id": c} for c in ("name", "alive", "queues", "current_run", "last_seen")]),
        html.Div([dcc.Graph(id="workers-queues", className="half"),
                  dcc.Graph(id="workers-runs", className="half")], className="row"),
    ])


def badge(name: str, state: str, ok: bool | None = None) -> html.Div:
    ok = state == "ok" if ok is None else ok
    return html.Div([html.B(name), html.Span(state)], className="card ok" if ok else "card bad",
                    id=f"workers-{name}")


@callback(Output("workers-services", "children"), Output("workers-table", "data"),
          Output("workers-queues", "figure"), Output("workers-runs", "figure"),
          Output("workers-tick", "max_intervals"), Output("workers-empty", "children"),
          Input("workers-tick", "n_intervals"), Input(STORE_ID, "data"))
def refresh(n, tz):  # noqa: ANN001
    h = client.health()
    workers = [{**w, "alive": "yes" if w.get("alive") else "no",
                "last_seen": local_time(w.get("last_seen"), tz)} for w in h.get("workers", [])]
    alive = sum(w.get("alive") == "yes" for w in workers)
    cards = [badge("database", h["database"]), badge("broker", h["broker"]),
             badge("workers", f"{alive} of {len(workers)} alive", alive > 0)]
    counts = h.get("runs") or {s: client.runs(status=s, limit=1)["total"] for s in STATUSES}
    queues = {q: n for q, n in (h.get("queues") or {}).items() if n is not None}
    if not queues:  # the broker cannot say: the queued runs are what waits
        queues = {"queued runs": counts.get("queued", 0)}
    return (cards, workers, queues_figure(queues), status_counts_figure(counts), (n or 0) + 1,
            [] if alive else no_worker())


def no_worker() -> html.Div:
    """No live worker: queued runs wait until one is started."""
    return html.Div([html.P("No worker is alive, so queued runs wait. Start one with the API's "
                            "LIPLAB_HOME (or its LIPLAB_DATABASE_URL and LIPLAB_BROKER_URL):"),
                     html.Pre("liplab worker"),
                     html.P("(`liplab up` starts the API, a worker and this dashboard together.)")],
                    className="empty")


def register() -> None:
    dash.register_page(__name__, path="/workers", name="Workers", layout=layout, order=6)
