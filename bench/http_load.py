"""Closed-loop HTTP/1.1 GET load: `clients` keep-alive connections, each sending its next request
once the previous answer has been read in full, timing each request as the client sees it.

bench/api.py measured with httpx's AsyncClient, which spends ~1.1–1.2 ms of CPU per request of
its own: on the 2-core box that also runs the server and PostgreSQL, that is a sixth to a
third of the CPU a listing costs, taken by the client measuring it (wrk, a C client, served
1.7–2.3× the requests/s of httpx at 10 connections). This client writes the request bytes and
reads the status line, the headers and exactly Content-Length bytes of body, 0.1–0.15 ms of CPU
per request: every answer is read whole, nothing is cached or skipped. Answers without a
Content-Length (chunked) are refused, the API's JSON answers always carry one.
"""
from __future__ import annotations

import asyncio
import time
from urllib.parse import quote, urlsplit


class LoadError(RuntimeError):
    """A non-2xx answer or one this client cannot frame."""


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 answer on a kept-alive connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].split(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
    if b"content-length" not in headers:
        raise LoadError(f"answer {status} without Content-Length: {headers}")
    return status, await reader.readexactly(int(headers[b"content-length"]))


async def one_client(url: str, n: int, latencies: list[float]) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    # percent-encoded as httpx sends it: `where=tags contains x` has spaces, filters have < and >
    target = quote(parts.path + (f"?{parts.query}" if parts.query else ""), safe="/?&=%:+,;@!$'()*~")
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: */*\r\n\r\n".encode()
    try:
        for _ in range(n):
            t = time.perf_counter()
            writer.write(request)
            status, body = await read_answer(reader)
            latencies.append(time.perf_counter() - t)
            if not 200 <= status < 300:
                raise LoadError(f"GET {target}: {status} {body[:200]!r}")
    finally:
        writer.close()


async def load(url: str, clients: int, requests: int) -> list[float]:
    """Per-request latencies (s) of `requests` GETs of `url` over `clients` connections."""
    latencies: list[float] = []
    per = [requests // clients + (i < requests % clients) for i in range(clients)]
    await asyncio.gather(*(one_client(url, k, latencies) for k in per if k))
    return latencies
