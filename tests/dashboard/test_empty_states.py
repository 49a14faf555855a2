"""Empty pages say what to do: the exact command or request, never an empty box."""
from __future__ import annotations

import json

from dashboard import client


def text_of(component) -> str:  # noqa: ANN001
    """Every string inside a Dash component tree, joined."""
    if component is None:
        return ""
    if isinstance(component, str):
        return component
    if isinstance(component, (list, tuple)):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def test_no_runs_shows_the_submit_command_and_filters_say_how_to_loosen(monkeypatch):
    from dashboard.pages.runs import empty_state

    client.configure("http://127.0.0.1:18900")
    none = text_of(empty_state({"status": None, "where": ""}, 0))
    assert "LIPLAB_URL=http://127.0.0.1:18900 liplab submit configs/quickstart.yaml --wait" in none
    filtered = text_of(empty_state({"status": "failed", "where": ""}, 0))
    assert "No run matches" in filtered and "liplab submit" not in filtered
    assert empty_state({"status": None, "where": ""}, 3) == []


def test_no_probes_shows_the_request_that_asks_for_them():
    from dashboard.pages.landscape import no_probes

    client.configure("http://127.0.0.1:18900")
    text = text_of(no_probes("7"))
    assert "curl -X POST http://127.0.0.1:18900/api/v1/runs/7/probes" in text
    body = text.split("-d '")[1].split("'")[0]
    assert json.loads(body)["probes"]  # a valid request body


def test_no_worker_and_no_sweeps_say_how_to_start():
    from dashboard.pages.sweeps import no_sweeps
    from dashboard.pages.workers import no_worker

    assert "liplab worker" in text_of(no_worker())
    assert "liplab submit configs/quickstart.yaml training.lr=0.001,0.01" in text_of(no_sweeps())
