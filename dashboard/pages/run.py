"""`/runs/<id>`: live curves (incremental polling), Lyapunov spectrum, status, config, artifacts.

The first draw fetches each chosen metric downsampled; every tick then asks only for points
after the last plotted step (`?after=`) and appends them with a `Patch`, so a long run never
re-sends its history. The interval stops once the run has ended.
"""
from __future__ import annotations

import dash
import yaml
from dash import Input, Output, Patch, State, callback, dcc, html, no_update

from dashboard import client
from dashboard.figures import curves_figure, ema, lyapunov_figure, new_points
from dashboard.figures.curves import curve_trace, last_finite

MAX_POINTS = 2000
ACTIVE = ("queued", "running")
DEFAULT_KEYS = ("train_loss", "test_loss")


def layout(run_id: str | None = None, **_kw) -> html.Div:
    return html.Div([
        dcc.Store(id="run-id", data=run_id),
        dcc.Store(id="run-plotted"),
        dcc.Interval(id="run-tick", interval=1500),
        html.H2(f"Run {run_id}", id="run-title"),
        html.Div([html.Span(id="run-status", className="status"),
                  dcc.Link("landscape & probes →", href=f"/runs/{run_id}/landscape")],
                 className="row"),
        html.Pre(id="run-error", className="error"),
        html.Div([
            dcc.Dropdown(id="run-keys", multi=True, placeholder="metrics", className="grow"),
            dcc.Checklist(id="run-log", options=[{"label": " log y", "value": "log"}], value=["log"]),
            html.Label(["EMA ", dcc.Slider(id="run-ema", min=0, max=0.99, step=0.01, value=0,
                                           marks={0: "0", 0.9: "0.9", 0.99: ".99"})],
                       className="slider"),
        ], className="controls"),
        dcc.Graph(id="run-curves"),
        dcc.Graph(id="run-lyapunov"),
        html.Div([html.Div([html.H3("Config"), html.Pre(id="run-config")], className="half"),
                  html.Div([html.H3("Artifacts"), html.Ul(id="run-artifacts")], className="half")],
                 className="row"),
    ])


def status_line(run: dict) -> str:
    parts = [f"status: {run['status']}"]
    if run.get("worker"):
        parts.append(f"worker {run['worker']}")
    if run.get("sweep_id"):
        parts.append(f"sweep {run['sweep_id']}")
    return " · ".join(parts)


@callback(Output("run-keys", "options"), Output("run-keys", "value"), Output("run-title", "children"),
          Output("run-config", "children"), Input("run-id", "data"))
def load(run_id):  # noqa: ANN001
    run = client.run(run_id)
    keys = sorted(run.get("summary") or {})
    chosen = [k for k in DEFAULT_KEYS if k in keys] or keys[:2]
    return (keys, chosen, f"Run {run_id}: {run['name']}",
            yaml.safe_dump(run["config"], sort_keys=False))


@callback(Output("run-curves", "figure"), Output("run-plotted", "data"),
          Input("run-keys", "value"), Input("run-log", "value"), Input("run-ema", "value"),
          State("run-id", "data"))
def draw(keys, log, smoothing, run_id):  # noqa: ANN001
    """The whole figure, downsampled: on load and whenever the choice of metrics changes."""
    keys = keys or []
    series = client.metrics(run_id, keys=keys, max_points=MAX_POINTS) if keys else {}
    fig = curves_figure(series, keys, log_y="log" in (log or []), smoothing=smoothing or 0)
    plotted = [k for k in keys if k in series]
    state = {"keys": plotted, "smoothing": smoothing or 0,
             "last": {k: series[k]["step"][-1] for k in plotted},
             "ema": {k: last_finite(ema(series[k]["value"], smoothing)) if smoothing else None
                     for k in plotted}}
    return fig, state


def fetch_new(run_id, keys: list[str], last: dict[str, int]) -> dict:  # noqa: ANN001
    """Points past the plotted ones: `after=min(last step)` for plotted keys, all for new keys."""
    plotted, unseen = [k for k in keys if k in last], [k for k in keys if k not in last]
    out = {}
    if plotted:
        out.update(client.metrics(run_id, keys=plotted, after=min(last[k] for k in plotted)))
    if unseen:
        out.update(client.metrics(run_id, keys=unseen, max_points=MAX_POINTS))
    return out


@callback(Output("run-curves", "figure", allow_duplicate=True),
          Output("run-plotted", "data", allow_duplicate=True),
          Output("run-status", "children"), Output("run-error", "children"),
          Output("run-tick", "disabled"), Output("run-lyapunov", "figure"),
          Output("run-artifacts", "children"),
          Input("run-tick", "n_intervals"), State("run-id", "data"), State("run-plotted", "data"),
          State("run-keys", "value"), prevent_initial_call="initial_duplicate")
def poll(_n, run_id, state, keys):  # noqa: ANN001
    """Append only the new points; stop polling after the tick that saw the run end."""
    run = client.run(run_id)  # status first: points written before the end are then all in
    done = run["status"] not in ACTIVE
    patch, new_state = no_update, no_update
    if state and keys:
        fresh = new_points(fetch_new(run_id, keys, state["last"]), state["last"])
        if fresh:
            patch, new_state = Patch(), dict(state, last=dict(state["last"]), ema=dict(state["ema"]),
                                             keys=list(state["keys"]))
            if not state["keys"]:  # the first points: drop the "waiting" note
                patch["layout"]["annotations"] = []
            for key, s in fresh.items():
                y = s["value"]
                if state["smoothing"]:
                    y = ema(y, state["smoothing"], new_state["ema"].get(key))
                    new_state["ema"][key] = last_finite(y) or new_state["ema"].get(key)
                if key in new_state["keys"]:
                    i = new_state["keys"].index(key)
                    patch["data"][i]["x"].extend(s["step"])
                    patch["data"][i]["y"].extend(y)
                else:
                    patch["data"].append(curve_trace(key, s["step"], s["value"], state["smoothing"]))
                    new_state["keys"].append(key)
                new_state["last"][key] = s["step"][-1]
    try:
        arts = [html.Li(f"{a.get('kind', '')}: {a['name']} — {a.get('path', '')}")
                for a in client.artifacts(run_id)] or [html.Li("none yet")]
    except client.Missing as e:
        arts = [html.Li(str(e))]
    return (patch, new_state, status_line(run), run.get("error") or "", done,
            lyapunov_figure(run.get("summary") or {}), arts)


def register() -> None:
    dash.register_page(__name__, path_template="/runs/<run_id>", name="Run", layout=layout, order=2)
