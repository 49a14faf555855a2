"""`/submit`: a YAML editor, override and sweep fields, the API's validation messages next to
the offending keys, a preview of the number of runs, and submit."""
from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard import client, rerun
from dashboard.forms import annotate, parse_overrides, parse_yaml, parse_zip

EXAMPLE = """name: quickstart
data: {name: sine, n_train: 256, n_test: 256, data_seed: 0}
model:
  name: mlp
  depth: 2
  width: 32
  activation: tanh
training:
  optimizer: adam
  lr: 0.01
  batch_size: 64
  epochs: 10
"""


def prefill(run_id: str | None) -> tuple[str, str, str]:
    """(YAML, overrides, heading) for `/submit?run=<id>`: that run's config and sweep values,
    to edit and submit again; the example config otherwise."""
    if not run_id:
        return EXAMPLE, "", "Submit a run or a sweep"
    run = client.run(run_id)
    return rerun.config_yaml(run), "\n".join(rerun.override_lines(run)), f"Re-run {run_id} with changes"


def layout(run: str | None = None, **_kw) -> html.Div:
    text, overrides, heading = prefill(run)
    return html.Div([
        html.H2(heading),
        html.Div([
            html.Div([html.H3("Config (YAML)"),
                      dcc.Textarea(id="submit-yaml", value=text, className="editor",
                                   spellCheck=False)], className="half"),
            html.Div([html.H3("Validation"), html.Div(id="submit-annotated", className="annotated")],
                     className="half"),
        ], className="row"),
        html.Div([
            html.Label(["overrides and sweeps, one key=value a line (a,b lists · 0..10..2 ranges · "
                        "logfloat(1e-4,1e-1))",
                        dcc.Textarea(id="submit-overrides", className="overrides", value=overrides,
                                     placeholder="model.depth=2,4\ntraining.lr=0.001,0.01")]),
            html.Label(["zip groups (a,b; c,d) ", dcc.Input(id="submit-zip", debounce=True)]),
            html.Label(["random samples ", dcc.Input(id="submit-random", type="number", min=1)]),
            html.Label(["random seed ", dcc.Input(id="submit-seed", type="number", value=0)]),
            html.Label(["name ", dcc.Input(id="submit-name")]),
        ], className="controls wrap"),
        html.Div([html.Span(id="submit-preview", className="status"),
                  html.Button("submit", id="submit-go", className="button")], className="row"),
        html.Div(id="submit-result"),
    ])


def body(text, overrides, zip_text, samples, seed, name) -> tuple[dict | None, list[tuple[str, str]]]:  # noqa: ANN001
    """The API request body for a run or a sweep, or (None, local issues)."""
    config, err = parse_yaml(text)
    params, bad = parse_overrides(overrides)
    issues = ([("", err)] if err else []) + [(f"overrides {k}", v) for k, v in bad.items()]
    if config is None or bad:
        return None, issues
    out = {"config": config, "params": params}
    if name:
        out["name"] = name
    if zip_text and parse_zip(zip_text):
        out["zip"] = parse_zip(zip_text)
    if samples:
        out["random"] = {"samples": int(samples), "seed": int(seed or 0)}
    return out, issues


def annotated(text: str, issues: list[tuple[str, str]]) -> list:
    rows = []
    for n, line, messages in annotate(text or "", issues):
        rows.append(html.Div([html.Span(f"{n + 1:>3} " if n >= 0 else "    ", className="lineno"),
                              html.Code(line), *[html.Span(m, className="issue") for m in messages]],
                             className="line bad" if messages else "line"))
    return rows


@callback(Output("submit-annotated", "children"), Output("submit-preview", "children"),
          Output("submit-go", "disabled"),
          Input("submit-yaml", "value"), Input("submit-overrides", "value"), Input("submit-zip", "value"),
          Input("submit-random", "value"), Input("submit-seed", "value"), Input("submit-name", "value"))
def check(text, overrides, zip_text, samples, seed, name):  # noqa: ANN001
    req, issues = body(text, overrides, zip_text, samples, seed, name)
    n_runs = None
    if req is not None:
        try:
            n_runs, api_issues = client.validate(req)
        except client.Missing as e:
            api_issues = [("", str(e))]
        issues += api_issues
    ok = req is not None and not issues
    preview = (f"valid: {n_runs} run{'s' if n_runs != 1 else ''} will be queued" if ok
               else f"{len(issues)} issue{'s' if len(issues) != 1 else ''}")
    return annotated(text, issues), preview, not ok


@callback(Output("submit-result", "children"), Input("submit-go", "n_clicks"),
          State("submit-yaml", "value"), State("submit-overrides", "value"), State("submit-zip", "value"),
          State("submit-random", "value"), State("submit-seed", "value"), State("submit-name", "value"),
          prevent_initial_call=True)
def submit(_n, text, overrides, zip_text, samples, seed, name):  # noqa: ANN001
    req, issues = body(text, overrides, zip_text, samples, seed, name)
    if req is None:
        return f"not submitted: {issues}"
    if not req["params"] and "random" not in req:
        r = client.post("/runs", {k: v for k, v in req.items() if k in ("name", "config")})
        if r.status_code == 201:
            rid = r.json()["id"]
            return html.Span(["queued run ", dcc.Link(str(rid), href=f"/runs/{rid}")])
    else:
        r = client.post("/sweeps", req)
        if r.status_code == 201:
            sid, n = r.json()["id"], r.json()["n_runs"]
            return html.Span([f"queued {n} runs in sweep ", dcc.Link(str(sid), href=f"/sweeps/{sid}")])
    return f"refused ({r.status_code}): {r.text[:2000]}"


def register() -> None:
    dash.register_page(__name__, path="/submit", name="Submit", layout=layout, order=5)
