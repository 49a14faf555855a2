"""Round trips of a pack in the worker: its members are claimed in one statement and one
commit, share one heartbeat statement, and are settled (last points, artifact rows, outcomes)
in one transaction — with each member's compare-and-set kept, so a redelivered pack message or
a member someone else holds is never claimed twice."""
from __future__ import annotations

import threading
import time

from sqlalchemy import event, func, select

from server import lifecycle
from server.models import Artifact, MetricPoint, Run
from server.settings import Settings
from tests.worker.test_transactions import TINY, add_run
from worker.pack import execute_pack
from worker.pack_guard import PackGuard


class Counter:
    """Statements and commits on `sessions`' engine while it is entered."""

    def __init__(self, sessions):
        self.engine = sessions.kw["bind"]
        self.stmt = self.commit = 0

    def _stmt(self, *a, **k):
        self.stmt += 1

    def _commit(self, *a):
        self.commit += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._stmt)
        event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._stmt)
        event.remove(self.engine, "commit", self._commit)


def test_claim_runs_claims_the_queued_members_in_one_statement(sessions):
    ids = [add_run(sessions, {"i": i}) for i in range(4)]
    with sessions() as db:
        db.add(MetricPoint(run_id=ids[1], key="a", step=9, value=1.0))
        db.commit()
        assert lifecycle.claim_run(db, run_id=ids[3], worker="other")
    with Counter(sessions) as seen, sessions() as db:
        got = lifecycle.claim_runs(db, run_ids=ids, worker="me")
    assert (seen.stmt, seen.commit) == (1, 1)
    assert {k: (v.config, v.last_step) for k, v in got.items()} == {
        ids[0]: ({"i": 0}, -1), ids[1]: ({"i": 1}, 9), ids[2]: ({"i": 2}, -1)}
    with sessions() as db:  # redelivered: nothing is queued any more, nothing is claimed
        assert lifecycle.claim_runs(db, run_ids=ids, worker="again") == {}
        assert [db.get(Run, i).worker for i in ids] == ["me"] * 3 + ["other"]
        assert [db.get(Run, i).attempts for i in ids] == [1, 1, 1, 1]


def test_one_heartbeat_statement_serves_the_pack_and_flags_each_member(sessions):
    ids = [add_run(sessions) for _ in range(3)]
    with sessions() as db:
        lifecycle.claim_runs(db, run_ids=ids, worker="me")
        db.get(Run, ids[1]).cancel_requested = 1
        db.get(Run, ids[2]).worker = "reaped-and-taken"
        db.commit()
    guard = PackGuard(sessions, ids, "me", heartbeat_s=3600, shutdown=threading.Event())
    with Counter(sessions) as seen:
        guard.beat()
    assert (seen.stmt, seen.commit) == (1, 1)
    assert [guard.members[i].reason for i in ids] == [None, "cancelled", "lost"]
    assert guard.unheeded() == [ids[1]]
    assert guard.members[ids[1]].should_stop() and guard.unheeded() == []
    assert not guard.members[ids[0]].should_stop()


def test_a_cancel_the_pack_does_not_heed_stops_it_by_force(sessions):
    ids = [add_run(sessions) for _ in range(2)]
    with sessions() as db:
        lifecycle.claim_runs(db, run_ids=ids, worker="me")
        db.get(Run, ids[0]).cancel_requested = 1
        db.commit()
    from worker.guard import HardCancel

    caught = False
    try:
        with PackGuard(sessions, ids, "me", heartbeat_s=0.05, cancel_grace_s=0.2,
                       shutdown=threading.Event()):
            for _ in range(200):
                time.sleep(0.05)  # never asks should_stop(): a step stuck in a long call
    except HardCancel:
        caught = True
    assert caught


def test_a_pack_costs_one_claim_and_one_settle_commit_for_all_its_members(sessions, tmp_path):
    """Three tiny members: the claim (one statement), the round's points with the step-0
    checkpoints, and one transaction with every member's last points, checkpoint artifact row
    and final status — three commits, as a single tiny run costs."""
    ids = [add_run(sessions, TINY | {"model": TINY["model"] | {"model_seed": s}}) for s in range(3)]
    settings = Settings(artifact_dir=tmp_path, run_heartbeat_s=3600)
    again = []
    with Counter(sessions) as seen:
        out = execute_pack(ids, worker="me", settings=settings, sessions=sessions, bus=None,
                           enqueue_pack=again.append)
    assert out == {i: "succeeded" for i in ids} and again == []
    assert seen.commit == 3
    with sessions() as db:
        assert [db.get(Run, i).status for i in ids] == ["succeeded"] * 3
        assert db.scalar(select(func.count()).select_from(Artifact)) == 3
        steps = [db.scalar(select(func.max(MetricPoint.step)).where(MetricPoint.run_id == i))
                 for i in ids]
        assert steps == [1, 1, 1]  # TINY: 32 examples, the default batch size: 1 step
    with Counter(sessions) as seen:  # the message again: every member is settled, none claimed
        assert execute_pack(ids, worker="me", settings=settings, sessions=sessions, bus=None,
                            enqueue_pack=again.append) == {i: "skipped" for i in ids}
    assert seen.commit == 1
