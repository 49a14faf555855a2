"""A page's view mirrored in the address bar: a Store holding "?query" is written into the URL
with history.replaceState, so the view can be bookmarked and shared without Dash reloading or
re-rendering the page (a dcc.Location update would)."""
from __future__ import annotations

import json

from dash import Input, Output, clientside_callback

REPLACE = """function(query) {
    const path = window.location.pathname;
    if (%s.includes(path) && typeof query === 'string' && window.location.search !== query) {
        window.history.replaceState(null, '', path + query);
    }
    return window.dash_clientside.no_update;
}"""


def mirror(store_id: str, *paths: str) -> None:
    """Keep the address's query equal to `store_id`'s data while one of `paths` is shown."""
    clientside_callback(REPLACE % json.dumps(list(paths)), Output(store_id, "id"), Input(store_id, "data"))
