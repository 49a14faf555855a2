"""`/runs/<id>`: live curves (incremental polling), Lyapunov spectrum, status, config, artifacts.

The first draw fetches each chosen metric downsampled; every tick then asks only for points
after the last plotted step (`?after=`) and appends them with a `Patch`, so a long run never
re-sends its history. The interval stops once the run has ended.
"""
from __future__ import annotations

import dash
import flask
from dash import Input, Output, Patch, State, callback, dcc, html, no_update

from dashboard import client, rerun
from dashboard.derive import LOSS_KEYS
from dashboard.figures import curves_figure, ema, lyapunov_figure, new_points
from dashboard.figures.curves import curve_trace, last_finite

MAX_POINTS = 2000
ACTIVE = ("queued", "running")


def default_keys(keys: list[str], config: dict) -> list[str]:
    """The curves drawn first: train and test loss — each side's (`a/…`, `b/…`) in a comparative
    run, which logs no plain names — even before the run has logged them; else its first two."""
    sides = [f"{s}/" for s in ("a", "b") if config.get(f"model_{s}") is not None]
    wanted = [p + k for p in (sides or [""]) for k in LOSS_KEYS]
    return [k for k in wanted if k in keys or not keys] or keys[:2]


def layout(run_id: str | None = None, **_kw) -> html.Div:
    return html.Div([
        dcc.Store(id="run-id", data=run_id),
        dcc.Store(id="run-plotted"),
        dcc.Interval(id="run-tick", interval=1000, max_intervals=0),
        html.H2(f"Run {run_id}", id="run-title"),
        html.Div([html.Span(id="run-status", className="status"),
                  dcc.Link("landscape & probes →", href=f"/runs/{run_id}/landscape"),
                  dcc.Link("re-run with changes →", id="run-rerun", href=f"/submit?run={run_id}"),
                  html.Details([html.Summary(["copy as CLI ", dcc.Clipboard(target_id="run-cli",
                                                                            title="copy")]),
                                html.Pre(id="run-cli")], className="cli")],
                 className="row"),
        html.Div(id="run-error", className="error"),
        html.Div([
            dcc.Input(id="run-tags", placeholder="tags, comma-separated (baseline, lr-sweep)", className="grow"),
            dcc.Textarea(id="run-note", placeholder="note", className="note"),
            html.Button("save tags & note", id="run-notes-save", className="button"),
            html.Span(id="run-notes-result"),
        ], className="controls"),
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
    if run.get("pack_id"):
        parts.append(f"trained in pack {run['pack_id']}")
    return " · ".join(parts)


@callback(Output("run-keys", "options"), Output("run-keys", "value"), Output("run-title", "children"),
          Output("run-config", "children"), Output("run-tags", "value"), Output("run-note", "value"),
          Output("run-cli", "children"), Input("run-id", "data"))
def load(run_id):  # noqa: ANN001
    """Title, config and the metrics drawn first (train and test loss, even before they exist)."""
    run = client.run(run_id)
    keys = sorted(run.get("summary") or {})
    chosen = default_keys(keys, run.get("config") or {})
    return (sorted(set(keys) | set(chosen)), chosen, f"Run {run_id}: {run['name']}",
            rerun.config_yaml(run), ", ".join(run.get("tags") or []), run.get("note") or "",
            rerun.cli_command(run, f"{flask.request.host_url}files/runs/{run_id}/config.yaml"))


def error_view(error: str | None) -> list:
    """The one-line reason, with the whole error and its traceback folded under it."""
    parts = rerun.error_parts(error)
    if parts is None:
        return []
    reason, full = parts
    return [html.Details([html.Summary(reason), html.Pre(full)], id="run-error-details")]


def artifact_view(artifacts: list[dict]) -> list:
    """Pictures shown inline, every other file (checkpoints too) a download link."""
    if not artifacts:
        return [html.Li("none yet: checkpoints, figures and probe results appear here as the run writes them")]
    items = []
    for a in artifacts:
        href = f"/files/artifacts/{a['id']}"
        link = html.A(f"{a.get('kind', '')}: {a['name']}", href=href, download="")
        items.append(html.Li([link, html.Br(), html.Img(src=href, alt=a["name"], className="artifact-image")]
                             if rerun.is_image(a) else [link]))
    return items


@callback(Output("run-notes-result", "children"), Input("run-notes-save", "n_clicks"),
          State("run-id", "data"), State("run-tags", "value"), State("run-note", "value"),
          prevent_initial_call=True)
def save_notes(_n, run_id, tags, note):  # noqa: ANN001
    """PATCH the run's tags and note; the API's 422 message when a tag is not allowed."""
    tag_list = [t.strip() for t in (tags or "").split(",") if t.strip()]
    r = client.edit_notes(run_id, tags=tag_list, note=note or "")
    if r.status_code == 200:
        return "saved"
    detail = r.json().get("detail")
    return f"not saved: {'; '.join(d.get('msg', '') for d in detail) if isinstance(detail, list) else detail}"


def full_draw(run_id, keys: list[str], log: bool, smoothing: float) -> tuple:  # noqa: ANN001
    """The whole figure, downsampled, and what it holds: on load and when the controls change."""
    series = client.metrics(run_id, keys=keys, max_points=MAX_POINTS) if keys else {}
    fig = curves_figure(series, keys, log_y=log, smoothing=smoothing)
    plotted = [k for k in keys if k in series]
    state = {"keys": plotted, "smoothing": smoothing, "log": log,
             "last": {k: series[k]["step"][-1] for k in plotted},
             "ema": {k: last_finite(ema(series[k]["value"], smoothing)) if smoothing else None
                     for k in plotted}}
    return fig, state


def append_new(run_id, keys: list[str], state: dict) -> tuple:  # noqa: ANN001
    """A Patch that extends each trace with the points past its last step (new keys: new traces)."""
    fresh = new_points(fetch_new(run_id, keys, state["last"]), state["last"])
    if not fresh:
        return no_update, no_update
    patch = Patch()
    new = dict(state, last=dict(state["last"]), ema=dict(state["ema"]), keys=list(state["keys"]))
    if not state["keys"]:  # the first points: drop the "waiting" note
        patch["layout"]["annotations"] = []
    for key, s in fresh.items():
        y = s["value"]
        if state["smoothing"]:
            y = ema(y, state["smoothing"], new["ema"].get(key))
            new["ema"][key] = last_finite(y) or new["ema"].get(key)
        if key in new["keys"]:
            i = new["keys"].index(key)
            patch["data"][i]["x"].extend(s["step"])
            patch["data"][i]["y"].extend(y)
        else:
            patch["data"].append(curve_trace(key, s["step"], s["value"], state["smoothing"], len(new["keys"])))
            new["keys"].append(key)
        new["last"][key] = s["step"][-1]
    return patch, new


def fetch_new(run_id, keys: list[str], last: dict[str, int]) -> dict:  # noqa: ANN001
    """Points past the plotted ones: `after=min(last step)` for plotted keys, all for new keys."""
    plotted, unseen = [k for k in keys if k in last], [k for k in keys if k not in last]
    out = {}
    if plotted:
        out.update(client.metrics(run_id, keys=plotted, after=min(last[k] for k in plotted)))
    if unseen:
        out.update(client.metrics(run_id, keys=unseen, max_points=MAX_POINTS))
    return out


@callback(Output("run-curves", "figure"), Output("run-plotted", "data"),
          Output("run-status", "children"), Output("run-error", "children"),
          Output("run-tick", "max_intervals"), Output("run-lyapunov", "figure"),
          Output("run-lyapunov", "style"), Output("run-artifacts", "children"),
          Output("run-keys", "options", allow_duplicate=True), Input("run-tick", "n_intervals"), Input("run-keys", "value"), Input("run-log", "value"),
          Input("run-ema", "value"), State("run-id", "data"), State("run-plotted", "data"),
          prevent_initial_call=True)  # first fired by `load` choosing the metrics
def refresh(_n, keys, log, smoothing, run_id, state):  # noqa: ANN001
    """One callback owns the figure, so a redraw and an append never race each other.

    A tick appends only the new points; a change of metrics, scale or smoothing redraws.
    The status is read before the points, so the tick that sees the run end has all its points
    and turns the interval off. Each answer re-arms the interval for one more tick
    (`max_intervals = n + 1`), so a slow API is never asked again before it has answered.
    """
    run = client.run(run_id)
    done = run["status"] not in ACTIVE
    keys = keys or []
    if dash.ctx.triggered_id == "run-tick" and state is not None and set(state["keys"]) == {
            k for k in keys if k in state["last"]} and state["smoothing"] == (smoothing or 0) \
            and state.get("log") == ("log" in (log or [])):
        fig, state = append_new(run_id, keys, state)
    else:
        fig, state = full_draw(run_id, keys, "log" in (log or []), smoothing or 0)
    try:
        arts = artifact_view(client.artifacts(run_id))
    except client.Missing as e:
        arts = [html.Li(str(e))]
    spectrum = lyapunov_figure(run.get("summary") or {})
    n = _n or 0
    return (fig, state, status_line(run), error_view(run.get("error")), n if done else n + 1, spectrum,
            {} if spectrum.data else {"display": "none"}, arts,
            sorted(set(run.get("summary") or {}) | set(keys)))


def register() -> None:
    dash.register_page(__name__, path_template="/runs/<run_id>", name="Run", layout=layout, order=2)
