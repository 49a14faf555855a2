"""`/compare?runs=1,2,3`: seed 004's radar chart (larger is better on every axis) and overlaid curves."""
from __future__ import annotations

import re

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard import client
from dashboard.derive import flatten, summary_keys, varying_keys
from dashboard.figures import overlay_figure, radar_figure

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


def layout(runs: str = "", **_kw) -> html.Div:
    return html.Div([
        dcc.Store(id="compare-ids", data=runs),
        html.H2(f"Compare runs {runs}", id="compare-title"),
        html.Div(id="compare-message", className="error"),
        dcc.Graph(id="compare-radar"),
        html.Div([html.Label(["metric ", dcc.Dropdown(id="compare-metric", clearable=False)]),
                  dcc.Checklist(id="compare-log", options=[{"label": " log y", "value": "log"}],
                                value=["log"])], className="controls"),
        dcc.Graph(id="compare-curves"),
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


@callback(Output("compare-radar", "figure"), Output("compare-metric", "options"),
          Output("compare-metric", "value"), Output("compare-message", "children"),
          Input("compare-ids", "data"))
def load(ids_text):  # noqa: ANN001
    ids = parse_ids(ids_text)
    if not ids:
        return radar_figure({}, []), [], None, "choose runs on the runs page, or /compare?runs=1,2,3"
    runs = [client.run(i) for i in ids]
    keys = summary_keys(runs)
    axes = radar_metrics(keys)
    names = labels(runs)
    values = {names[r["id"]]: r["values"] for r in client.compare(ids, axes)}
    metric = next((m for m in ("train_loss", "test_loss") if m in keys), keys[0] if keys else None)
    return radar_figure(values, axes), keys, metric, ""


@callback(Output("compare-curves", "figure"), Input("compare-metric", "value"),
          Input("compare-log", "value"), State("compare-ids", "data"))
def curves(metric, log, ids_text):  # noqa: ANN001
    ids = parse_ids(ids_text)
    names = labels([client.run(i) for i in ids])
    series = {names[i]: client.metrics(i, keys=[metric], max_points=2000).get(metric) for i in ids} \
        if metric else {}
    return overlay_figure(series, metric or "", log_y="log" in (log or []))


def register() -> None:
    dash.register_page(__name__, path="/compare", name="Compare", layout=layout, order=4)
