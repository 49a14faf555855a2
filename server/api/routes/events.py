"""Server-Sent Events for a run and for a sweep.

With a Redis broker the stream relays the workers' pub/sub messages (`server.events`) and, every
5 × `LIPLAB_SSE_POLL_S`, sends what the store has that Redis did not (a worker that does not
publish still streams, more slowly); in the embedded mode it polls the store every
`LIPLAB_SSE_POLL_S`. Either way the stream opens with the
current status, carries `metrics` and `status` events (JSON in `data:`), and ends with `end` once
the run (or every run of the sweep) has finished; a stream open longer than `LIPLAB_SSE_MAX_S`
closes without `end`, and the client reconnects.

Resuming: each run event carries an `id:`, the last step sent of every key
(`train_loss=96;test_loss=96`). A client that reconnects with that id in `Last-Event-ID` (browsers'
EventSource do it by themselves, after the `retry:` delay) gets the points after it, none twice,
even from an API process started again meanwhile: the store is the truth, not the process. A
sweep stream opens with every run's current status, so a reconnect needs no id.
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
from server.events import POINT_FIELDS, event_points, run_channel, sweep_channel
from server.models import FINISHED, MetricPoint, Run, Sweep
from server.query import METRIC_NAME

router = APIRouter(tags=["events"])
PING_S = 15.0
RETRY_MS = 1000  # how long a browser waits before it reconnects
MAX_HELD = 10_000  # relayed events kept while waiting for the store; past it the store alone fills in


def _sse(event: dict[str, Any], cursor: str | None = None) -> str:
    head = f"id: {cursor}\n" if cursor is not None else ""
    return f"{head}event: {event['type']}\ndata: {json.dumps(event)}\n\n"


def cursor_text(last: dict[str, int]) -> str:
    """The last step sent per key as an event id: `key=step;key=step` (keys never hold ; or =)."""
    return ";".join(f"{k}={s}" for k, s in sorted(last.items()))


def parse_cursor(text: str | None) -> dict[str, int]:
    """`Last-Event-ID` back to {key: step}; anything malformed counts as no id (all is sent)."""
    out: dict[str, int] = {}
    for part in (text or "").split(";"):
        key, sep, step = part.partition("=")
        if not sep or not METRIC_NAME.match(key):
            return {}
        try:
            out[key] = int(step)
        except ValueError:
            return {}
    return out


class RunPoller:
    """What changed in one run since the last call: new points (per key) and its status."""

    def __init__(self, sessions, run_id: int, last: dict[str, int] | None = None):  # noqa: ANN001
        self.sessions, self.run_id = sessions, run_id
        self.last: dict[str, int] = dict(last or {})  # what the client has, from Last-Event-ID
        self.status: str | None = None
        self.held: list[tuple[dict[str, int], list]] = []  # relayed (after, points) past a gap

    @property
    def behind(self) -> bool:
        """Relayed points wait for the store to fill a gap: poll it soon."""
        return bool(self.held)

    def cursor(self) -> str:
        return cursor_text(self.last)

    def fresh(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """An event relayed from Redis (either form of `server.events`, sent on as `points`), less
        the points the client already has; points of a key the client would get with a gap
        before them (the event's `after[key]`, the step just before its first point, is past
        what the client has) are held until the next poll has read the steps between from the
        store. None if nothing is left to send now."""
        if event.get("type") == "metrics":
            points = self._sendable(event.get("after") or {}, event_points(event))
            rest = {k: v for k, v in event.items() if k not in POINT_FIELDS}
            return {**rest, "points": points} if points else None
        if event.get("type") == "status":
            self.status = event.get("status")
        return event

    def _sendable(self, after: dict[str, int], points: list) -> list:
        """The points that follow what the client has (marked sent); the rest of the new ones held."""
        floor = -(2**31)
        new = [p for p in points if int(p[1]) > self.last.get(p[0], floor)]
        # A key the client has nothing of is "up to step -1": a reporter's first event says
        # after = -1 (its skip_until), so the first points of a fresh series pass at once
        # instead of waiting for the store; a resumed reporter's after is its last stored step.
        ok = [p for p in new if int(after.get(p[0], floor)) <= self.last.get(p[0], -1)]
        if len(ok) < len(new) and len(self.held) < MAX_HELD:
            self.held.append((after, [p for p in new if p not in ok]))
        for k, s, _ in ok:
            self.last[k] = max(int(s), self.last.get(k, int(s)))
        return ok

    def _release(self) -> list:
        """Held points that now follow what the client has, in the order they were published."""
        held, self.held, out = self.held, [], []
        for after, points in held:
            out += self._sendable(after, points)
        return out

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
            points += self._release()
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
        self.behind = False

    def cursor(self) -> None:
        return None

    def fresh(self, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("type") == "status" and "run_id" in event:
            self.status[event["run_id"]] = event.get("status")
        return event

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


async def _redis_messages(url: str, channel: str) -> AsyncIterator[dict | None]:
    """Messages on `channel` as dicts, None every second without one (to let callers check).

    The first None comes once subscribed: what is published after it is not missed."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    try:
        yield None
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
    messages = _redis_messages(url, channel) if url.startswith(("redis://", "rediss://")) else None
    try:
        if messages is not None:
            await anext(messages)  # subscribed before the store is read: no gap between the two
        yield f"retry: {RETRY_MS}\n\n"
        for ev in await run_in_threadpool(poller.poll):  # the current state first
            yield _sse(ev, poller.cursor())
        if done():
            return
        async for chunk in (_relay(request, poller, messages, done) if messages is not None
                            else _poll(request, poller, done)):
            yield chunk
    finally:
        if messages is not None:
            await messages.aclose()


