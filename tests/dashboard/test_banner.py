"""An unreachable API shows the one shared banner instead of a callback error (Dash's own
callback route, no browser)."""
from __future__ import annotations

import socket

from dashboard import client
from dashboard.app import create_app
from dashboard.localtime import STORE_ID


def dead_url() -> str:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def call(app, output_part: str, inputs: list[dict]):
    http = app.server.test_client()
    http.get("/_dash-dependencies")  # the first request sets the callbacks up
    output = next(k for k in app.callback_map if output_part in k)
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]}
               for o in output.strip(".").split("...")]
    return http.post("/_dash-update-component", json={
        "output": output, "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": inputs, "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs],
        "state": []})


def test_a_page_callback_meets_a_down_api_with_the_banner():
    saved = dict(client._state)
    url = dead_url()
    try:
        app = create_app(url)
        r = call(app, "workers-services.children",
                 [{"id": "workers-tick", "property": "n_intervals", "value": 1},
                  {"id": STORE_ID, "property": "data", "value": "UTC"}])
        assert r.status_code == 200, r.data[:500]
        body = r.get_json()
        side = body["sideUpdate"]
        assert side["api-banner"]["hidden"] is False and url in side["api-banner"]["children"]
        assert side["api-retry"] == {"disabled": False}
        assert body["response"] == {}  # the page's outputs are left as they were
    finally:
        client._state.update(saved)


def test_other_errors_are_still_callback_errors():
    saved = dict(client._state)
    try:
        app = create_app(dead_url())

        def broken(*_a, **_k):
            raise KeyError("not an outage")

        from dashboard.pages import workers

        real, workers.client.health = workers.client.health, broken
        try:
            r = call(app, "workers-services.children",
                     [{"id": "workers-tick", "property": "n_intervals", "value": 1},
                  {"id": STORE_ID, "property": "data", "value": "UTC"}])
        finally:
            workers.client.health = real
        assert r.status_code == 500
    finally:
        client._state.update(saved)
