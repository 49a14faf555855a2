"""runs.summary: every series' entry carries its point count `n` (backfilled from the points),
so the metric writer never has to count a series written before `n` was kept

Revision ID: 0006_summary_n
Revises: 0004_metric_blocks
"""
import json

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_summary_n"
down_revision = "0005_utc_timestamps"
branch_labels = None
depends_on = None

RUNS = sa.table("runs", sa.column("id", sa.Integer()),
                sa.column("summary", sa.JSON().with_variant(JSONB(), "postgresql")))


def upgrade() -> None:
    conn = op.get_bind()
    counts = {(run_id, key): n for run_id, key, n in conn.execute(sa.text(
        "SELECT run_id, key, COUNT(*) FROM metric_points GROUP BY run_id, key"))}
    for run_id, summary in conn.execute(sa.select(RUNS.c.id, RUNS.c.summary)).all():
        if isinstance(summary, str):
            summary = json.loads(summary)
        missing = [k for k, s in (summary or {}).items() if isinstance(s, dict) and "n" not in s]
        if not missing:
            continue
        summary = {k: dict(s, n=counts.get((run_id, k), 0)) if k in missing else s
                   for k, s in summary.items()}
        conn.execute(RUNS.update().where(RUNS.c.id == run_id).values(summary=summary))


def downgrade() -> None:
    """Nothing to undo: a summary entry with `n` is what every later writer keeps anyway."""
