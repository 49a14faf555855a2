"""The dashboard's REST calls: one function per API route (docs/api.md), answers normalised, sent through
`liplab.client.Client` (the one client of the CLI and notebooks).

The base URL and token are set by `create_app`. Functions return plain data; a route the server
lacks raises `Missing` (its path in the message) so pages can say which route is absent instead
of drawing an empty plot without a word.
"""
from __future__ import annotations

import os
from typing import Any

import httpx

from liplab.client import Client, Unreachable  # noqa: F401 - pages catch client.Unreachable

_state: dict[str, Any] = {"url": os.environ.get("LIPLAB_URL", "http://127.0.0.1:8000"),
                          "token": os.environ.get("LIPLAB_TOKEN"), "client": None}


class Missing(RuntimeError):
    """The API has no such route (404 on the route itself, not on an id)."""


def configure(api_url: str, token: str | None = None) -> None:
    _state["url"], _state["token"] = api_url.rstrip("/"), token
    _state["client"] = None


def base_url() -> str:
    return _state["url"]


def _client() -> Client:
    if _state["client"] is None:  # one pooled connection set per process, made on first use
        _state["client"] = Client(_state["url"], _state["token"] or "", timeout=30)
    return _state["client"]


def _send(method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request; `Unreachable` when nothing answers, `Missing` when the route does not exist."""
    r = _client().send(method, path, **kwargs)
    if r.status_code == 404 and r.headers.get("content-type", "").startswith("application/json") \
            and r.json().get("detail") == "Not Found":
        raise Missing(f"the API has no route {method} /api/v1{path}")
    return r


def get(path: str, **params: Any) -> Any:
    params = {k: v for k, v in params.items() if v is not None}
    return _send("GET", path, params=params).raise_for_status().json()


def raw(path: str) -> httpx.Response:
    """GET without raising or decoding: a file to pass on (artifacts)."""
    return _send("GET", path)


def post(path: str, body: Any = None) -> httpx.Response:
    """POST without raising: callers show 4xx answers (validation issues) to the user."""
    return _send("POST", path, json=body)


def patch(path: str, body: Any) -> httpx.Response:
    """PATCH without raising, like `post`."""
    return _send("PATCH", path, json=body)


# --- runs -------------------------------------------------------------------------------------

def runs(*, sweep_id: int | None = None, status: str | None = None, where: str | None = None,
         order_by: str | None = None, order_stat: str | None = None, limit: int = 500,
         offset: int = 0) -> dict:
    """{"items": [run], "total"}; `where` like "model.layer==aol; model.depth>2" (filters joined
    by ';', all must hold), `order_by` a column or metric like "-train_loss" (by its
    `order_stat`: last, min or max)."""
    filters = [w.strip() for w in (where or "").split(";") if w.strip()]
    return get("/runs", sweep_id=sweep_id, status=status, where=filters or None,
               order_by=order_by or None, order_stat=order_stat, limit=limit, offset=offset)


def all_runs(**filters: Any) -> list[dict]:
    """Every run matching the filters, page by page (1000 a page, the API's maximum)."""
    items, offset = [], 0
    while True:
        page = runs(limit=1000, offset=offset, **filters)
        items += page["items"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return items


def run(run_id: int | str) -> dict:
    return get(f"/runs/{run_id}")


def edit_notes(run_id: int | str, *, tags: list[str] | None = None, note: str | None = None) -> httpx.Response:
    """Set a run's tags and/or note (fields left None keep their value)."""
    body = {k: v for k, v in {"tags": tags, "note": note}.items() if v is not None}
    return patch(f"/runs/{run_id}", body)


def metrics(run_id: int | str, keys: list[str] | None = None, max_points: int | None = None,
            after: int | None = None) -> dict[str, dict[str, list]]:
    """{key: {"step", "value"}}, downsampled to max_points, only steps > after when given."""
    return get(f"/runs/{run_id}/metrics", keys=",".join(keys) if keys else None,
               max_points=max_points, after=after)


def probes(run_id: int | str) -> dict[str, dict]:
    """{probe name: result}."""
    data = get(f"/runs/{run_id}/probes")
    if isinstance(data, dict) and isinstance(data.get("results"), dict):
        return data["results"]
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return {p["name"]: p.get("result", p) for p in data["items"]}
    if isinstance(data, list):
        return {p["name"]: p.get("result", p) for p in data}
    return data


def artifacts(run_id: int | str) -> list[dict]:
    data = get(f"/runs/{run_id}/artifacts")
    return data.get("items", []) if isinstance(data, dict) else data


def compare(run_ids: list[int], metric_keys: list[str]) -> list[dict]:
    """[{"id", "label", "values": {metric: last value}}]."""
    return get("/compare", run_ids=",".join(map(str, run_ids)), metrics=",".join(metric_keys))["runs"]


# --- sweeps -----------------------------------------------------------------------------------

def sweeps(limit: int = 200) -> list[dict]:
    data = get("/sweeps", limit=limit)
    return data.get("items", []) if isinstance(data, dict) else data


def sweep(sweep_id: int | str) -> dict:
    return get(f"/sweeps/{sweep_id}")


def sweep_params(sweep_id: int | str) -> dict[str, list]:
    """The config keys that vary across the sweep, each with its distinct values."""
    data = get(f"/sweeps/{sweep_id}/params")
    if isinstance(data, dict) and isinstance(data.get("params"), (dict, list)):
        data = data["params"]
    if isinstance(data, dict) and isinstance(data.get("keys"), (dict, list)):
        data = data["keys"]
    if isinstance(data, list):
        return {(p["key"] if isinstance(p, dict) else p): (p.get("values", []) if isinstance(p, dict)
                                                           else []) for p in data}
    return data


def grid(sweep_id: int | str, x: str, y: str, metric: str, agg: str) -> dict:
    """{"x", "y", "z", "counts"}: counts[i][j] maps status → runs in the cell."""
    return get(f"/sweeps/{sweep_id}/grid", x=x, y=y, metric=metric, agg=agg)


def groups(sweep_id: int | str, by: str | None, metric: str, max_points: int | None = 500) -> list[dict]:
    """[{"value", "step", "mean", "std", "stderr", "n"}], one per value of `by` (None: one
    group of every run)."""
    data = get(f"/sweeps/{sweep_id}/groups", by=by, metric=metric, max_points=max_points)
    if isinstance(data, dict) and "groups" in data:
        data = data["groups"]
    if isinstance(data, dict):
        data = [{"value": k, **v} for k, v in data.items()]
    for g in data:
        g.setdefault("value", g.get("group", g.get("key")))
        g.setdefault("n", g.get("N", g.get("count", [])))
    return data


def cancel_sweep(sweep_id: int | str) -> httpx.Response:
    return post(f"/sweeps/{sweep_id}/cancel")


def retry_failed(sweep_id: int | str) -> httpx.Response:
    return post(f"/sweeps/{sweep_id}/retry-failed")


# --- submit and health ------------------------------------------------------------------------

def validate(body: dict) -> tuple[int | None, list[tuple[str, str]]]:
    """(number of runs, [(dotted key, message)]) for a run or sweep body, nothing queued."""
    r = post("/validate", body)
    data = r.json()
    if r.status_code == 422:
        detail = data.get("detail", [])
        return None, issues_from_detail(detail if isinstance(detail, list) else [{"msg": detail}])
    r.raise_for_status()
    issues = [(i.get("key") or ".".join(map(str, i.get("loc", []))), i.get("message") or i.get("msg", ""))
              for i in data.get("issues", [])]
    return data.get("n_runs"), issues


def issues_from_detail(detail: list[dict]) -> list[tuple[str, str]]:
    """FastAPI 422 details → (dotted key, message); "body.config." and "body." are dropped."""
    out = []
    for d in detail:
        loc = [str(p) for p in d.get("loc", [])]
        if loc[:2] == ["body", "config"]:
            loc = loc[2:]
        elif loc[:1] == ["body"]:
            loc = loc[1:]
        out.append((".".join(loc), d.get("msg", "")))
    return out


def health() -> dict:
    return get("/health")
