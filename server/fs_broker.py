"""The embedded mode's broker: kombu's filesystem transport, where a message folder that is
briefly unavailable (a network share reconnecting, a folder moved and put back) is a pause.

kombu's own channel lets `FileNotFoundError` out of its poll, which ends the worker, and refuses a
publish at once. Here a missing folder reads as "no message yet", and a publish waits for the
folder (backoff 0.05 s doubling to 1 s, up to `PUBLISH_WAIT_S`) before it gives up. Selected with
`broker_transport = "server.fs_broker:Transport"` (`Settings.celery_config`).

kombu also writes a message under its final name and takes it with a rename, so a consumer
could take a file the producer had created and not yet written, read nothing and end the worker
on the JSON error (seen: a worker died under load as a sweep was submitted). Here a message is
written under a name no queue reads (`.<name>.part`) and renamed to its final name once whole.
"""
from __future__ import annotations

import os
import time
import uuid
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

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
                return self._put_whole(queue, payload)
            except ChannelError as exc:
                if not isinstance(exc.__cause__, FileNotFoundError) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(1.0, delay * 2)


    def _put_whole(self, queue, payload):  # noqa: ANN001, ANN202
        """kombu's `_put` (its file name: milliseconds, a uuid, the queue), the file renamed into
        place only once written."""
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        part = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            self._write(part, str_to_bytes(dumps(payload)))
            os.replace(part, final)
        except OSError as exc:
            try:
                os.unlink(part)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    @staticmethod
    def _write(path: str, data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data)


class Transport(filesystem.Transport):
    Channel = Channel
