"""Round trips of one run in the worker: the claim returns what the run needs, the outcome is
written with the last points in one transaction, and a tiny run costs a fixed few commits."""
from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from server import lifecycle
from server.models import Artifact, MetricPoint, Run, Sweep
from server.settings import Settings
from worker import sink
from worker.guard import _WATCHER, RunGuard
from worker.runner import execute_run
from worker.sink import DBReporter

TINY = {"name": "tiny", "data": {"name": "sine", "n_train": 32, "n_test": 16},
        "model": {"name": "mlp", "depth": 1, "width": 8}, "training": {"epochs": 1, "device": "cpu"}}


def add_run(sessions, config=None, sweep_id=None):
    with sessions() as db:
        run = Run(name="r", config=config or {"x": 1}, status="queued", summary={}, sweep_id=sweep_id)
        db.add(run)
        db.commit()
        return run.id


def test_claim_run_returns_config_sweep_and_last_stored_step_once(sessions):
    with sessions() as db:
        sweep = Sweep(name="s", config={})
        db.add(sweep)
        db.commit()
        sweep_id = sweep.id
    run_id = add_run(sessions, {"a": [1, 2]}, sweep_id)
    with sessions() as db:
        got = lifecycle.claim_run(db, run_id=run_id, worker="w1")
        assert (got.config, got.sweep_id, got.last_step) == ({"a": [1, 2]}, sweep_id, -1)
        assert lifecycle.claim_run(db, run_id=run_id, worker="w2") is None  # CAS: one winner
        assert db.get(Run, run_id).worker == "w1"
        db.add_all([MetricPoint(run_id=run_id, key=k, step=s, value=1.0) for k, s in
                    [("a", 3), ("b", 7), ("a", 5)]])
        assert lifecycle.requeue(db, run_id=run_id, worker="w1", reason="test")
        again = lifecycle.claim_run(db, run_id=run_id, worker="w3")
    assert again.last_step == 7


def test_final_flush_and_status_are_one_transaction(sessions, monkeypatch):
    run_id = add_run(sessions)
    with sessions() as db:
        assert lifecycle.claim(db, run_id=run_id, worker="me")
    rep = DBReporter(sessions, run_id)
    rep.log({"loss": 1.0}, 1)
    rep.artifact("checkpoint", "/x/step_1.pt", "checkpoint")

    def broken(db, run_id, series):
        raise ConnectionError("store went away mid-write")

    monkeypatch.setattr(sink, "write_series", broken)
    settle = lambda db: lifecycle.mark_finished(db, run_id=run_id, worker="me", status="succeeded")  # noqa: E731
    with pytest.raises(ConnectionError):
        rep.flush(settle)
    with sessions() as db:  # nothing of the transaction stayed: still running, no artifact row
        assert db.get(Run, run_id).status == "running"
        assert db.scalar(select(func.count()).select_from(Artifact)) == 0
    monkeypatch.undo()
    assert rep.flush(settle) is True  # the buffers were kept; now it all lands
    with sessions() as db:
        assert db.get(Run, run_id).status == "succeeded"
        assert db.scalar(select(func.count()).select_from(MetricPoint)) == 1
        assert db.scalar(select(func.count()).select_from(Artifact)) == 1


def test_a_tiny_run_costs_three_commits_and_six_statements(sessions, tmp_path):
    """claim (1 statement), the checkpoint's points batch (write_points: lock, upsert, summary),
    then the checkpoint's artifact row and the final status with the commit of the last batch."""
    run_id = add_run(sessions, TINY)
    engine = sessions.kw["bind"]
    seen = {"stmt": 0, "commit": 0}
    stmt = lambda *a, **k: seen.__setitem__("stmt", seen["stmt"] + 1)  # noqa: E731
    commit = lambda *a: seen.__setitem__("commit", seen["commit"] + 1)  # noqa: E731
    event.listen(engine, "before_cursor_execute", stmt)
    event.listen(engine, "commit", commit)
    try:
        out = execute_run(run_id, worker="me", settings=Settings(artifact_dir=tmp_path, run_heartbeat_s=3600),
                          sessions=sessions, bus=None, enqueue=lambda rid: None)
    finally:
        event.remove(engine, "before_cursor_execute", stmt)
        event.remove(engine, "commit", commit)
    assert out == "succeeded"
    assert seen["commit"] == 3
    assert seen["stmt"] <= 6 + (1 if engine.dialect.name == "sqlite" else 0)  # + SQLite's summary read
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(Artifact).where(Artifact.run_id == run_id)) == 1
        assert db.get(Run, run_id).status == "succeeded"


def test_guards_share_one_thread_and_a_left_guard_is_not_ticked(sessions):
    a, b = add_run(sessions), add_run(sessions)
    with sessions() as db:
        assert lifecycle.claim(db, run_id=a, worker="me") and lifecycle.claim(db, run_id=b, worker="me")
    with RunGuard(sessions, a, "me", heartbeat_s=0.01) as ga:
        with RunGuard(sessions, b, "me", heartbeat_s=0.01):
            thread = _WATCHER.thread
            assert len(_WATCHER.guards) == 2
    assert not _WATCHER.guards and _WATCHER.thread is thread and thread.is_alive()
    with sessions() as db:  # ga is left: a reaped run must not make it `lost` any more
        db.get(Run, a).worker = "other"
        db.commit()
    ga._tick()
    assert ga.reason is None
