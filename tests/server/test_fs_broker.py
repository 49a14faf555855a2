"""The embedded broker's messages: a consumer never takes one that is still being written."""
from __future__ import annotations

from queue import Empty

import pytest
from kombu import Connection

from server import fs_broker


@pytest.fixture
def channel(tmp_path):
    with Connection(transport="server.fs_broker:Transport",
                    transport_options={"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path),
                                       "processed_folder": str(tmp_path / "done")}) as conn:
        (tmp_path / "done").mkdir()
        yield conn.default_channel


def test_a_message_being_written_is_not_there_for_a_consumer(channel, monkeypatch):
    """Oracle: a consumer polling while the producer writes finds nothing (kombu's own put made
    the file under its final name first: the consumer took it empty and died on the JSON)."""
    seen = []
    write = fs_broker.Channel._write

    def write_while_polled(path: str, data: bytes) -> None:
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])  # half of it on disk, as a slow write leaves it
            f.flush()
            try:
                seen.append(channel._get("q"))
            except Empty:
                seen.append("empty")
        write(path, data)

    monkeypatch.setattr(fs_broker.Channel, "_write", staticmethod(write_while_polled))
    channel._put("q", {"body": "x" * 10_000, "n": 1})
    assert seen == ["empty"]
    assert channel._size("q") == 1
    assert channel._get("q") == {"body": "x" * 10_000, "n": 1}
    assert channel._size("q") == 0
