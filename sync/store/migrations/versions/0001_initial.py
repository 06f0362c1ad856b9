"""Initial schema: opportunities, tasks and their events, ledger, cursors, runs, lock.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "opportunities",
        sa.Column("crm_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("account_id", sa.String(64)),
        sa.Column("account_name", sa.Text),
        sa.Column("stage", sa.String(120)),
        sa.Column("amount", sa.Numeric(18, 2)),
        sa.Column("close_date", sa.Date),
        sa.Column("is_closed", sa.Boolean, nullable=False),
        sa.Column("is_won", sa.Boolean, nullable=False),
        sa.Column("requested", sa.Boolean, nullable=False),
        sa.Column("priority", sa.String(20)),
        sa.Column("stamp", TZ, nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("opportunity_id", sa.String(64), nullable=False, unique=True),
        sa.Column("engineer_id", sa.String(64)),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("held_status", sa.String(40)),
        sa.Column("rework_count", sa.Integer, nullable=False),
        sa.Column("step_started_at", TZ),
        sa.Column("message", sa.String(255)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "task_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Integer, sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("from_step", sa.String(40)),
        sa.Column("to_step", sa.String(40)),
        sa.Column("from_status", sa.String(40)),
        sa.Column("to_status", sa.String(40)),
        sa.Column("outcome", sa.String(40)),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("task_id", "seq", name="uq_task_events_task_seq"),
    )
    op.create_index("ix_task_events_task_id", "task_events", ["task_id"])
    op.create_table(
        "ledger",
        sa.Column("object", sa.String(80), primary_key=True),
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("field", sa.String(120), primary_key=True),
        sa.Column("value", sa.JSON),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "write_failures",
        sa.Column("object", sa.String(80), primary_key=True),
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("error_code", sa.String(120)),
        sa.Column("message", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_at", TZ, nullable=False),
    )
    op.create_table(
        "cursors",
        sa.Column("profile", sa.String(80), primary_key=True),
        sa.Column("object", sa.String(80), primary_key=True),
        sa.Column("stamp", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "state",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("value", sa.JSON),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("profile", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
        sa.Column("exit_code", sa.Integer),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("counts", sa.JSON),
        sa.Column("api_calls", sa.JSON),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "run_locks",
        sa.Column("profile", sa.String(80), primary_key=True),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("acquired_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for name in ("run_locks", "runs", "state", "cursors", "write_failures", "ledger",
                 "task_events", "tasks", "opportunities"):
        op.drop_table(name)