async def _relay(request: Request, poller, messages, done) -> AsyncIterator[str]:  # noqa: ANN001
    """Redis events as they come (each point once: what the store already gave is dropped), and
    every 5 × sse_poll_s what the store has that Redis did not (every sse_poll_s while points
    are held for a gap; once the store has filled it, the held points follow and the relay is
    live again)."""
    settings = request.app.state.settings
    loop = asyncio.get_running_loop()
    last_beat = last_check = loop.time()
    closes_at = last_beat + settings.sse_max_s
    async for ev in messages:
        now = loop.time()
        fresh = poller.fresh(ev) if ev is not None else None
        if fresh is not None:
            yield _sse(fresh, poller.cursor())
        if now - last_beat > PING_S:
            yield ": ping\n\n"
            last_beat = now
        if now > closes_at:
            return
        every = settings.sse_poll_s * (1 if poller.behind else 5)
        if ev is not None and ev.get("type") == "status" or now - last_check > every:
            last_check = now
            for missed in await run_in_threadpool(poller.poll):  # the store is the truth
                yield _sse(missed, poller.cursor())
            if done() or await request.is_disconnected():
                yield _sse({"type": "end"})
                return


async def _poll(request: Request, poller, done) -> AsyncIterator[str]:  # noqa: ANN001
    """The embedded mode: the store every sse_poll_s."""
    settings = request.app.state.settings
    loop = asyncio.get_running_loop()
    last_beat = loop.time()
    closes_at = last_beat + settings.sse_max_s
    while not await request.is_disconnected():
        await asyncio.sleep(settings.sse_poll_s)
        for ev in await run_in_threadpool(poller.poll):
            yield _sse(ev, poller.cursor())
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
    last = parse_cursor(request.headers.get("last-event-id"))
    poller = await _poller(request, Run, "run", run_id,
                           lambda sessions, key: RunPoller(sessions, key, last))
    return _response(request, poller, run_channel(run_id), lambda: poller.status in FINISHED + ("deleted",))


@router.get("/sweeps/{sweep_id}/events", dependencies=[ReadAuth],
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def sweep_events(sweep_id: IdPath, request: Request) -> StreamingResponse:
    """Server-Sent Events: status changes of the sweep's runs and the counts by status."""
    poller = await _poller(request, Sweep, "sweep", sweep_id, SweepPoller)
    return _response(request, poller, sweep_channel(sweep_id), lambda: poller.finished)
