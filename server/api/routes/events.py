"""Server-Sent Events for a run and for a sweep.

With a Redis broker the stream relays the workers' pub/sub messages (`server.events`) and, every
5 × `LIPLAB_SSE_POLL_S`, sends what the store has that Redis did not (a worker that does not
publish still streams, more slowly); in the embedded mode it polls the store every
`LIPLAB_SSE_POLL_S`. Either way the stream opens with the
current status, carries `metrics` and `status` events (JSON in `data:`), and ends with `end` once
the run (or every run of the sweep) has finished; a stream open longer than `LIPLAB_SSE_MAX_S`
closes without `end`, and the client reconnects.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from server.api.deps import IdPath, ReadAuth
from server.events import run_channel, sweep_channel
from server.models import FINISHED, MetricPoint, Run, Sweep

router = APIRouter(tags=["events"])
PING_S = 15.0


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


class RunPoller:
    """What changed in one run since the last call: new points (per key) and its status."""

    def __init__(self, sessions, run_id: int):  # noqa: ANN001
        self.sessions, self.run_id = sessions, run_id
        self.last: dict[str, int] = {}
        self.status: str | None = None

    def seen(self, event: dict[str, Any]) -> None:
        """An event relayed from Redis: the next poll must not send it again."""
        if event.get("type") == "metrics":
            for k, s, _ in event.get("points", []):
                self.last[k] = max(int(s), self.last.get(k, int(s)))
        elif event.get("type") == "status":
            self.status = event.get("status")

    def poll(self) -> list[dict[str, Any]]:
        events = []
        with self.sessions() as db:
            run = db.get(Run, self.run_id)
            if run is None:
                return [{"type": "status", "run_id": self.run_id, "status": "deleted", "error": None}]
            floor = min(self.last.values()) if self.last else -(2**31)
            q = (select(MetricPoint.key, MetricPoint.step, MetricPoint.value)
                 .where(MetricPoint.run_id == self.run_id, MetricPoint.step > floor)
                 .order_by(MetricPoint.step, MetricPoint.key).limit(50_000))
            points = [[k, s, v] for k, s, v in db.execute(q) if s > self.last.get(k, -(2**31))]
            for k, s, _ in points:
                self.last[k] = max(s, self.last.get(k, s))
            if points:
                events.append({"type": "metrics", "run_id": self.run_id, "points": points})
            if run.status != self.status:
                self.status = run.status
                events.append({"type": "status", "run_id": self.run_id, "status": run.status,
                               "error": run.error})
        return events


class SweepPoller:
    """Status changes of a sweep's runs since the last call."""

    def __init__(self, sessions, sweep_id: int):  # noqa: ANN001
        self.sessions, self.sweep_id = sessions, sweep_id
        self.status: dict[int, str] = {}
        self.finished = False

    def seen(self, event: dict[str, Any]) -> None:
        if event.get("type") == "status" and "run_id" in event:
            self.status[event["run_id"]] = event.get("status")

    def poll(self) -> list[dict[str, Any]]:
        with self.sessions() as db:
            rows = db.execute(select(Run.id, Run.status, Run.error).where(Run.sweep_id == self.sweep_id)
                              .order_by(Run.id)).all()
        events = [{"type": "status", "run_id": i, "sweep_id": self.sweep_id, "status": s, "error": e}
                  for i, s, e in rows if self.status.get(i) != s]
        self.status = {i: s for i, s, _ in rows}
        self.finished = all(s in FINISHED for s in self.status.values())
        if events:
            counts: dict[str, int] = {}
            for s in self.status.values():
                counts[s] = counts.get(s, 0) + 1
            events.append({"type": "counts", "sweep_id": self.sweep_id, "counts": counts})
        return events


async def _redis_messages(url: str, channel: str, first: asyncio.Event) -> AsyncIterator[dict | None]:
    """Messages on `channel` as dicts, None every second without one (to let callers check)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    first.set()
    try:
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None:
                yield None
                continue
            try:
                yield json.loads(msg["data"])
            except (TypeError, ValueError):
                continue
    finally:
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()
        await client.aclose()


async def _stream(request: Request, poller, channel: str, done) -> AsyncIterator[str]:  # noqa: ANN001
    settings = request.app.state.settings
    url = settings.broker_url or ""
    live = url.startswith(("redis://", "rediss://"))
    for ev in await run_in_threadpool(poller.poll):  # the current state first
        yield _sse(ev)
    if done():
        return
    loop = asyncio.get_running_loop()
    last_beat = last_check = loop.time()
    closes_at = last_beat + settings.sse_max_s
    if live:
        subscribed = asyncio.Event()
        async for ev in _redis_messages(url, channel, subscribed):
            now = loop.time()
            if ev is not None:
                poller.seen(ev)
                yield _sse(ev)
            if now - last_beat > PING_S:
                yield ": ping\n\n"
                last_beat = now
            if now > closes_at:
                return
            if ev is not None and ev.get("type") == "status" or now - last_check > 5 * settings.sse_poll_s:
                last_check = now
                for missed in await run_in_threadpool(poller.poll):  # the store is the truth
                    yield _sse(missed)
                if done() or await request.is_disconnected():
                    yield _sse({"type": "end"})
                    return
        return
    while not await request.is_disconnected():
        await asyncio.sleep(settings.sse_poll_s)
        for ev in await run_in_threadpool(poller.poll):
            yield _sse(ev)
        now = loop.time()
        if now - last_beat > PING_S:
            yield ": ping\n\n"
            last_beat = now
        if done():
            yield _sse({"type": "end"})
            return
        if now > closes_at:
            return


def _exists(sessions, model, key: int) -> bool:  # noqa: ANN001
    with sessions() as db:
        return db.get(model, key) is not None


_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _poller(request: Request, model, what: str, key: int, make):  # noqa: ANN001
    """The poller of one run or sweep; 404 if it does not exist."""
    sessions = request.app.state.sessionmaker
    if not await run_in_threadpool(_exists, sessions, model, key):
        raise HTTPException(404, f"{what} {key} not found")
    return make(sessions, key)


def _response(request: Request, poller, channel: str, done) -> StreamingResponse:  # noqa: ANN001
    return StreamingResponse(_stream(request, poller, channel, done),
                             media_type="text/event-stream", headers=_HEADERS)


@router.get("/runs/{run_id}/events", dependencies=[ReadAuth],
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def run_events(run_id: IdPath, request: Request) -> StreamingResponse:
    """Server-Sent Events: the run's metric points and status changes as they happen."""
    poller = await _poller(request, Run, "run", run_id, RunPoller)
    return _response(request, poller, run_channel(run_id), lambda: poller.status in FINISHED + ("deleted",))


@router.get("/sweeps/{sweep_id}/events", dependencies=[ReadAuth],
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def sweep_events(sweep_id: IdPath, request: Request) -> StreamingResponse:
    """Server-Sent Events: status changes of the sweep's runs and the counts by status."""
    poller = await _poller(request, Sweep, "sweep", sweep_id, SweepPoller)
    return _response(request, poller, sweep_channel(sweep_id), lambda: poller.finished)
