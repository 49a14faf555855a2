"""Live events: what workers publish and the SSE routes stream.

Channels: `liplab:run:<id>` and `liplab:sweep:<id>`. Each message is JSON:
`{"type": "metrics", "run_id": 1, "after": {key: step}, "points": [[key, step, value], ...]}`
(`after`: per key, the step published just before these points), or the same points as
columns, `"steps": [s, ...], "values": {key: [v, ...]}` instead of `"points"` (what a
reporter publishes when every step logged the same keys: no list per point for it to encode),
or `{"type": "status", "run_id": 1, "status": "succeeded", "error": null}`. Non-finite
values are null. `event_points` reads a metrics message of either form as points; the SSE
routes send clients points only.
With a Redis broker events go over Redis pub/sub; in the embedded mode (no Redis) `publish` is
a no-op and the SSE routes poll the database instead.
"""
from __future__ import annotations

import json
from typing import Any

from server.settings import Settings


def column_points(event: dict[str, Any]) -> list[list]:
    """The points of a columns message, step by step, each step's keys in the message's order
    (the order the reporter logged them in)."""
    values = event.get("values") or {}
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
