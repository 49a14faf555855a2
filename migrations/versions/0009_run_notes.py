"""runs.tags and runs.note: a researcher's labels and free-text note on a run, editable and
searchable (`where=tags contains x`, `where=note~text`)

Revision ID: 0009_run_notes
Revises: 0007_packs
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_run_notes"
down_revision = "0008_config_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags", json, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("tags")
