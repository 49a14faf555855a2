"""The real Celery client: tasks are sent by name to the queue a run's device picks."""
from __future__ import annotations

import json

import pytest

from server.queue import Queue
from server.settings import Settings


def test_filesystem_broker_gets_named_tasks_and_counts_them(tmp_path):
    q = Queue(Settings(home=tmp_path))
    assert q.ping() == "ok"
    q.enqueue_run(7, "cpu")
    q.enqueue_probe(7, ["hessian"], {"k": 2}, "gpu")
    q.enqueue_run(8, "gpu")
    q.enqueue_pack([9, 10, 11], "cpu")
    q.enqueue_pack([12], "cpu")  # a pack of one is an ordinary run
    assert q.lengths() == {"gpu": 2, "cpu": 3}
    bodies = []
    for f in sorted((tmp_path / "broker" / "queue").iterdir()):
        msg = json.loads(f.read_text())
        bodies.append((msg["headers"]["task"], msg["headers"]["argsrepr"]))
    assert ("liplab.run", "[7]") in bodies and ("liplab.probe", "[7, ['hessian'], {'k': 2}]") in bodies
    assert ("liplab.pack", "[[9, 10, 11]]") in bodies and ("liplab.run", "[12]") in bodies


@pytest.mark.redis
def test_redis_broker_queue_lengths(redis_url, tmp_path):
    import redis

    q = Queue(Settings(home=tmp_path, broker_url=redis_url))
    redis.Redis.from_url(redis_url).delete("gpu", "cpu")
    q.enqueue_run(1, "gpu")
    q.enqueue_run(2, "gpu")
    assert q.ping() == "ok" and q.lengths() == {"gpu": 2, "cpu": 0}
    redis.Redis.from_url(redis_url).delete("gpu", "cpu")


def test_queue_for_follows_the_device():
    from server.crud import queue_for

    assert queue_for({"training": {"device": "cpu"}}) == "cpu"
    assert queue_for({"training": {"device": "auto"}}) == "gpu"
    assert queue_for({"training": {"device": "cuda:1"}}) == "gpu"
