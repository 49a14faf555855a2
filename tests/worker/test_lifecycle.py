"""Run state transitions: exactly one owner, stale runs reaped, fail_fast, on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from server import lifecycle
from server.models import Run, Sweep, utcnow

CONFIG = {"name": "t"}


def add_runs(sessions, n, sweep_id=None):
    with sessions() as db:
        runs = [Run(name=f"r{i}", config=CONFIG, status="queued", summary={}, sweep_id=sweep_id)
                for i in range(n)]
        db.add_all(runs)
        db.commit()
        return [r.id for r in runs]


def get(sessions, run_id):
    with sessions() as db:
        return db.get(Run, run_id)


def test_claim_has_exactly_one_winner_among_racing_threads(sessions):
    (run_id,) = add_runs(sessions, 1)
    wins, barrier = [], threading.Barrier(8)

    def racer(i):
        with sessions() as db:
            barrier.wait()
            if lifecycle.claim(db, run_id=run_id, worker=f"w{i}"):
                wins.append(i)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run = get(sessions, run_id)
    assert len(wins) == 1 and run.worker == f"w{wins[0]}"
    assert run.status == "running" and run.attempts == 1


def test_only_the_owner_heartbeats_and_finishes(sessions):
    (run_id,) = add_runs(sessions, 1)
    with sessions() as db:
        assert lifecycle.claim(db, run_id=run_id, worker="a")
        assert not lifecycle.claim(db, run_id=run_id, worker="b")  # a redelivered message: no-op
        assert lifecycle.heartbeat(db, run_id=run_id, worker="b") is None
        assert lifecycle.heartbeat(db, run_id=run_id, worker="a") is False
        db.get(Run, run_id).cancel_requested = 1
        db.commit()
        assert lifecycle.heartbeat(db, run_id=run_id, worker="a") is True
        assert not lifecycle.finish(db, run_id=run_id, worker="b", status="succeeded")
        assert lifecycle.finish(db, run_id=run_id, worker="a", status="cancelled")
        assert not lifecycle.finish(db, run_id=run_id, worker="a", status="succeeded")
        with pytest.raises(ValueError, match="status: 'running'"):
            lifecycle.finish(db, run_id=run_id, worker="a", status="running")
    assert get(sessions, run_id).status == "cancelled"


def test_requeue_hands_the_run_back_and_forgives_the_attempt(sessions):
    (run_id,) = add_runs(sessions, 1)
    with sessions() as db:
        lifecycle.claim(db, run_id=run_id, worker="a")
        assert not lifecycle.requeue(db, run_id=run_id, worker="b", reason="x")
        assert lifecycle.requeue(db, run_id=run_id, worker="a", reason="shutdown")
        run = db.get(Run, run_id)
        assert (run.status, run.attempts, run.worker) == ("queued", 0, None)
        assert lifecycle.claim(db, run_id=run_id, worker="b")


def test_reaper_requeues_stale_runs_then_fails_them_after_max_retries(sessions):
    run_id, fresh_id = add_runs(sessions, 2)
    later = lambda: utcnow() + timedelta(seconds=100)  # noqa: E731 - "100 s from now"
    for attempt in range(1, 4):  # max_retries=2: attempts 1 and 2 are requeued, 3 fails
        with sessions() as db:
            assert lifecycle.claim(db, run_id=run_id, worker=f"w{attempt}")
            lifecycle.claim(db, run_id=fresh_id, worker="alive")
            lifecycle.heartbeat(db, run_id=fresh_id, worker="alive")
            # the fresh run beats at "now + 100 s" too, so only run_id is stale then
            db.get(Run, fresh_id).heartbeat_at = later() + timedelta(seconds=10)
            db.commit()
            done = lifecycle.reap(db, stale_s=50, max_retries=2, now=later())
        run = get(sessions, run_id)
        if attempt < 3:
            assert done.requeued == [run_id] and run.status == "queued"
            assert "stopped sending heartbeats" in run.error
        else:
            assert done.failed == [run_id] and run.status == "failed"
            assert "gave up after max_retries=2" in run.error and run.finished_at is not None
        assert get(sessions, fresh_id).status == "running"


def test_reaper_cancels_a_stale_run_whose_cancel_was_pending(sessions):
    (run_id,) = add_runs(sessions, 1)
    with sessions() as db:
        lifecycle.claim(db, run_id=run_id, worker="a")
        db.get(Run, run_id).cancel_requested = 1
        db.commit()
        done = lifecycle.reap(db, stale_s=1, max_retries=5, now=utcnow() + timedelta(seconds=5))
    assert done.cancelled == [run_id] and get(sessions, run_id).status == "cancelled"


def test_orphans_are_old_queued_runs_and_are_touched_once(sessions):
    old, new = add_runs(sessions, 2)
    with sessions() as db:
        db.get(Run, old).created_at = utcnow() - timedelta(seconds=100)
        db.commit()
        assert lifecycle.orphans(db, older_than_s=50) == [old]
        assert lifecycle.orphans(db, older_than_s=50) == []  # touched: not sent twice in a row


@pytest.mark.parametrize("fail_fast", [False, True])
def test_a_failed_member_stops_its_sweep_only_with_fail_fast(sessions, fail_fast):
    with sessions() as db:
        sweep = Sweep(name="s", config=CONFIG, params={})
        db.add(sweep)
        db.commit()
        sweep_id = sweep.id
    failing, running, queued = add_runs(sessions, 3, sweep_id=sweep_id)
    (other,) = add_runs(sessions, 1)
    with sessions() as db:
        sweep = db.get(Sweep, sweep_id)  # held: the identity map keeps the instance with it
        sweep.fail_fast = fail_fast
        lifecycle.claim(db, run_id=failing, worker="a")
        lifecycle.claim(db, run_id=running, worker="b")
        assert lifecycle.finish(db, run_id=failing, worker="a", status="failed", error="boom")
        db.expire_all()
        statuses = {i: (db.get(Run, i).status, db.get(Run, i).cancel_requested)
                    for i in (running, queued, other)}
    if fail_fast:
        assert statuses == {running: ("running", 1), queued: ("cancelled", 0), other: ("queued", 0)}
    else:
        assert statuses == {running: ("running", 0), queued: ("queued", 0), other: ("queued", 0)}
