"""A store outage is a pause for the worker: the claim waits (or hands the message back on
shutdown), points wait in the reporter's buffer, the outage is logged once, and runs whose
messages a broker lost are re-sent on reconnect. The store here refuses connections for a while
(the error SQLAlchemy raises for a refused connection), then works."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from server.models import MetricPoint, Run, utcnow
from server.outage import StoreAway, StoreOutage, wait_for_store
from server.settings import Settings
from worker.guard import SHUTDOWN
from worker.resend import resend_missing
from worker.runner import execute_run
from worker.sink import DBReporter

TINY = {"name": "tiny", "data": {"name": "sine", "n_train": 32, "n_test": 16},
        "model": {"name": "mlp", "depth": 2, "width": 8},
        "training": {"epochs": 2, "batch_size": 16, "device": "cpu"}}


def refused() -> OperationalError:
    return OperationalError("connect", {}, ConnectionRefusedError("connection refused"))


class Away:
    """A session factory whose first `failures` sessions cannot be opened."""

    def __init__(self, sessions, failures: int):
        self.sessions, self.left = sessions, failures

    def __call__(self):
        if self.left > 0:
            self.left -= 1
            raise refused()
        return self.sessions()


def add_run(sessions, config=TINY) -> int:
    with sessions() as db:
        run = Run(name="r", config=config, status="queued", summary={})
        db.add(run)
        db.commit()
        return run.id


def test_the_claim_waits_for_the_store_and_the_run_then_runs_once(sessions, tmp_path):
    run_id = add_run(sessions)
    away = Away(sessions, failures=3)
    status = execute_run(run_id, worker="w:1", settings=Settings(home=tmp_path), sessions=away,
                         bus=None, enqueue=lambda _rid: None)
    assert status == "succeeded" and away.left == 0
    with sessions() as db:
        run = db.get(Run, run_id)
        n = db.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id))
    assert run.status == "succeeded" and run.attempts == 1
    assert n > 0


def test_shutdown_while_the_store_is_away_hands_the_message_back_unclaimed(sessions, tmp_path):
    run_id = add_run(sessions)
    SHUTDOWN.set()
    try:
        with pytest.raises(StoreAway):
            execute_run(run_id, worker="w:1", settings=Settings(home=tmp_path),
                        sessions=Away(sessions, failures=10**6), bus=None, enqueue=lambda _rid: None)
    finally:
        SHUTDOWN.clear()
    with sessions() as db:
        run = db.get(Run, run_id)
    assert run.status == "queued" and run.attempts == 0  # still anyone's to claim


def test_the_task_rejects_its_message_back_to_the_queue_when_it_gives_up_waiting():
    from celery.exceptions import Reject

    from worker.tasks import handed_back_if_store_away

    with pytest.raises(Reject) as got, handed_back_if_store_away():
        raise StoreAway("claiming")
    assert got.value.requeue  # back to the queue, not acknowledged


def test_points_logged_while_the_store_is_away_are_kept_and_written_once(sessions):
    run_id = add_run(sessions)
    away = Away(sessions, failures=4)
    reporter = DBReporter(away, run_id, max_wait_s=0.0)  # every step is a batch attempt
    for step in range(50):
        reporter.log({"loss": float(step), "acc": 1.0}, step)  # never raises
    assert away.left < 4 and reporter.buffer  # the outage was met while logging: points kept
    reporter.flush()  # waits for the store while it is still away
    assert away.left == 0
    with sessions() as db:
        rows = db.execute(select(MetricPoint.key, MetricPoint.step, MetricPoint.value)
                          .where(MetricPoint.run_id == run_id)).all()
    assert sorted(rows) == sorted([("loss", s, float(s)) for s in range(50)]
                                  + [("acc", s, 1.0) for s in range(50)])


def test_an_outage_is_logged_once_and_other_errors_are_not_waited_for(caplog):
    outage = StoreOutage(logging.getLogger("liplab.test"), "testing")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) <= 4:
            raise refused()
        return "done"

    with caplog.at_level(logging.WARNING, logger="liplab.test"):
        assert wait_for_store(flaky, outage, first_s=0.01) == "done"
    assert len(calls) == 5
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "unavailable" in lines[0] and "back" in lines[1]

    def broken():
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        wait_for_store(broken, outage, first_s=10.0)  # raised at once, not after a backoff


def test_a_broker_that_lost_messages_gets_the_queued_runs_again_once(sessions):
    ids = [add_run(sessions) for _ in range(5)]
    with sessions() as db:  # created "long ago": the recent-run margin does not hold them back
        db.execute(update(Run).values(created_at=utcnow() - timedelta(hours=1)))
        db.commit()
    sent: list[int] = []
    settings = Settings()
    assert resend_missing(sessions, settings, sent.append, lambda: 5) == []  # nothing missing
    assert resend_missing(sessions, settings, sent.append, lambda: None) == []  # broker cannot say
    assert resend_missing(sessions, settings, sent.append, lambda: 0) == ids
    assert sent == ids
    assert resend_missing(sessions, settings, sent.append, lambda: 0) == []  # just re-sent
