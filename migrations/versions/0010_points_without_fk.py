"""metric_points.run_id without its foreign key: a trigger on runs deletes a run's points
(server/run_points.py), the writes check the run once per batch instead of once per row

Revision ID: 0010_points_without_fk
Revises: 0009_run_notes
"""
from alembic import op

from server.run_points import CREATE, DELETE_ORPHANS, DROP

revision = "0010_points_without_fk"
down_revision = "0009_run_notes"
branch_labels = None
depends_on = None

FK = "fk_metric_points_run_id_runs"


def run(sqls: dict[str, list[str]]) -> None:
    for sql in sqls.get(op.get_bind().dialect.name, []):
        op.execute(sql)


def upgrade() -> None:
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
    run(CREATE)


def downgrade() -> None:
    run(DROP)
    op.execute(DELETE_ORPHANS)  # none while the trigger was there; the key cannot hold over any
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.create_foreign_key(FK, "runs", ["run_id"], ["id"], ondelete="CASCADE")
