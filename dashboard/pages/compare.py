"""`/compare?runs=1,2,3&sweeps=4,5&by=model.layer`: runs and whole sweeps side by side — seed 004's
radar chart (larger is better on every axis), overlaid curves or, grouped by a config key (or
by sweep), each group's mean ± std band, and a table of summaries."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import dash
from dash import Input, Output, callback, dash_table, dcc, html

from dashboard import address, client, groups
from dashboard.derive import flatten, summary_keys, varying_keys
from dashboard.figures import grouped_figure, overlay_figure, radar_figure

# The radar's axes in seed 004's order; certified_acc/<eps> are found per run.
RADAR_FIXED = ["test_acc", "train_acc", "time/batch_s", "memory/peak_bytes"]
CERTIFIED = re.compile(r"^certified_acc/(.+)$")


def radar_metrics(keys: list[str]) -> list[str]:
    """Accuracy, certified accuracy at each ε (ascending), time per batch and peak memory."""
    acc = [k for k in ("test_acc", "train_acc") if k in keys][:1]
    cert = sorted((k for k in keys if CERTIFIED.match(k)),
                  key=lambda k: float(CERTIFIED.match(k).group(1)) if _isfloat(CERTIFIED.match(k).group(1))
                  else 0)
    cost = [k for k in ("time/batch_s", "memory/peak_bytes") if k in keys]
    axes = acc + cert + cost
    return axes if len(axes) >= 3 else axes + [k for k in ("test_loss", "train_loss")
                                              if k in keys and k not in axes]


def _isfloat(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


MAX_RUNS = 300  # runs fetched for one comparison (curves: one metrics request each)


def layout(runs: str = "", sweeps: str = "", by: str = "", **_kw) -> html.Div:
    try:
        sweep_options = [{"label": f"{s['id']}: {s['name']} ({s.get('n_runs', '?')} runs)", "value": s["id"]}
                         for s in client.sweeps()]
    except client.Missing:
        sweep_options = []
    return html.Div([
        html.H2("Compare runs and sweeps", id="compare-title"),
        html.Div([
            dcc.Dropdown(id="compare-sweeps", options=sweep_options, value=parse_ids(sweeps), multi=True,
                         placeholder="whole sweeps", className="grow"),
            dcc.Input(id="compare-runs", value=runs, debounce=True, placeholder="run ids, e.g. 3,7,12",
                      className="grow"),
            html.Label(["group by ", dcc.Dropdown(id="compare-by", value=by or None,
                                                  options=[by] if by else [],
                                                  placeholder="each run on its own")]),
        ], className="controls"),
        html.Div(id="compare-message"),
        dcc.Store(id="compare-selection"),
        dcc.Store(id="compare-query"),
        dcc.Graph(id="compare-radar"),
        html.Div([html.Label(["metric ", dcc.Dropdown(id="compare-metric", clearable=False)]),
                  dcc.Checklist(id="compare-log", options=[{"label": " log y", "value": "log"}],
                                value=["log"])], className="controls"),
        dcc.Graph(id="compare-curves"),
        html.H3("Summaries (last value: mean ± std over the group's runs)"),
        dash_table.DataTable(id="compare-table", data=[], columns=[], style_cell={"fontSize": 13}),
    ])


def parse_ids(text: str | None) -> list[int]:
    return [int(t) for t in re.split(r"[,\s]+", text or "") if t.isdigit()]


def labels(runs: list[dict]) -> dict[int, str]:
    """A readable, unique label per run: the config values that differ between the runs
    (e.g. "model.layer=aol"), else the name, with the id when names repeat."""
    keys = varying_keys([r["config"] for r in runs])[:3]
    if keys:
        out = {r["id"]: ", ".join(f"{k}={flatten(r['config']).get(k)}" for k in keys) for r in runs}
        if len(set(out.values())) == len(out):
            return out
    names = [r["name"] for r in runs]
    return {r["id"]: (r["name"] if names.count(r["name"]) == 1 else f"{r['name']} #{r['id']}")
            for r in runs}


def chosen_runs(sweep_ids: list[int], ids_text: str | None) -> tuple[list[dict], str]:
    """The runs of the chosen sweeps and the listed ids (each once, at most MAX_RUNS), and a
    note when some were left out."""
    runs: dict[int, dict] = {}
    for sweep_id in sweep_ids or []:
        for r in client.all_runs(sweep_id=sweep_id):
            runs.setdefault(r["id"], r)
    for i in parse_ids(ids_text):
        if i not in runs:
            runs[i] = client.run(i)
    chosen = list(runs.values())
    note = f"showing the first {MAX_RUNS} of {len(chosen)} runs" if len(chosen) > MAX_RUNS else ""
    return chosen[:MAX_RUNS], note


NOTHING_CHOSEN = ("Choose whole sweeps above, or type run ids (or tick runs on the runs page and "
                  "press 'compare selected'); group by a config key to draw each group's mean ± std.")


@callback(Output("compare-radar", "figure"), Output("compare-metric", "options"),
          Output("compare-metric", "value"), Output("compare-message", "children"),
          Output("compare-by", "options"), Output("compare-selection", "data"),
          Output("compare-table", "data"), Output("compare-table", "columns"), Output("compare-query", "data"),
          Input("compare-sweeps", "value"), Input("compare-runs", "value"), Input("compare-by", "value"))
def load(sweep_ids, ids_text, by):  # noqa: ANN001
    parts = {"runs": ",".join(map(str, parse_ids(ids_text))), "sweeps": ",".join(map(str, sweep_ids or [])),
             "by": by or ""}
    query = "?" + urlencode({k: v for k, v in parts.items() if v}) if any(parts.values()) else ""
    runs, note = chosen_runs(sweep_ids, ids_text)
    if not runs:
        return (radar_figure({}, []), [], None, html.Div(NOTHING_CHOSEN, className="empty"), [],
                None, [], [], query)
    keys = summary_keys(runs)
    axes = radar_metrics(keys)
    ids = [r["id"] for r in runs]
    raw = {r["id"]: groups.group_of(r, by) for r in runs} if by else labels(runs)
    names = {i: f"{by}={g}" for i, g in raw.items()} if by else raw
    per_run = {c["id"]: c["values"] for c in client.compare(ids, axes)} if axes else {}
    stats = groups.group_values(per_run, names, axes)
    radar = {g: {m: s["mean"] for m, s in per_metric.items()} for g, per_metric in stats.items()}
    counts = {g: list(names.values()).count(g) for g in stats}
    table = groups.summary_rows(stats, axes, counts)
    columns = [{"name": c, "id": c} for c in ["group", "runs", *axes]]
    options = [groups.BY_SWEEP] + varying_keys([r["config"] for r in runs])
    metric = next((m for m in ("train_loss", "test_loss") if m in keys), keys[0] if keys else None)
    selection = {"ids": ids, "groups": {str(i): g for i, g in raw.items()}, "by": by}
    return radar_figure(radar, axes), keys, metric, note, options, selection, table, columns, query


address.mirror("compare-query", "/compare")


@callback(Output("compare-curves", "figure"), Input("compare-metric", "value"),
          Input("compare-log", "value"), Input("compare-selection", "data"))
def curves(metric, log, selection):  # noqa: ANN001
    """Each run's curve, or with a grouping each group's mean ± std band."""
    if not selection or not metric:
        return overlay_figure({}, metric or "", log_y="log" in (log or []))
    names = {int(i): g for i, g in selection["groups"].items()}
    series = {i: client.metrics(i, keys=[metric], max_points=2000).get(metric) for i in names}
    if selection.get("by"):
        return grouped_figure(groups.group_curves(series, names), selection["by"], metric,
                              log_y="log" in (log or []))
    return overlay_figure({names[i]: s for i, s in series.items()}, metric, log_y="log" in (log or []))


def register() -> None:
    dash.register_page(__name__, path="/compare", name="Compare", layout=layout, order=4)
