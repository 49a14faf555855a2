"""`dashboard.client` against an API that is not there."""
from __future__ import annotations

import socket

import pytest

from dashboard import client


def test_a_down_api_is_reported_by_url_not_as_a_bare_connection_error():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    saved = dict(client._state)
    try:
        client.configure(f"http://127.0.0.1:{port}")
        with pytest.raises(client.Unreachable, match=f"127.0.0.1:{port}"):
            client.health()
        with pytest.raises(client.Unreachable):
            client.post("/runs", {})
    finally:
        client._state.update(saved)
