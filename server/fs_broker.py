"""The embedded mode's broker: kombu's filesystem transport, where a message folder that is
briefly unavailable (a network share reconnecting, a folder moved and put back) is a pause.

kombu's own channel lets `FileNotFoundError` out of its poll, which ends the worker, and refuses a
publish at once. Here a missing folder reads as "no message yet", and a publish waits for the
folder (backoff 0.05 s doubling to 1 s, up to `PUBLISH_WAIT_S`) before it gives up. Selected with
`broker_transport = "server.fs_broker:Transport"` (`Settings.celery_config`).
"""
from __future__ import annotations

import time
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem

PUBLISH_WAIT_S = 30.0


class Channel(filesystem.Channel):
    def _get(self, queue):  # noqa: ANN001, ANN202 - kombu's signature
        try:
            return super()._get(queue)
        except FileNotFoundError:
            raise Empty() from None  # the folder is away: nothing to read until it is back

    def _size(self, queue):  # noqa: ANN001, ANN202
        try:
            return super()._size(queue)
        except FileNotFoundError:
            return 0

    def _put(self, queue, payload, **kwargs):  # noqa: ANN001, ANN003, ANN202
        deadline, delay = time.monotonic() + PUBLISH_WAIT_S, 0.05
        while True:
            try:
                return super()._put(queue, payload, **kwargs)
            except ChannelError as exc:
                if not isinstance(exc.__cause__, FileNotFoundError) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(1.0, delay * 2)


class Transport(filesystem.Transport):
    Channel = Channel
