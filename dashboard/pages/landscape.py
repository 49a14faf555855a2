"""`/runs/<id>/landscape`: the run's probe results — interpolation, slices, Hessian spectrum,
sharpness, connectivity and PCA — one graph per figure, plus the raw results of other probes."""
from __future__ import annotations

import json

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import client
from dashboard.figures import LANDSCAPE_FIGURES, landscape_figures


def layout(run_id: str | None = None, **_kw) -> html.Div:
    return html.Div([
        dcc.Store(id="landscape-id", data=run_id),
        html.H2(f"Run {run_id}: landscape and probes"),
        dcc.Link("← run", href=f"/runs/{run_id}"),
        html.Div(id="landscape-message", className="error"),
        dcc.Loading(html.Div(id="landscape-graphs")),
        html.H3("Other probe results"),
        html.Pre(id="landscape-other"),
    ])


@callback(Output("landscape-graphs", "children"), Output("landscape-message", "children"),
          Output("landscape-other", "children"), Input("landscape-id", "data"))
def load(run_id):  # noqa: ANN001
    try:
        results = client.probes(run_id)
    except client.Missing as e:
        return [], str(e), ""
    figures = landscape_figures(results)
    graphs = [dcc.Graph(id=f"landscape-{name}-{i}", figure=fig, className="landscape-graph")
              for i, (name, fig) in enumerate(figures)]
    other = {k: v for k, v in results.items() if k not in LANDSCAPE_FIGURES}
    message = "" if results else "no probe results yet: add `probes:` to the config"
    return graphs, message, json.dumps(other, indent=1)[:20000] if other else ""


def register() -> None:
    dash.register_page(__name__, path_template="/runs/<run_id>/landscape", name="Landscape",
                       layout=layout, order=1)
