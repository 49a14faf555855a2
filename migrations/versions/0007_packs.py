"""runs.pack_id: the pack a run of a sweep trains in (members of one pack share one worker
task); null for a run trained alone

Revision ID: 0007_packs
Revises: 0004_metric_blocks
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_packs"
down_revision = "0006_summary_n"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pack_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_runs_pack_id", ["pack_id"])


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_pack_id")
        batch_op.drop_column("pack_id")
