"""`/` and `/runs`: the runs table with results, ordered, filtered and paged by the API.

The view (status, where= filters, sort column, metric and config columns, page) lives in the
URL's query string (dashboard.runs_view), so a bookmarked address restores it; the CSV link
downloads the same view in full (dashboard.csv_export).
"""
from __future__ import annotations

import math

import dash
import httpx
from dash import ctx, Input, Output, State, callback, dash_table, dcc, html
from dash.exceptions import MissingCallbackContextException

from dashboard import address, client, runs_view
from dashboard.derive import flatten, summary_keys
from dashboard.localtime import STORE_ID

STATUSES = ["queued", "running", "succeeded", "failed", "diverged", "cancelled"]
SUBMIT_HINT = "liplab submit configs/quickstart.yaml"



def layout(**query) -> html.Div:
    view = runs_view.view_from_query(query)
    sort = view["sort"]
    return html.Div([
        html.H2("Runs"),
        dcc.Interval(id="runs-tick", interval=5000, max_intervals=0),  # re-armed by each answer
        dcc.Store(id="runs-query"),
        dcc.Store(id="runs-filters", data=filters_of(view)),
        html.Div([
            dcc.Dropdown(id="runs-status", options=STATUSES, value=view["status"], multi=False,
                         placeholder="any status"),
            dcc.Input(id="runs-where", value=view["where"], debounce=True, className="grow",
                      placeholder="where, e.g. model.depth>2; summary.test_acc.max>0.9; tags contains x; note~text"),
            dcc.Link("compare selected →", id="runs-compare", href="/compare", className="button"),
            html.A("download CSV", id="runs-csv", href="/download/runs.csv", className="button"),
        ], className="controls"),
        html.Div([
            dcc.Dropdown(id="runs-metrics", multi=True, value=view["metrics"], options=view["metrics"] or [],
                         className="grow",
                         placeholder="metric columns (default: the losses and accuracies logged)"),
            dcc.Dropdown(id="runs-keys", multi=True, value=view["keys"], options=view["keys"] or [],
                         className="grow",
                         placeholder="config columns (default: the keys that vary)"),
        ], className="controls"),
        html.Div(id="runs-message", className="error"),
        html.Div(id="runs-total"),
        html.Div(id="runs-empty"),
        dash_table.DataTable(
            id="runs-table", data=[], columns=[], row_selectable="multi",
            sort_action="custom", sort_mode="single",
            sort_by=[{"column_id": sort.lstrip("-"), "direction": "desc" if sort.startswith("-") else "asc"}]
            if sort else [],
            page_action="custom", page_current=view["page"], page_size=runs_view.PAGE_SIZE,
            # at least the page asked for: a table drawn before the first answer would take
            # page_current ≥ page_count for an overflow and go back to page 0
            page_count=view["page"] + 1,
            markdown_options={"link_target": "_self"}, style_table={"overflowX": "auto"},
            style_cell={"fontSize": 13, "maxWidth": 260, "overflow": "hidden", "textOverflow": "ellipsis"},
            tooltip_duration=None),
        html.Div([
            html.H3(["Sweeps ", dcc.Link("(all, with their best values →)", href="/sweeps")]),
            dash_table.DataTable(id="runs-sweeps", data=[], page_size=20,
                                 markdown_options={"link_target": "_self"},
                                 columns=[{"name": "sweep", "id": "link", "presentation": "markdown"},
                                          {"name": "name", "id": "name"}, {"name": "runs", "id": "n_runs"},
                                          {"name": "status", "id": "counts"}]),
        ], id="runs-sweeps-box", style={"display": "none"}),  # shown once there is a sweep
    ])


def filters_of(view: dict) -> list:
    """What decides which runs come in which order: a change of it starts again at page 0."""
    return [view["status"], view["where"], view["sort"]]


FILTER_INPUTS = {"runs-status.value", "runs-where.value", "runs-table.sort_by"}


def _filter_changed() -> bool:
    """Whether the user changed a filter or the sort in this call (not a poll, the viewer's zone
    arriving, or a view opened from its address: those keep the page they were given)."""
    try:
        return bool(FILTER_INPUTS & set(ctx.triggered_prop_ids))
    except MissingCallbackContextException:  # called outside a callback (tests): a plain comparison
        return True


def sort_text(sort_by: list[dict] | None) -> str:
    if not sort_by:
        return ""
    s = sort_by[0]
    return ("-" if s.get("direction") == "desc" else "") + s["column_id"]


def api_error(e: Exception) -> str:
    """The API's 422 message (the bad filter or column), else the exception's text."""
    if isinstance(e, httpx.HTTPStatusError):
        try:
            return "; ".join(d.get("msg", "") for d in e.response.json()["detail"])
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    return str(e)


