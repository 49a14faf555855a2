"""Live events: what workers publish and the SSE routes stream.

Channels: `liplab:run:<id>` and `liplab:sweep:<id>`. Each message is JSON:
`{"type": "metrics", "run_id": 1, "after": {key: step}, "points": [[key, step, value], ...]}`
(`after`: per key, the step published just before these points; non-finite values null), or
the same points as columns, `"steps": [s, ...], "values": {key: "…"}` instead of `"points"`,
each key's values its doubles packed (`pack_doubles`: base64 of little-endian float64, NaN and
infinities as they are): what a reporter publishes when every step logged the same keys, so
its flusher formats no float (a JSON float's `repr` was most of a publish's CPU). Or
`{"type": "status", "run_id": 1, "status": "succeeded", "error": null}`. `event_points` reads
a metrics message of either form as points (non-finite values None); the SSE routes send
clients points only.
With a Redis broker events go over Redis pub/sub; in the embedded mode (no Redis) `publish` is
a no-op and the SSE routes poll the database instead.
"""
from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

from server.settings import Settings


def pack_doubles(values: list[float]) -> str:
    """n floats as base64 of 8n bytes, little-endian float64: exact, non-finite ones included."""
    return base64.b64encode(struct.pack(f"<{len(values)}d", *values)).decode("ascii")


def unpack_doubles(text: str) -> list[float | None]:
    """`pack_doubles` back, non-finite values None (as JSON clients get them)."""
    raw = base64.b64decode(text)
    values = struct.unpack(f"<{len(raw) // 8}d", raw)
    if math.isfinite(sum(values)):  # NaN or inf somewhere (or an overflow of the sum)
        return list(values)
    return [v if math.isfinite(v) else None for v in values]


def column_points(event: dict[str, Any]) -> list[list]:
    """The points of a columns message, step by step, each step's keys in the message's order
    (the order the reporter logged them in)."""
    values = {k: unpack_doubles(v) for k, v in (event.get("values") or {}).items()}
    keys = list(values)
    return [[k, s, v] for s, *vs in zip(event["steps"], *values.values()) for k, v in zip(keys, vs)]


POINT_FORMS = {"steps": column_points, "points": lambda event: event["points"]}  # field → reader
POINT_FIELDS = ("steps", "values", "points")  # what carries a message's points, in either form


def event_points(event: dict[str, Any]) -> list[list]:
    """A metrics message's [key, step, value] points, whichever form it came in."""
    return next((read(event) for field, read in POINT_FORMS.items() if field in event), [])


def run_channel(run_id: int) -> str:
    return f"liplab:run:{run_id}"


def sweep_channel(sweep_id: int) -> str:
    return f"liplab:sweep:{sweep_id}"


class EventBus:
    def __init__(self, settings: Settings):
        url = settings.broker_url or ""
        self.redis = None
        if url.startswith(("redis://", "rediss://")):
            import redis

            self.redis = redis.Redis.from_url(url, socket_timeout=2)

    @property
    def live(self) -> bool:
        return self.redis is not None

    def publish(self, event: dict[str, Any], run_id: int, sweep_id: int | None = None) -> None:
        """Best effort: a lost live event is recovered from the store by polling clients."""
        if self.redis is None:
            return
        data = json.dumps(event)
        try:
            self.redis.publish(run_channel(run_id), data)
            if sweep_id is not None:
                self.redis.publish(sweep_channel(sweep_id), data)
        except Exception:  # noqa: BLE001 - events are advisory; the store is the truth
            pass
