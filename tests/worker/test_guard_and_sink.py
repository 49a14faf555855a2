"""The run guard (heartbeat, cancel, hard stop, lost ownership) and the batching DB reporter."""
from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from server import lifecycle
from server.events import event_points, unpack_doubles
from server.models import Artifact, MetricPoint, Run
from worker.guard import HardCancel, RunGuard
from worker.resume import last_stored_step
from worker.sink import DBReporter, flush_together


@pytest.fixture
def claimed(sessions):
    with sessions() as db:
        run = Run(name="r", config={}, status="queued", summary={})
        db.add(run)
        db.commit()
        assert lifecycle.claim(db, run_id=run.id, worker="me")
        return sessions, run.id


def set_cancel(sessions, run_id):
    with sessions() as db:
        db.get(Run, run_id).cancel_requested = 1
        db.commit()


def test_guard_heartbeats_and_sees_a_cancel(claimed):
    sessions, run_id = claimed
    with sessions() as db:
        first = db.get(Run, run_id).heartbeat_at
    with RunGuard(sessions, run_id, "me", heartbeat_s=0.05, cancel_grace_s=60) as guard:
        time.sleep(0.3)
        assert not guard.should_stop()
        set_cancel(sessions, run_id)
        deadline = time.monotonic() + 5
        while not guard.should_stop() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert guard.reason == "cancelled"
    with sessions() as db:
        assert db.get(Run, run_id).heartbeat_at > first


def test_guard_raises_hard_cancel_in_a_loop_that_ignores_should_stop(claimed):
    sessions, run_id = claimed
    set_cancel(sessions, run_id)
    t0 = time.monotonic()
    with pytest.raises(HardCancel):
        with RunGuard(sessions, run_id, "me", heartbeat_s=0.05, cancel_grace_s=0.3):
            while time.monotonic() - t0 < 20:  # a "step" that never checks should_stop()
                sum(range(1000))
    assert time.monotonic() - t0 < 10


def test_guard_notices_when_the_run_was_taken_from_it(claimed):
    sessions, run_id = claimed
    with RunGuard(sessions, run_id, "me", heartbeat_s=0.05) as guard:
        with sessions() as db:  # the reaper requeued it and another worker claimed it
            db.get(Run, run_id).worker = "other"
            db.commit()
        deadline = time.monotonic() + 5
        while not guard.should_stop() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert guard.reason == "lost"


def test_guard_stops_for_a_worker_shutdown(claimed):
    sessions, run_id = claimed
    shutdown = threading.Event()
    with RunGuard(sessions, run_id, "me", heartbeat_s=10, shutdown=shutdown) as guard:
        assert not guard.should_stop()
        shutdown.set()
        assert guard.should_stop() and guard.reason == "shutdown"


class ListBus:
    def __init__(self):
        self.events = []

    def publish(self, event, run_id, sweep_id=None):
        self.events.append((event, run_id, sweep_id))


def count(sessions, run_id):
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id))


def test_reporter_batches_by_count_and_by_time_and_publishes(claimed):
    sessions, run_id = claimed
    bus = ListBus()
    rep = DBReporter(sessions, run_id, bus=bus, sweep_id=None, max_points=4, max_wait_s=0.2,
                     live_every_s=0.0)
    rep.log({"a": 1.0, "b": 2.0}, 1)
    assert count(sessions, run_id) == 0 and len(bus.events) == 1  # live before stored
    rep.log({"a": 1.5, "b": float("nan")}, 2)  # 4 points: a batch
    assert count(sessions, run_id) == 4
    rep.log({"a": 3.0}, 3)
    assert count(sessions, run_id) == 4
    time.sleep(0.25)
    rep.log({"a": 4.0}, 4)  # the time limit has passed: flushed
    assert count(sessions, run_id) == 6
    points = [p for e, _, _ in bus.events for p in event_points(e)]
    assert ["b", 2, None] in points and len(points) == 6
    with sessions() as db:
        assert db.get(Run, run_id).summary["a"]["last"] == 4.0


def test_reporter_skips_stored_steps_on_resume_and_upserts_the_last(claimed):
    sessions, run_id = claimed
    rep = DBReporter(sessions, run_id, max_points=1)
    for step in range(1, 6):
        rep.log({"loss": float(step)}, step)
    with sessions() as db:
        done = last_stored_step(db, run_id)
    assert done == 5
    again = DBReporter(sessions, run_id, max_points=1, skip_until=done - 1)
    for step in range(1, 8):  # a replay from the start, then new steps
        again.log({"loss": float(step) * 10 if step > 5 else float(step)}, step)
    again.flush()
    assert again.written == 3  # steps 5 (rewritten, same value), 6 and 7
    with sessions() as db:
        rows = db.execute(select(MetricPoint.step, MetricPoint.value)
                          .where(MetricPoint.run_id == run_id).order_by(MetricPoint.step)).all()
    assert [tuple(r) for r in rows] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0),
                                        (6, 60.0), (7, 70.0)]
    again.resumed(7)
    again.log({"loss": 0.0}, 7)
    again.flush()
    assert again.written == 3


