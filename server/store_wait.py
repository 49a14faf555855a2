"""The API during a store outage: reads wait a little, then 503 with `Retry-After`, never a 500.

`unavailable_503` turns an error that `server.outage.store_unavailable` recognises into
`503 Service Unavailable` with `Retry-After` (a client knows when to come back). Around
every route, `StoreWait` (pure ASGI) tries a GET or HEAD again with backoff (0.1 s doubling to
1 s) for up to `LIPLAB_STORE_WAIT_S` (10 s) while the answer is that 503, so a reader polling
through a PostgreSQL restart of a few seconds sees a slow answer rather than an error. Writes are
not repeated (a commit that failed half-way is the client's to retry), they get the 503 at once.
"""
from __future__ import annotations

import asyncio
import time

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.outage import store_unavailable

RETRY_AFTER_S = 5


async def unavailable_503(_request: Request, exc: Exception) -> JSONResponse:
    if not store_unavailable(exc):
        raise exc
    return JSONResponse(status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)},
                        content={"detail": "the database is unavailable; retry shortly"})


def _is_outage(message: Message) -> bool:
    return (message["type"] == "http.response.start" and message["status"] == 503
            and any(k.lower() == b"retry-after" for k, _ in message.get("headers", [])))


class StoreWait:
    """Repeats a GET/HEAD answered with the outage 503 until `wait_s` has passed."""

    def __init__(self, app: ASGIApp, wait_s: float):
        self.app, self.wait_s = app, wait_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or self.wait_s <= 0:
            await self.app(scope, receive, send)
            return
        deadline, delay, first = time.monotonic() + self.wait_s, 0.1, True
        while True:
            held: list[Message] = []
            request = receive if first else _replay_empty_body(receive)
            first = False

            async def hold_outage(message: Message) -> None:
                if held or _is_outage(message):
                    held.append(message)
                else:
                    await send(message)

            await self.app(scope, request, hold_outage)
            if not held or time.monotonic() + delay > deadline:
                for message in held:
                    await send(message)
                return
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)


def _replay_empty_body(receive: Receive) -> Receive:
    """For a repeated GET: its (empty) body once more, then the client's own messages (the
    first attempt consumed the body; waiting on the client again would wait for it to leave)."""
    pending = [{"type": "http.request", "body": b"", "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
