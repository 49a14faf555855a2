"""A small REST client for the dashboard's callbacks (the API base URL is set by create_app)."""
from __future__ import annotations

import os
from typing import Any

import httpx

_state = {"url": os.environ.get("LIPLAB_URL", "http://127.0.0.1:8000"),
          "token": os.environ.get("LIPLAB_TOKEN")}


def configure(api_url: str, token: str | None = None) -> None:
    _state["url"], _state["token"] = api_url.rstrip("/"), token


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {_state['token']}"} if _state["token"] else {}


def get(path: str, **params: Any) -> Any:
    params = {k: v for k, v in params.items() if v is not None}
    r = httpx.get(f"{_state['url']}/api/v1{path}", params=params, headers=_headers(), timeout=10)
    r.raise_for_status()
    return r.json()


def post(path: str, body: Any = None) -> httpx.Response:
    return httpx.post(f"{_state['url']}/api/v1{path}", json=body, headers=_headers(), timeout=30)
