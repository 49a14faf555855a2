"""A run's metric points go with the run: a trigger on `runs`, not a foreign key.

`metric_points.run_id` has no foreign key (migration 0010): PostgreSQL checked it for every
inserted row (a lookup and a lock of the run row per point, ≈ 40 % of a point's backend CPU:
bench/points_fk.py, docs/benchmarks.md "Logging overhead inside a training step"). What the key
gave is kept:

- no point without its run: every write goes through `server.metrics.write_points`, which
  locks the run row first (`SELECT … FOR UPDATE` on PostgreSQL, SQLite has one writer) and
  raises `LookupError` when the run is not there, in the transaction that inserts the points;
- no point outlives its run: deleting a run, by any path (SQL by hand, a sweep's cascade),
  fires `AFTER DELETE ON runs`, which deletes its points in the same transaction. A delete
  waits for a writer holding the run row; a writer that comes after it finds no run.

Migration 0010 makes the trigger on a store; `install` attaches it to the models' metadata, so
`create_all` (the tests' stores) makes it too.
"""
from __future__ import annotations

from sqlalchemy import DDL, MetaData, event

NAME = "trg_runs_delete_metric_points"
FUNCTION = "liplab_delete_run_metric_points"

CREATE = {
    "postgresql": [
        f"""CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM metric_points WHERE run_id = OLD.id;
  RETURN NULL;
END $$""",
        f"CREATE TRIGGER {NAME} AFTER DELETE ON runs FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
    ],
    "sqlite": [
        f"""CREATE TRIGGER {NAME} AFTER DELETE ON runs FOR EACH ROW
BEGIN
  DELETE FROM metric_points WHERE run_id = OLD.id;
END""",
    ],
}
DROP = {
    "postgresql": [f"DROP TRIGGER IF EXISTS {NAME} ON runs", f"DROP FUNCTION IF EXISTS {FUNCTION}()"],
    "sqlite": [f"DROP TRIGGER IF EXISTS {NAME}"],
}
# Points whose run is gone (none while the trigger is there): the foreign key cannot come back
# over them (migration 0010's downgrade).
DELETE_ORPHANS = ("DELETE FROM metric_points WHERE NOT EXISTS "
                  "(SELECT 1 FROM runs WHERE runs.id = metric_points.run_id)")


def install(metadata: MetaData) -> None:
    """Make the trigger whenever `metadata.create_all` runs (after every table: without the
    key, `metric_points` may come before `runs`); dropped and made again, so a second
    `create_all` over existing tables is harmless."""
    for dialect in CREATE:
        for sql in DROP[dialect] + CREATE[dialect]:
            event.listen(metadata, "after_create", DDL(sql).execute_if(dialect=dialect))