def empty_state(view: dict, total: int) -> list:
    """What to do when the table is empty: submit a first run, or loosen the filters."""
    if total:
        return []
    if view["status"] or view["where"]:
        return [html.P("No run matches these filters. Clear the status or the where= box; "
                       "filters are KEY OP VALUE joined by ';', e.g. model.depth>2; status==failed.",
                       className="empty")]
    return [html.Div([html.P("No runs yet. Submit one from the command line:"),
                      html.Pre(f"LIPLAB_URL={client.base_url()} {SUBMIT_HINT} --wait"),
                      html.P(["or write a config on the ", dcc.Link("submit page", href="/submit"), "."])],
                     className="empty")]


@callback(Output("runs-table", "data"), Output("runs-table", "columns"), Output("runs-table", "page_count"),
          Output("runs-message", "children"), Output("runs-tick", "max_intervals"),
          Output("runs-metrics", "options"), Output("runs-keys", "options"), Output("runs-total", "children"),
          Output("runs-empty", "children"), Output("runs-query", "data"), Output("runs-csv", "href"),
          Output("runs-table", "page_current"), Output("runs-filters", "data"), Input("runs-tick", "n_intervals"), Input("runs-status", "value"), Input("runs-where", "value"),
          Input("runs-metrics", "value"), Input("runs-keys", "value"), Input("runs-table", "sort_by"),
          Input("runs-table", "page_current"), Input(STORE_ID, "data"), State("runs-filters", "data"))
def refresh(n, status, where, metrics, keys, sort_by, page, tz, previous):  # noqa: ANN001
    """One page of the view from the API; its query string goes to the URL and the CSV link.
    A new filter or sort starts again at the first page."""
    view = {"status": status, "where": where or "", "sort": sort_text(sort_by), "metrics": metrics,
            "keys": keys, "page": page or 0}
    if previous is not None and filters_of(view) != previous and _filter_changed():
        view["page"] = 0
    message = ""
    try:
        listing = client.runs(**runs_view.api_params(view), limit=runs_view.PAGE_SIZE,
                              offset=view["page"] * runs_view.PAGE_SIZE)
    except (ValueError, httpx.HTTPStatusError) as e:  # a bad filter or sort is the user's to fix: say why
        message = f"filter and sort ignored: {api_error(e)}"
        listing = client.runs(status=status, limit=runs_view.PAGE_SIZE, offset=view["page"] * runs_view.PAGE_SIZE)
    items, total = listing["items"], listing["total"]
    present = summary_keys(items)
    shown_metrics = runs_view.chosen_metrics(view, present)
    shown_keys = runs_view.chosen_keys(view, items)
    metric_options = sorted({f"{k}:{s}" for k in present for s in runs_view.STATS} | set(shown_metrics))
    key_options = sorted({k for r in items for k in flatten(r["config"])} | set(shown_keys))
    query = runs_view.view_to_query(view)
    count = f"{'about ' if listing.get('estimated') else ''}{total} runs"
    return (runs_view.table_rows(items, shown_keys, shown_metrics, tz), runs_view.columns(shown_keys, shown_metrics),
            max(1, math.ceil(total / runs_view.PAGE_SIZE)), message, (n or 0) + 1, metric_options, key_options,
            count, empty_state(view, total), query, f"/download/runs.csv{query}", view["page"], filters_of(view))


address.mirror("runs-query", "/", "/runs")


@callback(Output("runs-compare", "href"), Input("runs-table", "selected_row_ids"))
def compare_link(selected):  # noqa: ANN001
    ids = [str(i) for i in selected or []]
    return f"/compare?runs={','.join(ids)}" if ids else "/compare"


@callback(Output("runs-sweeps", "data"), Output("runs-sweeps-box", "style"), Input("runs-tick", "n_intervals"))
def refresh_sweeps(_n):  # noqa: ANN001
    try:
        items = client.sweeps(limit=20)
    except client.Missing:
        items = []
    rows = [{"link": f"[{s['id']}](/sweeps/{s['id']})", "name": s["name"], "n_runs": s.get("n_runs"),
             "counts": ", ".join(f"{n} {k}" for k, n in sorted((s.get("counts") or {}).items()))}
            for s in items]
    return rows, {} if rows else {"display": "none"}


def register() -> None:
    dash.register_page(__name__, path="/", name="Runs", layout=layout, order=0)
    # the same page at /runs, so the address that lists runs is the one the API uses
    dash.register_page(f"{__name__}.alias", path="/runs", name="Runs ", layout=layout, order=1)
