"""The dashboard's login: with a token configured, every page, asset and callback needs it.

A browser signs in once at /login with the API token; the cookie it gets holds an HMAC of the
token (never the token), HttpOnly and SameSite=Strict. Scripts may send `Authorization: Bearer
<token>` instead. Without a token the dashboard is open, like the API.
"""
from __future__ import annotations

import hashlib
import hmac
import html
from urllib.parse import quote

from flask import Flask, Response, redirect, request

COOKIE = "liplab_session"
FORM = """<!doctype html><title>liplab: sign in</title>
<form method="post" action="/login" style="margin:4em auto;max-width:24em;font-family:sans-serif">
<h2>liplab</h2><p>{message}</p>
<input type="hidden" name="next" value="{next}">
<input type="password" name="token" placeholder="API token (LIPLAB_TOKEN)" autofocus style="width:100%">
<button type="submit">Sign in</button></form>"""


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"liplab-dashboard-session", hashlib.sha256).hexdigest()


def _signed_in(token: str) -> bool:
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:].encode(), token.encode()):
        return True
    return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), session_value(token).encode())


def _local(target: str) -> str:
    """Only a path on this site may be the page after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def protect(server: Flask, token: str) -> None:
    """Refuse every request to `server` without the token: pages go to /login, the rest get 401."""

    def login() -> Response:
        nxt = _local(request.values.get("next", "/"))
        if request.method == "POST":
            if hmac.compare_digest(request.form.get("token", "").encode(), token.encode()):
                resp = redirect(nxt)
                resp.set_cookie(COOKIE, session_value(token), httponly=True, samesite="Strict")
                return resp
            return Response(FORM.format(message="Wrong token.", next=html.escape(nxt)), 401)
        return Response(FORM.format(message="Sign in with the API token.", next=html.escape(nxt)))

    server.add_url_rule("/login", "liplab_login", login, methods=["GET", "POST"])

    @server.before_request
    def _gate():  # noqa: ANN202
        if request.path == "/login" or _signed_in(token):
            return None
        if request.method == "GET" and not request.path.startswith(("/_dash", "/assets")):
            return redirect(f"/login?next={quote(request.full_path.rstrip('?'))}")
        return Response('{"detail": "sign in at /login"}', 401, mimetype="application/json")
