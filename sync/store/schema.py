"""The store's tables (SQLAlchemy Core). Alembic migrations in `migrations/` create and
evolve them; this module is the in-code description the repository queries against.

Timestamps are stored in UTC; SQLite hands them back naive, so the repository makes them
aware again on the way out.

Every row that belongs to a CRM org carries the profile that synced it (opportunities, tasks,
ledger, state, write failures, cursors), so two profiles can share one database; a task's
events belong to it by its id. Store-wide state rows have the empty profile."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

opportunities = Table(
    "opportunities", metadata,
    Column("profile", String(80), primary_key=True),
    Column("crm_id", String(64), primary_key=True),
    Column("name", Text),
    Column("account_id", String(64)),
    Column("account_name", Text),
    Column("stage", String(120)),
    Column("amount", Numeric(18, 2)),
    Column("close_date", Date),
    Column("is_closed", Boolean, nullable=False, default=False),
    Column("is_won", Boolean, nullable=False, default=False),
    Column("requested", Boolean, nullable=False, default=False),
    Column("priority", String(20)),
    Column("stamp", DateTime(timezone=True), nullable=False),
    Column("values", JSON, nullable=False),
)

tasks = Table(
    "tasks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("profile", String(80), nullable=False),
    Column("opportunity_id", String(64), nullable=False),
    Column("engineer_id", String(64)),
    Column("step", String(40), nullable=False),
    Column("status", String(40), nullable=False),
    Column("held_status", String(40)),
    Column("rework_count", Integer, nullable=False, default=0),
    Column("step_started_at", DateTime(timezone=True)),
    Column("message", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # When the task's deadlines or light can next change (None: evaluate on the next run).
    Column("review_at", DateTime(timezone=True)),
    UniqueConstraint("profile", "opportunity_id", name="uq_tasks_profile_opportunity"),
    Index("ix_tasks_status_review_at", "status", "review_at"),
)

task_events = Table(
    "task_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("from_step", String(40)),
    Column("to_step", String(40)),
    Column("from_status", String(40)),
    Column("to_status", String(40)),
    Column("outcome", String(40)),
    Column("note", Text),
    Column("engineer_id", String(64)),
    Column("source", String(64)),  # the action record that caused it (None: the plugin's own)
    # whether the CRM holds its copy (an event record, or the applied action record)
    Column("mirrored", Boolean, nullable=False, default=False),
    UniqueConstraint("task_id", "seq", name="uq_task_events_task_seq"),
    Index("ix_task_events_unmirrored", "mirrored", "task_id"),
)

# Every action record people made in the CRM that the sync took up: applied (with the seq of
# the event it became) or refused (with the reason), and whether the CRM shows the outcome.
actions = Table(
    "actions", metadata,
    Column("profile", String(80), primary_key=True),
    Column("crm_id", String(64), primary_key=True),
    Column("opportunity_id", String(64), nullable=False),
    Column("command", String(40)),
    Column("actor", String(64)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("reason", String(255)),
    Column("seq", Integer),
    Column("written", Boolean, nullable=False, default=False),
    Column("taken_at", DateTime(timezone=True), nullable=False),
    Index("ix_actions_unwritten", "profile", "written"),
)

# What the CRM is known to hold for each field we own: updated from every read and every
# acknowledged write. The write-back diff is desired values vs this.
ledger = Table(
    "ledger", metadata,
    Column("profile", String(80), primary_key=True),
    Column("object", String(80), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("field", String(120), primary_key=True),
    Column("value", JSON),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

write_failures = Table(
    "write_failures", metadata,
    Column("profile", String(80), primary_key=True),
    Column("object", String(80), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("error_code", String(120)),
    Column("message", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("last_at", DateTime(timezone=True), nullable=False),
)

cursors = Table(
    "cursors", metadata,
    Column("profile", String(80), primary_key=True),
    Column("object", String(80), primary_key=True),
    Column("stamp", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

state = Table(
    "state", metadata,
    Column("profile", String(80), primary_key=True),
    Column("key", String(120), primary_key=True),
    Column("value", JSON),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("profile", String(80), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("exit_code", Integer),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("counts", JSON),
    Column("api_calls", JSON),
    Column("error", Text),
)

run_locks = Table(
    "run_locks", metadata,
    Column("profile", String(80), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
)

# Knowledge and learning facts from `presales activities import`; one row per distinct fact,
# so importing the same file twice adds nothing.
activities = Table(
    "activities", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("engineer_id", String(64), nullable=False),
    Column("day", Date, nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("title", String(255), nullable=False),
    Column("evidence", Text),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("engineer_id", "day", "kind", "title", name="uq_activities_fact"),
)

# One scorecard per engineer and period: the computed score and band, and apart from them
# the manager's inputs (behaviour score, calibrated band) that survive a recomputation.
kpi_scores = Table(
    "kpi_scores", metadata,
    Column("period", String(7), primary_key=True),
    Column("engineer_id", String(64), primary_key=True),
    Column("raw_score", Numeric(5, 1)),
    Column("kpi_score", Numeric(5, 1)),
    Column("band", String(10)),
    Column("behaviour_score", Numeric(5, 1)),
    Column("calibrated_band", String(10)),
    Column("calibration_note", Text),
    Column("detail", JSON),
    Column("computed_at", DateTime(timezone=True), nullable=False),
)
