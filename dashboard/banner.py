"""One banner for every page when the API cannot be reached.

Page callbacks call `dashboard.client` and never catch `client.Unreachable` themselves: the
app's error handler (`on_api_error`, given to Dash as `on_error`) turns it into this banner,
leaves the page's outputs as they were instead of raising a callback error, and starts a
slow health check; once the API answers again the page reloads, so its polling resumes.
"""
from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html, set_props
from dash.exceptions import PreventUpdate

from dashboard import client

BANNER = "api-banner"
RETRY = "api-retry"
RETRY_MS = 5000


def banner() -> html.Div:
    return html.Div([
        html.Div(id=BANNER, className="banner error", hidden=True),
        dcc.Interval(id=RETRY, interval=RETRY_MS, disabled=True),
        dcc.Store(id="api-back"),
        html.Div(id="api-reload", hidden=True),
    ])


def on_api_error(err: Exception) -> None:
    """Dash's `on_error`: an unreachable API shows the banner (outputs unchanged); any other
    error is raised as before."""
    if not isinstance(err, client.Unreachable):
        raise err
    set_props(BANNER, {"children": str(err), "hidden": False})
    set_props(RETRY, {"disabled": False})


def register() -> None:
    @dash.callback(Output(BANNER, "hidden"), Output(RETRY, "disabled"), Output("api-back", "data"),
                   Input(RETRY, "n_intervals"), State(BANNER, "hidden"), prevent_initial_call=True)
    def retry(n, hidden):  # noqa: ANN001
        if hidden:
            raise PreventUpdate
        try:
            client.health()
        except client.Unreachable:
            raise PreventUpdate from None
        return True, True, n

    dash.clientside_callback(
        "function(back) { if (back) { window.location.reload(); } return ''; }",
        Output("api-reload", "children"), Input("api-back", "data"), prevent_initial_call=True)
