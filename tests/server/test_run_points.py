"""A run's points go with the run (server/run_points.py): no foreign key, a trigger on `runs`;
the writes refuse a run that is not there. On SQLite and PostgreSQL."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, func, select, text

from server import metrics
from server.models import MetricBlock, MetricPoint, Run, Sweep
from tests.server.helpers import QUICK

ORPHANS = text("SELECT count(*) FROM metric_points WHERE run_id NOT IN (SELECT id FROM runs)")


def points(db, run_id: int) -> int:  # noqa: ANN001
    return db.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id))


def series(n: int) -> list[tuple[str, int, float]]:
    return [(k, s, s * 0.5) for s in range(n) for k in ("loss", "acc")]


def test_deleting_a_run_or_its_sweep_deletes_its_points_and_nothing_else(client, db):
    alone = client.post("/runs", json={"config": QUICK}).json()["id"]
    kept = client.post("/runs", json={"config": QUICK}).json()["id"]
    sweep = client.post("/sweeps", json={"config": QUICK, "params": {"training.lr": "0.001,0.01"}}).json()
    members = sweep["run_ids"]
    from server.blocks import EAGER_ROWS
    for run_id in (alone, kept, *members):
        metrics.write_points(db, run_id, series(EAGER_ROWS // 2 + 1))  # long enough for blocks too
    assert points(db, alone) == 2 * (EAGER_ROWS // 2 + 1)
    db.execute(delete(Run).where(Run.id == alone))
    db.commit()
    assert points(db, alone) == 0 and points(db, kept) > 0 and all(points(db, m) > 0 for m in members)
    db.execute(delete(Sweep).where(Sweep.id == sweep["id"]))  # its runs go by their key, then their points
    db.commit()
    assert db.scalar(select(func.count()).select_from(Run).where(Run.id.in_(members))) == 0
    assert [points(db, m) for m in members] == [0, 0]
    assert db.scalar(ORPHANS) == 0
    assert db.scalar(select(func.count()).select_from(MetricBlock).where(MetricBlock.run_id != kept)) == 0
    assert points(db, kept) == 2 * (EAGER_ROWS // 2 + 1)


def test_points_for_a_run_that_is_not_there_are_refused(client, db):
    gone = client.post("/runs", json={"config": QUICK}).json()["id"]
    db.execute(delete(Run).where(Run.id == gone))
    db.commit()
    for run_id in (gone, 10_000):
        with pytest.raises(LookupError, match=f"run {run_id} not found"):
            metrics.write_points(db, run_id, series(600))  # past COPY_MIN_ROWS: the COPY path too
        with pytest.raises(LookupError):
            metrics.write_points_many(db, {run_id: series(3)})
    assert db.scalar(select(func.count()).select_from(MetricPoint)) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_run_deleted_while_its_points_are_written_leaves_none(client, app, db):
    """The writer holds the run row; the delete waits for it, then takes the points it wrote.
    A writer that comes after the delete finds no run."""
    run_id = client.post("/runs", json={"config": QUICK}).json()["id"]
    metrics._stage_series(db, run_id, metrics.series_of(series(600)))  # locked, written, not committed
    deleted = threading.Event()

    def remove() -> None:
        with app.state.sessionmaker() as other:
            other.execute(delete(Run).where(Run.id == run_id))
            other.commit()
        deleted.set()

    t = threading.Thread(target=remove)
    t.start()
    assert not deleted.wait(0.5)  # waits for the writer's lock
    db.commit()
    t.join(30)
    assert deleted.is_set() and points(db, run_id) == 0 and db.scalar(ORPHANS) == 0

    late = client.post("/runs", json={"config": QUICK}).json()["id"]
    with app.state.sessionmaker() as other:
        other.execute(delete(Run).where(Run.id == late))  # not committed yet
        failed: list[BaseException] = []
        writer = threading.Thread(target=lambda: _write_into(app, late, failed))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive()  # waits for the delete's lock
        other.commit()
    writer.join(30)
    assert len(failed) == 1 and isinstance(failed[0], LookupError) and db.scalar(ORPHANS) == 0


def _write_into(app, run_id: int, failed: list) -> None:  # noqa: ANN001
    try:
        with app.state.sessionmaker() as s:
            metrics.write_points(s, run_id, series(3))
    except BaseException as exc:  # noqa: BLE001 - handed to the test
        failed.append(exc)


def test_a_packs_points_are_stored_in_one_read_of_its_runs_and_all_or_none(client, db):
    """write_points_many for 20 runs: every run's points and summary as write_points gives them
    alone (the oracle: a run written alone), with one SELECT of the runs, not one a run; a
    missing run among them stores nothing for any."""
    from sqlalchemy import event

    ids = [client.post("/runs", json={"config": QUICK}).json()["id"] for _ in range(21)]
    alone, members = ids[0], ids[1:]
    metrics.write_points(db, alone, series(40))
    selects = []
    engine = db.get_bind()
    listen = lambda conn, cursor, statement, *a: selects.append(statement) \
        if statement.lstrip().upper().startswith("SELECT") and "FROM runs" in statement else None  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        metrics.write_points_many(db, {run_id: series(40) for run_id in members})
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert len(selects) == 1, selects
    db.expire_all()
    expected = db.get(Run, alone).summary
    assert all(db.get(Run, m).summary == expected and points(db, m) == 80 for m in members)
    with pytest.raises(LookupError, match="run 10000 not found"):
        metrics.write_points_many(db, {members[0]: series(60), 10_000: series(3)})
    db.expire_all()
    assert points(db, members[0]) == 80 and db.get(Run, members[0]).summary == expected
