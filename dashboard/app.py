"""`create_app(api_url)`: the multi-page Dash app; one module per page under dashboard/pages."""
from __future__ import annotations

import dash
from dash import Dash, Input, Output, dcc, html

from dashboard import banner, client
from dashboard.auth import protect
from dashboard.localtime import READ_ZONE_JS, STORE_ID

NAV = [("Runs", "/runs"), ("Sweeps", "/sweeps"), ("Submit", "/submit"), ("Compare", "/compare"), ("Workers", "/workers")]


def create_app(api_url: str = "http://127.0.0.1:8000", token: str | None = None) -> Dash:
    """With `token` (the API's), the dashboard passes it to the API and asks browsers for it."""
    client.configure(api_url, token)
    app = Dash(__name__, use_pages=True, pages_folder="", title="liplab",
               suppress_callback_exceptions=True, on_error=banner.on_api_error)
    from dashboard import csv_export, files, reports
    from dashboard.pages import register_all

    banner.register()
    register_all()
    csv_export.register(app.server)
    reports.register(app.server)
    files.register(app.server)
    nav = html.Nav([dcc.Link("liplab", href="/", className="brand")]
                   + [dcc.Link(name, href=href) for name, href in NAV], className="nav")
    app.layout = html.Div([nav, banner.banner(), dcc.Store(id=STORE_ID), dash.page_container],
                          className="page")
    app.clientside_callback(READ_ZONE_JS, Output(STORE_ID, "data"), Input(STORE_ID, "id"))
    if token:
        protect(app.server, token)
    return app
