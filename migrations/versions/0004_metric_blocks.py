"""metric_blocks: per-block min/max summaries of metric series (server.blocks), backfilled;
an index on metric_points (run_id, key, seq) for block rebuilds

Revision ID: 0004_metric_blocks
Revises: 0003_sweep_fail_fast
"""
from itertools import groupby

from alembic import op
import sqlalchemy as sa

from server.blocks import summarise

revision = "0004_metric_blocks"
down_revision = "0003_sweep_fail_fast"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "metric_blocks",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("first_step", sa.Integer(), nullable=False),
        sa.Column("first_value", sa.Float(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("min_seq", sa.Integer(), nullable=True),
        sa.Column("min_step", sa.Integer(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("max_seq", sa.Integer(), nullable=True),
        sa.Column("max_step", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_metric_blocks_run_id_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key", "block", name=op.f("pk_metric_blocks")),
    )
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.create_index("ix_metric_points_run_id_key_seq", ["run_id", "key", "seq"], unique=False)
    # Backfill from the points, series by series in seq order (0002 numbered every row).
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT run_id, key, seq, step, value FROM metric_points "
                                "WHERE seq IS NOT NULL ORDER BY run_id, key, seq"))
    batch: list[dict] = []
    for (run_id, key), series in groupby(rows, key=lambda r: (r[0], r[1])):
        for s in summarise((r[2], r[3], r[4]) for r in series).values():
            batch.append({"run_id": run_id, "key": key, **s})
            if len(batch) >= 1000:
                op.bulk_insert(table, batch)
                batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_points_run_id_key_seq")
    op.drop_table("metric_blocks")
