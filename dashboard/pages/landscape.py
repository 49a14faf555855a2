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
        html.Div(id="landscape-empty"),
        dcc.Loading(html.Div(id="landscape-graphs")),
        html.Div([html.H3("Other probe results"), html.Pre(id="landscape-other")],
                 id="landscape-other-box", style={"display": "none"}),
    ])


def no_probes(run_id: str) -> html.Div:
    """How to get probe results for this run: ask the API, or list them in the config."""
    body = '{"probes": ["interpolation", "slice_1d", "hessian"]}'
    return html.Div([
        html.P("No probe results for this run yet. Ask for probes of a finished run:"),
        html.Pre(f"curl -X POST {client.base_url()}/api/v1/runs/{run_id}/probes "
                 f"-H 'content-type: application/json' -d '{body}'"),
        html.P(["or list them under ", html.Code("probes:"), " in the config before submitting "
                "(the probe names and their parameters are in docs/probes.md)."]),
    ], className="empty")


@callback(Output("landscape-graphs", "children"), Output("landscape-message", "children"),
          Output("landscape-other", "children"), Output("landscape-other-box", "style"),
          Output("landscape-empty", "children"), Input("landscape-id", "data"))
def load(run_id):  # noqa: ANN001
    hidden = {"display": "none"}
    try:
        results = client.probes(run_id)
    except client.Missing as e:
        return [], str(e), "", hidden, []
    figures = landscape_figures(results)
    graphs = [dcc.Graph(id=f"landscape-{name}-{i}", figure=fig, className="landscape-graph")
              for i, (name, fig) in enumerate(figures)]
    other = {k: v for k, v in results.items() if k not in LANDSCAPE_FIGURES}
    return (graphs, "", json.dumps(other, indent=1)[:20000] if other else "", {} if other else hidden,
            [] if results else no_probes(run_id))


def register() -> None:
    dash.register_page(__name__, path_template="/runs/<run_id>/landscape", name="Landscape",
                       layout=layout, order=1)
