"""server: config_hash for skip-completed, point ordinals, probe jobs, JSONB on PostgreSQL

Revision ID: 0002_server
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_server"
down_revision = "0001"
branch_labels = None
depends_on = None

# (table, column) pairs stored as JSONB on PostgreSQL: binary, so path reads in filters are cheap.
JSON_COLUMNS = [("sweeps", "config"), ("sweeps", "params"), ("runs", "config"),
                ("runs", "overrides"), ("runs", "summary")]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("config_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_runs_sweep_id_config_hash", ["sweep_id", "config_hash"], unique=False)
    op.create_table(
        "probe_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("probes", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("params", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_probe_jobs_run_id_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probe_jobs")),
    )
    with op.batch_alter_table("probe_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_probe_jobs_run_id"), ["run_id"], unique=False)
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
    # Existing points get their row number in step order (server.metrics keeps it from now on).
    op.execute("""UPDATE metric_points SET seq = r.rn
        FROM (SELECT run_id, key, step,
                     row_number() OVER (PARTITION BY run_id, key ORDER BY step) - 1 AS rn
              FROM metric_points) AS r
        WHERE metric_points.run_id = r.run_id AND metric_points.key = r.key
          AND metric_points.step = r.step""")
    if _postgres():
        for table, column in JSON_COLUMNS:
            op.alter_column(table, column, type_=JSONB(), existing_type=sa.JSON(),
                            postgresql_using=f"{column}::jsonb")


def downgrade() -> None:
    if _postgres():
        for table, column in JSON_COLUMNS:
            op.alter_column(table, column, type_=sa.JSON(), existing_type=JSONB(),
                            postgresql_using=f"{column}::json")
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.drop_column("seq")
    with op.batch_alter_table("probe_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_probe_jobs_run_id"))
    op.drop_table("probe_jobs")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_sweep_id_config_hash")
        batch_op.drop_column("config_hash")