def test_artifacts_are_recorded_once(claimed):
    sessions, run_id = claimed
    rep = DBReporter(sessions, run_id)
    rep.artifact("ckpt", "/x/ckpt.pt", "checkpoint")  # waits for the next batch of points
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(Artifact)) == 0
    rep.log({"loss": 1.0}, 1)
    rep.artifact("ckpt", "/x/ckpt.pt", "checkpoint")
    rep.flush()
    DBReporter(sessions, run_id).artifact("fig", "/x/fig.png", "figure")  # stored at once
    with sessions() as db:
        assert sorted(db.scalars(select(Artifact.name))) == ["ckpt", "fig"]
        assert db.scalar(select(func.count()).select_from(MetricPoint)) == 1


def new_run(sessions) -> int:
    with sessions() as db:
        run = Run(name="r", config={}, status="running", summary={})
        db.add(run)
        db.commit()
        return run.id


def test_reporters_flushed_together_store_all_their_points_or_none(claimed):
    sessions, run_id = claimed
    other = new_run(sessions)
    bus = ListBus()
    a = DBReporter(sessions, run_id, bus=bus, max_wait_s=float("inf"), live_every_s=60)
    b = DBReporter(sessions, other, bus=bus, max_wait_s=float("inf"), live_every_s=60)
    a.log({"loss": 1.0}, 1)
    b.log({"loss": 2.0, "acc": 0.5}, 1)
    b.artifact("ckpt", "/x/1.pt", "checkpoint")
    assert count(sessions, run_id) == count(sessions, other) == 0
    flush_together([a, b])
    assert (count(sessions, run_id), count(sessions, other)) == (1, 2)
    assert (a.written, b.written) == (1, 2) and a.buffer == b.buffer == []
    assert sorted(run for _, run, _ in bus.events) == [run_id, other]  # published after storing
    with sessions() as db:
        assert db.get(Run, other).summary["loss"]["last"] == 2.0
        assert list(db.scalars(select(Artifact.run_id))) == [other]
    gone = DBReporter(sessions, 10_000)  # no such run: the whole batch fails
    a.log({"loss": 3.0}, 2)
    gone.log({"loss": 4.0}, 2)
    with pytest.raises(LookupError):
        flush_together([a, gone])
    assert count(sessions, run_id) == 1 and a.pending() == [("loss", 2, 3.0)]


class RecordingBus:
    def __init__(self):
        self.events, self.threads = [], set()

    def publish(self, event, run_id, sweep_id):
        self.events.append(event)
        self.threads.add(threading.current_thread().name)


def test_background_reporter_writes_and_publishes_off_the_training_thread(claimed):
    """`background=True` (the worker's runs): `log()` never writes nor publishes itself; the
    flusher stores each due batch and the live events, and `flush()` leaves nothing behind."""
    sessions, run_id = claimed
    bus = RecordingBus()
    rep = DBReporter(sessions, run_id, bus=bus, max_points=10, max_wait_s=0.05, live_every_s=0.01,
                     background=True)
    writes = []
    rep._write = lambda then, _w=rep._write: writes.append(threading.current_thread().name) or _w(then)
    for step in range(40):
        rep.log({"loss": float(step), "acc": 0.5}, step)
    deadline = time.monotonic() + 30
    while rep.written < 20 and time.monotonic() < deadline:  # the flusher's batches, unasked
        time.sleep(0.01)
    assert rep.written >= 20 and writes and set(writes) == {f"liplab-reporter-{run_id}"}
    rep.flush()
    assert rep.written == 80 and writes[-1] == threading.current_thread().name
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id)) == 80
    sent = sorted({s for e in bus.events for _, s, _ in event_points(e)})
    assert sent == list(range(40)) and f"liplab-reporter-{run_id}" in bus.threads


def test_background_reporter_hands_its_error_to_the_next_log(sessions):
    rep = DBReporter(sessions, 10_000, max_points=1, background=True)  # no such run
    rep.log({"loss": 1.0}, 1)
    deadline = time.monotonic() + 30
    while rep.failure is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(LookupError):
        rep.log({"loss": 2.0}, 2)
    assert len(rep.buffer) == 2  # kept: nothing was stored


