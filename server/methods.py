"""405 answers that name every method the path allows, not only the first route's.

Starlette answers a method no route takes with the `Allow` header of the first route whose path
matched; `GET /runs` and `POST /runs` are two routes, so `DELETE /runs` would say `Allow: GET`.
This ASGI layer rewrites the header of a 405 from the app's OpenAPI paths (HEAD beside GET, as
Starlette serves it).
"""
from __future__ import annotations

import re
from typing import Any, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _regex(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


class AllowedMethods:
    def __init__(self, app: ASGIApp, document: Callable[[], dict[str, Any]]):
        self.app, self.document = app, document
        self._paths: list[tuple[re.Pattern[str], str]] | None = None

    def allowed(self, path: str) -> str:
        if self._paths is None:
            self._paths = []
            for p, item in self.document().get("paths", {}).items():
                methods = {m.upper() for m in item}
                methods |= {"HEAD"} if "GET" in methods else set()
                self._paths.append((_regex(p), ", ".join(sorted(methods))))
        return next((methods for regex, methods in self._paths if regex.match(path)), "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_allowed(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                allow = self.allowed(scope["path"]).encode()
                message = {**message, "headers": [*headers, (b"allow", allow)]}
            await send(message)

        await self.app(scope, receive, send_allowed)
