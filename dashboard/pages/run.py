"""`/runs/<id>`: a run's curves, status and config, refreshed while it runs."""
from __future__ import annotations

import json

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard import client
from dashboard.figures import curves_figure


def layout(run_id: str | None = None, **_kw) -> html.Div:
    return html.Div([
        dcc.Store(id="run-id", data=run_id),
        dcc.Interval(id="run-tick", interval=2000),
        html.H2(f"Run {run_id}", id="run-title"),
        html.Div(id="run-status"),
        dcc.Graph(id="run-curves"),
        html.Pre(id="run-config"),
    ])


@callback(Output("run-curves", "figure"), Output("run-status", "children"),
          Output("run-config", "children"), Output("run-tick", "disabled"),
          Input("run-tick", "n_intervals"), State("run-id", "data"))
def refresh(_n, run_id):  # noqa: ANN001
    run = client.get(f"/runs/{run_id}")
    series = client.get(f"/runs/{run_id}/metrics", max_points=2000)
    fig = curves_figure(series, [k for k in ("train_loss", "test_loss") if k in series] or None,
                        log_y=True, title=run["name"])
    status = f"status: {run['status']}" + (f" — {run['error']}" if run.get("error") else "")
    done = run["status"] not in ("queued", "running")
    return fig, status, json.dumps(run["config"], indent=2), done


def register() -> None:
    dash.register_page(__name__, path_template="/runs/<run_id>", name="Run", layout=layout)