def test_log_keeps_the_values_as_they_were_when_logged(claimed):
    """`log()` keeps the dict, not its points: a caller reusing its dict changes nothing stored."""
    sessions, run_id = claimed
    bus = ListBus()
    rep = DBReporter(sessions, run_id, bus=bus, max_wait_s=float("inf"), live_every_s=60)
    values = {"loss": 1.0}
    rep.log(values, 1)
    values["loss"], values["acc"] = 2.0, 0.5
    rep.log(values, 2)
    values.clear()
    assert rep.pending() == [("loss", 1, 1.0), ("loss", 2, 2.0), ("acc", 2, 0.5)]
    rep.flush()
    with sessions() as db:
        rows = db.execute(select(MetricPoint.key, MetricPoint.step, MetricPoint.value)
                          .where(MetricPoint.run_id == run_id).order_by(MetricPoint.step, MetricPoint.key)).all()
    assert [tuple(r) for r in rows] == [("loss", 1, 1.0), ("acc", 2, 0.5), ("loss", 2, 2.0)]
    assert [p for e, _, _ in bus.events for p in event_points(e)] == [["loss", 1, 1.0], ["loss", 2, 2.0], ["acc", 2, 0.5]]


@pytest.mark.parametrize("background", [False, True])
def test_a_value_that_is_no_number_fails_at_the_log_call_naming_its_key(claimed, background):
    """Values become floats in `log()`, so a bad one is refused by the call that logged it
    (naming the key and step), not by a later flush; the points logged before it are kept."""
    sessions, run_id = claimed
    rep = DBReporter(sessions, run_id, bus=ListBus(), max_wait_s=float("inf"), live_every_s=60,
                     background=background)
    rep.log({"loss": 1.0}, 1)
    for bad in ("high", None, [0.5]):
        with pytest.raises(ValueError, match=r"metric 'acc' at step 2: .* is not a number"):
            rep.log({"loss": 2.0, "acc": bad}, 2)
    rep.log({"loss": 3, "acc": "0.25"}, 3)  # an int or a numeric string is a number
    assert rep.pending() == [("loss", 1, 1.0), ("loss", 3, 3.0), ("acc", 3, 0.25)]
    assert all(type(v) is float for _, _, v in rep.pending())
    rep.flush()
    assert count(sessions, run_id) == 3


@pytest.mark.parametrize("entries", [
    [(1, {"a": 1.0, "b": 2.0}), (2, {"b": 3.0, "a": 4.0}), (2, {"a": 5.0, "b": 6.0})],  # same keys, step again
    [(1, {"a": 1.0}), (2, {"a": 2.0, "b": 3.0}), (1, {"b": 4.0, "a": 7.0}), (3, {})],  # keys that vary
    [],
])
def test_series_of_entries_matches_the_points(entries):
    """The reporter's columnar grouping equals `server.metrics.series_of` of its points (the
    definition: points in logging order, a later one of the same (key, step) wins)."""
    from server.metrics import series_of as of_points
    from worker.sink import points_of, series_of

    assert series_of(entries) == dict(of_points(points_of(entries)))


@pytest.mark.parametrize("keys_vary", [False, True])
def test_live_events_mark_non_finite_values_and_follow_the_newest_step(claimed, keys_vary):
    """A live event's non-finite values are None (JSON has no NaN), and its `after` is, per
    key, the highest step an earlier event sent, even when steps came out of order."""
    sessions, run_id = claimed
    bus = ListBus()
    rep = DBReporter(sessions, run_id, bus=bus, max_wait_s=float("inf"), live_every_s=60)
    rep.log({"a": 1.0, "b": float("nan")}, 3)
    rep.log({"a": 2.0, "b": float("inf")} if not keys_vary else {"a": 2.0}, 1)
    rep.publish()
    rep.log({"a": 0.0, "b": 0.0}, 4)
    rep.publish()
    first, second = (e for e, _, _ in bus.events)
    assert event_points(first) == [["a", 3, 1.0], ["b", 3, None]] + (
        [["a", 1, 2.0], ["b", 1, None]] if not keys_vary else [["a", 1, 2.0]])
    assert first["after"] == {"a": -1, "b": -1} and second["after"] == {"a": 3, "b": 3}
    json.dumps(first, allow_nan=False)  # valid JSON: no NaN or Infinity token


@pytest.mark.parametrize("keys_vary", [False, True])
def test_live_events_are_columns_when_every_step_logged_the_same_keys(claimed, keys_vary):
    """A training loop's usual log (the same keys every step) goes out as columns, one list per
    key; steps with varying keys as points; both read back as the points in logging order."""
    sessions, run_id = claimed
    bus = ListBus()
    rep = DBReporter(sessions, run_id, bus=bus, max_wait_s=float("inf"), live_every_s=60)
    logged = [(s, {"loss": 1.0 / (s + 1), "acc": -0.5 * s, "lr": 1e-3}) for s in range(5)]
    if keys_vary:
        logged[2] = (2, {"lr": 2e-3, "loss": 0.25})
    for step, values in logged:
        rep.log(values, step)
    rep.publish()
    (event, _, _), = bus.events
    assert ("points" in event) == keys_vary and ("steps" in event) != keys_vary
    if not keys_vary:
        assert event["steps"] == [0, 1, 2, 3, 4]
        assert unpack_doubles(event["values"]["acc"]) == [0.0, -0.5, -1.0, -1.5, -2.0]
    assert event_points(json.loads(json.dumps(event))) == [[k, s, v] for s, values in logged for k, v in values.items()]
