"""Routes whose plain query strings skip FastAPI's parameter machinery (the runs listing).

FastAPI solves a route's dependencies and validates each query parameter through pydantic on
every request: for GET /runs (seven parameters, the read-auth dependency) that was ~0.3 ms of the
~1.1 ms of server CPU a listing costs, the page the dashboards poll again and again. An endpoint
marked with `plain_query(...)` names a parser per parameter; when every parameter in the query
string is one of them, given once, and its parser takes it, the route runs the endpoint's checks
(auth) and then the endpoint with those values, directly. Anything else (a repeated or listed
parameter such as where=, a value the parser does not take) goes through FastAPI as before, so
its answers, 422s included, and the OpenAPI document are FastAPI's. A parser is stricter than
FastAPI's validation, never looser: what it takes, FastAPI takes with the same value.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Collection, Coroutine

from fastapi.routing import APIRoute
from pydantic.fields import FieldInfo
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

#: One parameter's text → its value; ValueError leaves the request to FastAPI.
Parser = Callable[[str], Any]
Check = Callable[[Request], Awaitable[None]]
DIGITS = re.compile(r"[0-9]{1,10}")


def bounded_int(lo: int, hi: int) -> Parser:
    """Plain decimal digits within [lo, hi] (no sign, space, underscore or exponent)."""
    def parse(text: str) -> int:
        if DIGITS.fullmatch(text) is None or not lo <= int(text) <= hi:
            raise ValueError(text)
        return int(text)
    return parse


def one_of(words: Collection[str]) -> Parser:
    def parse(text: str) -> str:
        if text not in words:
            raise ValueError(text)
        return text
    return parse


def matching(pattern: str) -> Parser:
    """The whole text matched by `pattern` (anchored; a trailing newline is not taken)."""
    regex = re.compile(pattern)

    def parse(text: str) -> str:
        if regex.fullmatch(text) is None:
            raise ValueError(text)
        return text
    return parse


@dataclass(frozen=True)
class PlainQuery:
    parsers: dict[str, Parser]
    checks: tuple[Check, ...]


def plain_query(*checks: Check, **parsers: Parser) -> Callable:
    """Mark an endpoint: its `checks` (the route's own dependencies, as awaitables of the
    request) and a parser for each query parameter it may take directly."""
    def mark(endpoint: Callable) -> Callable:
        endpoint.plain_query = PlainQuery(parsers, checks)  # type: ignore[attr-defined]
        return endpoint
    return mark


def plain_values(request: Request, plain: PlainQuery) -> dict[str, Any] | None:
    """The endpoint's arguments from a plain query string, or None: FastAPI must judge it."""
    items = request.query_params.multi_items()
    values: dict[str, Any] = {}
    for name, text in items:
        parse = plain.parsers.get(name)
        if parse is None or name in values:
            return None
        try:
            values[name] = parse(text)
        except ValueError:
            return None
    return values


def defaults(endpoint: Callable) -> dict[str, Any]:
    """The endpoint's parameter defaults as values (a `Query(50, ...)` default is 50)."""
    out = {}
    for name, p in inspect.signature(endpoint).parameters.items():
        d = p.default
        if isinstance(d, FieldInfo):
            d = d.get_default(call_default_factory=True)
        if d is not inspect.Parameter.empty:
            out[name] = d
    return out


class PlainQueryRoute(APIRoute):
    """An APIRoute that calls a `plain_query` endpoint directly when the query string is plain."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        plain: PlainQuery | None = getattr(self.endpoint, "plain_query", None)
        if plain is None:
            return handler
        endpoint, given = self.endpoint, defaults(self.endpoint)

        async def plain_handler(request: Request) -> Response:
            values = None if request.app.dependency_overrides else plain_values(request, plain)
            if values is None:
                return await handler(request)
            for check in plain.checks:
                await check(request)
            fresh = {k: v.copy() if isinstance(v, (list, dict, set)) else v for k, v in given.items()}
            return await run_in_threadpool(endpoint, request, **{**fresh, **values})
        return plain_handler
