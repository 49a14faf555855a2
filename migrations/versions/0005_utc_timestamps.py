"""Timestamps carry their zone: UTC with an explicit offset on both stores, same instants

PostgreSQL: every timestamp column becomes `timestamptz`; a column that was created as a plain
`timestamp` held UTC wall-clock times, so it is converted `AT TIME ZONE 'UTC'`.
SQLite: every stored value is rewritten in the one text form `server.timestamps` writes
(`YYYY-MM-DD HH:MM:SS.ffffff+00:00`); zone-less values were UTC (the store only ever wrote UTC
and SQLite's CURRENT_TIMESTAMP is UTC), values with an offset are moved to UTC.

Revision ID: 0005_utc_timestamps
Revises: 0004_metric_blocks
"""
from datetime import datetime

from alembic import op
import sqlalchemy as sa

from server.timestamps import as_utc, sqlite_text

revision = "0005_utc_timestamps"
down_revision = "0004_metric_blocks"
branch_labels = None
depends_on = None

COLUMNS = {
    "sweeps": ("created_at",),
    "runs": ("created_at", "started_at", "finished_at", "heartbeat_at"),
    "artifacts": ("created_at",),
    "workers": ("started_at", "last_seen"),
    "probe_jobs": ("created_at", "finished_at"),
}


def _sqlite_rewrite(to_text) -> None:  # noqa: ANN001
    conn = op.get_bind()
    for table, cols in COLUMNS.items():
        for col in cols:
            rows = conn.execute(sa.text(f"SELECT rowid, {col} FROM {table} WHERE {col} IS NOT NULL")).all()
            for rowid, raw in rows:
                new = to_text(as_utc(datetime.fromisoformat(str(raw).replace("Z", "+00:00"))))
                if new != raw:
                    conn.execute(sa.text(f"UPDATE {table} SET {col} = :v WHERE rowid = :r"),
                                 {"v": new, "r": rowid})


def _pg_column_types() -> dict[tuple[str, str], str]:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND data_type LIKE 'timestamp%'")).all()
    return {(t, c): d for t, c, d in rows}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rewrite(sqlite_text)
        return
    types = _pg_column_types()
    for table, cols in COLUMNS.items():
        for col in cols:
            if types.get((table, col)) == "timestamp without time zone":
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE timestamptz "
                           f"USING {col} AT TIME ZONE 'UTC'")


def downgrade() -> None:
    """SQLite goes back to zone-less UTC text; PostgreSQL keeps `timestamptz`, which the
    earlier revisions already declared."""
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rewrite(lambda v: v.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"))
