"""The audit trail in the CRM: each task event knows the engineer after it, the person's
action record that caused it (`source`) and whether the CRM holds its copy yet
(`mirrored`); `actions` records every action record the sync has taken up (applied or
refused, and whether its outcome is written back), so none is applied twice.

Existing events predate the trail: they are marked mirrored (the CRM never had them and
re-sending a history nobody asked for would cost a write per event of every task).

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("task_events") as batch:
        batch.add_column(sa.Column("engineer_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("source", sa.String(64), nullable=True))
        batch.add_column(sa.Column("mirrored", sa.Boolean, nullable=False, server_default=sa.true()))
    op.create_index("ix_task_events_unmirrored", "task_events", ["mirrored", "task_id"])
    op.create_table(
        "actions",
        sa.Column("profile", sa.String(80), primary_key=True),
        sa.Column("crm_id", sa.String(64), primary_key=True),
        sa.Column("opportunity_id", sa.String(64), nullable=False),
        sa.Column("command", sa.String(40)),
        sa.Column("actor", sa.String(64)),
        sa.Column("at", TZ, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(255)),
        sa.Column("seq", sa.Integer),
        sa.Column("written", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("taken_at", TZ, nullable=False),
    )
    op.create_index("ix_actions_unwritten", "actions", ["profile", "written"])


def downgrade() -> None:
    op.drop_index("ix_actions_unwritten", table_name="actions")
    op.drop_table("actions")
    op.drop_index("ix_task_events_unmirrored", table_name="task_events")
    with op.batch_alter_table("task_events") as batch:
        batch.drop_column("mirrored")
        batch.drop_column("source")
        batch.drop_column("engineer_id")
