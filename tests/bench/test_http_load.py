"""bench/http_load.py against a scripted HTTP/1.1 server: every answer is read whole on kept-alive
connections, targets go out percent-encoded, and an error or an unframed answer stops the load."""
from __future__ import annotations

import asyncio

import pytest

from bench.http_load import LoadError, load

BODY = b'{"items":[' + b"x" * 70_000 + b"]}"  # larger than one read: framed by Content-Length


async def serve(answer: bytes, seen: list[bytes], connections: list[int]):  # noqa: ANN201
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(head.split(b"\r\n", 1)[0])
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def run(answer: bytes, url_path: str, clients: int, requests: int) -> tuple[list[float], list[bytes], int]:
    seen: list[bytes] = []
    connections: list[int] = []

    async def main() -> list[float]:
        server = await serve(answer, seen, connections)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await load(f"http://127.0.0.1:{port}{url_path}", clients, requests)

    return asyncio.run(main()), seen, len(connections)


def ok(body: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body


def test_every_answer_is_read_whole_on_kept_alive_connections():
    latencies, seen, connections = run(ok(BODY), "/api/v1/runs?limit=50", clients=3, requests=10)
    assert len(latencies) == 10 and all(t > 0 for t in latencies)
    assert connections == 3 and seen == [b"GET /api/v1/runs?limit=50 HTTP/1.1"] * 10


def test_targets_go_out_percent_encoded():
    _, seen, _ = run(ok(b"{}"), "/api/v1/runs?limit=50&where=tags contains x&where=a<0.5", 1, 1)
    assert seen == [b"GET /api/v1/runs?limit=50&where=tags%20contains%20x&where=a%3C0.5 HTTP/1.1"]


@pytest.mark.parametrize("answer", [ok(b'{"detail":"no"}', b"422 Unprocessable Entity"),
                                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"])
def test_an_error_or_an_unframed_answer_stops_the_load(answer):
    with pytest.raises(LoadError):
        run(answer, "/x", 1, 3)
