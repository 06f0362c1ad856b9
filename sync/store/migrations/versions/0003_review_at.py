"""tasks.review_at: the moment a task's deadlines or light can next change, so a run
re-evaluates only the tasks that changed or whose moment has come (not every open task).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("review_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_tasks_status_review_at", "tasks", ["status", "review_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_status_review_at", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("review_at")
