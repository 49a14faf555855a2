"""`/sweeps/<id>`: grid heatmap with success/failure overlay, grouped mean ± band curves,
parallel coordinates, and the retry-failed / cancel buttons."""
from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import client, reports, sweeps_view
from dashboard.derive import LOSS_KEYS, flatten, summary_keys
from dashboard.figures import empty_figure, grouped_figure, heatmap_figure, parallel_figure
from dashboard.figures.health import status_counts_figure

AGGS = ["min", "max", "last", "mean"]


def layout(sweep_id: str | None = None, **_kw) -> html.Div:
    return html.Div([
        dcc.Store(id="sweep-id", data=sweep_id),
        dcc.Interval(id="sweep-tick", interval=3000, max_intervals=0),  # re-armed by each answer
        html.H2(f"Sweep {sweep_id}", id="sweep-title"),
        html.Div([html.Span(id="sweep-counts", className="status"),
                  html.Button("retry failed", id="sweep-retry", className="button"),
                  html.Button("cancel", id="sweep-cancel", className="button danger"),
                  html.Span(id="sweep-action")], className="row"),
        html.Div([
            html.Label(["x ", dcc.Dropdown(id="sweep-x", clearable=False)]),
            html.Label(["y ", dcc.Dropdown(id="sweep-y", clearable=False)]),
            html.Label(["metric ", dcc.Dropdown(id="sweep-metric", clearable=False)]),
            html.Label(["aggregate ", dcc.RadioItems(id="sweep-agg", options=AGGS, value="min",
                                                     inline=True)]),
            dcc.Checklist(id="sweep-log", options=[{"label": " log colour / y", "value": "log"}],
                          value=["log"]),
        ], className="controls"),
        html.Div([dcc.Graph(id="sweep-heatmap", className="half"),
                  dcc.Graph(id="sweep-status", className="half")], className="row"),
        html.Div([
            html.Label(["group by ", dcc.Dropdown(id="sweep-by", clearable=False)]),
            html.Label(["band ", dcc.RadioItems(id="sweep-band", options=["std", "stderr"],
                                                value="std", inline=True)]),
        ], className="controls"),
        dcc.Graph(id="sweep-groups"),
        dcc.Graph(id="sweep-parallel"),
        html.Div(id="sweep-study"),
    ])


PREFERRED = LOSS_KEYS + tuple(f"a/{k}" for k in LOSS_KEYS)


def default_metric(metrics: list[str]) -> str | None:
    """The metric a sweep opens on: the training loss (model A's in a comparative sweep, which
    logs no plain names), else the test loss, else the first logged."""
    return next((m for m in PREFERRED if m in metrics), metrics[0] if metrics else None)


@callback(Output("sweep-x", "options"), Output("sweep-x", "value"), Output("sweep-y", "options"),
          Output("sweep-y", "value"), Output("sweep-by", "options"), Output("sweep-by", "value"),
          Output("sweep-metric", "options"), Output("sweep-metric", "value"),
          Output("sweep-title", "children"), Output("sweep-study", "children"), Input("sweep-id", "data"))
def load(sweep_id):  # noqa: ANN001
    sweep = client.sweep(sweep_id)
    keys = list(client.sweep_params(sweep_id))
    metrics = summary_keys(client.runs(sweep_id=sweep_id, limit=50)["items"])
    metric = default_metric(metrics)
    x, y, by = sweeps_view.axes(keys)
    return (keys, x, keys, y, sweeps_view.group_options(keys), by, metrics or ["train_loss"],
            metric or "train_loss",
            f"Sweep {sweep_id}: {sweep['name']} ({sweep['n_runs']} runs)", study_box(sweep["name"]))


def study_box(sweep_name: str) -> list:
    """A study's report (its figures and tables) when `liplab study --wait` wrote it, else how
    to make it; nothing for a sweep that is not a study."""
    study = sweeps_view.study_of(sweep_name)
    if study is None:
        return []
    path = sweeps_view.report_file(reports.reports_dir(), study)
    if path is None:
        return [html.Div([
            html.P(f"This sweep is the study {study}; its report is not in "
                   f"{reports.reports_dir()}/{study}/ yet. Make it (the runs already done are reused):"),
            html.Pre(f"LIPLAB_URL={client.base_url()} liplab study configs/studies/{study}.yaml --wait"),
        ], className="empty", id="sweep-study-missing")]
    return [html.Details([
        html.Summary([f"Study report: {study} ", html.A("(download study.md)", href=f"/reports/{study}/study.md",
                                                        download=f"{study}.md")]),
        dcc.Markdown(reports.served_markdown(path.read_text(), study), id="sweep-study-report",
                     link_target="_blank"),
    ], open=True, className="report")]


