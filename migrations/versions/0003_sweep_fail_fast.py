"""sweeps.fail_fast: a sweep may ask that one failed or diverged member cancels the rest

Revision ID: 0003_sweep_fail_fast
Revises: 0002_server
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_sweep_fail_fast"
down_revision = "0002_server"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fail_fast", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.drop_column("fail_fast")
