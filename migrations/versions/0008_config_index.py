"""runs.config: a GIN index (jsonb_path_ops) on PostgreSQL, so `where=KEY==VALUE` filters on
config values are answered from the index (containment, `config @> {...}`) instead of a scan

Revision ID: 0008_config_index
Revises: 0004_metric_blocks
"""
from alembic import op

revision = "0008_config_index"
down_revision = "0007_packs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_runs_config_path_ops", "runs", ["config"], postgresql_using="gin",
                        postgresql_ops={"config": "jsonb_path_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_runs_config_path_ops", table_name="runs")