@callback(Output("sweep-heatmap", "figure"), Output("sweep-status", "figure"),
          Output("sweep-counts", "children"), Output("sweep-tick", "max_intervals"),
          Input("sweep-tick", "n_intervals"), Input("sweep-x", "value"), Input("sweep-y", "value"),
          Input("sweep-metric", "value"), Input("sweep-agg", "value"), Input("sweep-log", "value"),
          State("sweep-id", "data"))
def refresh(n, x, y, metric, agg, log, sweep_id):  # noqa: ANN001
    """The heatmap from the grid route alone (values and per-cell status counts), so it never
    waits for the runs listing; polling stops once no run is queued or running."""
    sweep = client.sweep(sweep_id)
    counts = sweep.get("counts") or {}
    done = not any(counts.get(s) for s in ("queued", "running"))
    rearm = (n or 0) if done else (n or 0) + 1
    text = " · ".join(f"{k} {s}" for s, k in sorted(counts.items()))
    if not (x and y and metric):
        return empty_figure("this sweep varies no key", "grid"), status_counts_figure(counts), text, rearm
    grid = client.grid(sweep_id, x=x, y=y, metric=metric, agg=agg)
    heat = heatmap_figure(grid, grid.get("counts"), metric=metric, agg=agg, x_key=x, y_key=y,
                          log_z="log" in (log or []))
    return heat, status_counts_figure(counts), text, rearm


@callback(Output("sweep-parallel", "figure"), Input("sweep-tick", "n_intervals"),
          Input("sweep-metric", "value"), Input("sweep-agg", "value"), State("sweep-id", "data"))
def draw_parallel(_n, metric, agg, sweep_id):  # noqa: ANN001
    """One line per run over the varying keys, coloured by the metric (min/max or last)."""
    if not metric:
        return empty_figure("no metric yet", "parallel coordinates")
    keys = list(client.sweep_params(sweep_id))
    stat = agg if agg in ("min", "max") else "last"
    rows = [{"params": {k: flatten(r["config"]).get(k) for k in keys},
             "value": ((r.get("summary") or {}).get(metric) or {}).get(stat)}
            for r in client.all_runs(sweep_id=sweep_id)]
    return parallel_figure(rows, keys, metric)


@callback(Output("sweep-groups", "figure"), Input("sweep-by", "value"), Input("sweep-metric", "value"),
          Input("sweep-band", "value"), Input("sweep-log", "value"), Input("sweep-tick", "n_intervals"),
          State("sweep-id", "data"))
def draw_groups(by, metric, band, log, _n, sweep_id):  # noqa: ANN001
    if not (by and metric):
        return empty_figure("nothing to group by", "groups")
    key = None if by == sweeps_view.ALL_RUNS else by  # None: the server pools every run
    try:
        groups = client.groups(sweep_id, by=key, metric=metric)
    except client.Missing as e:
        return empty_figure(str(e), "groups")
    return grouped_figure(groups, key, metric, band=band, log_y="log" in (log or []))


@callback(Output("sweep-action", "children"), Input("sweep-retry", "n_clicks"),
          Input("sweep-cancel", "n_clicks"), State("sweep-id", "data"), prevent_initial_call=True)
def act(_retry, _cancel, sweep_id):  # noqa: ANN001
    which = dash.ctx.triggered_id
    if which not in ("sweep-retry", "sweep-cancel"):
        return no_update
    r = (client.retry_failed if which == "sweep-retry" else client.cancel_sweep)(sweep_id)
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code >= 400:
        return f"{which.split('-')[1]} refused ({r.status_code}): {body.get('detail', r.text)}"
    verb = "retried" if which == "sweep-retry" else "cancelled"
    return f"{verb} {len(body.get('ids', []))} runs"


def register() -> None:
    dash.register_page(__name__, path_template="/sweeps/<sweep_id>", name="Sweep",
                       layout=layout, order=3)
