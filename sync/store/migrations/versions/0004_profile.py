"""The profile on every row that belongs to an org: opportunities, tasks, ledger, state and
the failure queue are keyed by (profile, …), as cursors already were, so two profiles can
share one store. Existing rows get the profile the store was used by: the one its owner
record names, else the newest cursor's or run's, else "default". The store-wide `state` rows
(the owner, the version that migrated it) get the empty profile.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
STORE_WIDE = ""  # the profile of store-wide state rows (repo.STORE_WIDE)
STORE_WIDE_KEYS = ("store.owner", "store.written_by")


def _shapes() -> sa.MetaData:
    """The org-owned tables as they are after this revision."""
    md = sa.MetaData()

    def key() -> sa.Column[str]:
        return sa.Column("profile", sa.String(80), primary_key=True)

    sa.Table("opportunities", md, key(),
             sa.Column("crm_id", sa.String(64), primary_key=True),
             sa.Column("name", sa.Text), sa.Column("account_id", sa.String(64)),
             sa.Column("account_name", sa.Text), sa.Column("stage", sa.String(120)),
             sa.Column("amount", sa.Numeric(18, 2)), sa.Column("close_date", sa.Date),
             sa.Column("is_closed", sa.Boolean, nullable=False),
             sa.Column("is_won", sa.Boolean, nullable=False),
             sa.Column("requested", sa.Boolean, nullable=False),
             sa.Column("priority", sa.String(20)), sa.Column("stamp", TZ, nullable=False),
             sa.Column("values", sa.JSON, nullable=False))
    sa.Table("tasks", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("profile", sa.String(80), nullable=False),
             sa.Column("opportunity_id", sa.String(64), nullable=False),
             sa.Column("engineer_id", sa.String(64)),
             sa.Column("step", sa.String(40), nullable=False),
             sa.Column("status", sa.String(40), nullable=False),
             sa.Column("held_status", sa.String(40)),
             sa.Column("rework_count", sa.Integer, nullable=False),
             sa.Column("step_started_at", TZ), sa.Column("message", sa.String(255)),
             sa.Column("created_at", TZ, nullable=False), sa.Column("updated_at", TZ, nullable=False),
             sa.Column("review_at", TZ),
             sa.UniqueConstraint("profile", "opportunity_id", name="uq_tasks_profile_opportunity"))
    sa.Table("ledger", md, key(),
             sa.Column("object", sa.String(80), primary_key=True),
             sa.Column("record_id", sa.String(64), primary_key=True),
             sa.Column("field", sa.String(120), primary_key=True),
             sa.Column("value", sa.JSON), sa.Column("updated_at", TZ, nullable=False))
    sa.Table("write_failures", md, key(),
             sa.Column("object", sa.String(80), primary_key=True),
             sa.Column("record_id", sa.String(64), primary_key=True),
             sa.Column("error_code", sa.String(120)), sa.Column("message", sa.Text),
             sa.Column("attempts", sa.Integer, nullable=False),
             sa.Column("last_at", TZ, nullable=False))
    sa.Table("state", md, key(),
             sa.Column("key", sa.String(120), primary_key=True),
             sa.Column("value", sa.JSON))
    return md


TABLES = ("opportunities", "tasks", "ledger", "write_failures", "state")


def _found_profile(conn: sa.Connection) -> str:
    """The profile the store's rows belong to."""
    owner = conn.execute(sa.text("SELECT value FROM state WHERE key = 'store.owner'")).scalar()
    if isinstance(owner, str):  # SQLite hands JSON back as text on a raw query
        import json

        owner = json.loads(owner)
    if isinstance(owner, dict) and owner.get("profile"):
        return str(owner["profile"])
    for query in ("SELECT profile FROM cursors ORDER BY updated_at DESC",
                  "SELECT profile FROM runs ORDER BY id DESC"):
        found = conn.execute(sa.text(query)).scalar()
        if found:
            return str(found)
    return "default"


def upgrade() -> None:
    conn = op.get_bind()
    profile = _found_profile(conn)
    for name in TABLES:
        op.add_column(name, sa.Column("profile", sa.String(80), nullable=True))
        conn.execute(sa.text(f"UPDATE {name} SET profile = :p"), {"p": profile})
    conn.execute(sa.text("UPDATE state SET profile = :p WHERE key IN :keys").bindparams(
        sa.bindparam("keys", expanding=True)), {"p": STORE_WIDE, "keys": list(STORE_WIDE_KEYS)})
    after = _shapes()
    if conn.dialect.name == "sqlite":
        _sqlite_rebuild(after)
    else:
        _alter_keys(conn, after)


def _sqlite_rebuild(after: sa.MetaData) -> None:
    """SQLite cannot change a key in place: each table is copied into its new shape. `tasks`
    is pointed at by `task_events` (foreign keys are on and cannot be turned off inside the
    migration's transaction), so both are copied under new names, the old ones dropped (the
    events first) and the copies renamed, which carries the reference along."""
    for name in ("opportunities", "ledger", "write_failures", "state"):
        with op.batch_alter_table(name, copy_from=after.tables[name], recreate="always"):
            pass
    conn = op.get_bind()
    tmp = sa.MetaData()
    tasks = after.tables["tasks"].to_metadata(tmp, name="_tasks_0004")
    events = sa.Table(
        "_task_events_0004", tmp,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Integer, sa.ForeignKey("_tasks_0004.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("from_step", sa.String(40)), sa.Column("to_step", sa.String(40)),
        sa.Column("from_status", sa.String(40)), sa.Column("to_status", sa.String(40)),
        sa.Column("outcome", sa.String(40)), sa.Column("note", sa.Text),
        sa.UniqueConstraint("task_id", "seq", name="uq_task_events_task_seq"))
    tmp.create_all(conn)
    for new, old in ((tasks, "tasks"), (events, "task_events")):
        cols = ", ".join(f'"{c.name}"' for c in new.c)
        conn.execute(sa.text(f"INSERT INTO {new.name} ({cols}) SELECT {cols} FROM {old}"))
    op.drop_table("task_events")
    op.drop_table("tasks")
    op.rename_table("_tasks_0004", "tasks")
    op.rename_table("_task_events_0004", "task_events")
    op.create_index("ix_task_events_task_id", "task_events", ["task_id"])
    op.create_index("ix_tasks_status_review_at", "tasks", ["status", "review_at"])


def _alter_keys(conn: sa.Connection, after: sa.MetaData) -> None:
    """PostgreSQL: the column becomes required and joins the keys, in place."""
    inspector = sa.inspect(conn)
    for name in TABLES:
        op.alter_column(name, "profile", nullable=False)
        if name == "tasks":
            for uq in inspector.get_unique_constraints("tasks"):
                if uq["column_names"] == ["opportunity_id"] and uq["name"]:
                    op.drop_constraint(uq["name"], "tasks", type_="unique")
            op.create_unique_constraint("uq_tasks_profile_opportunity", "tasks",
                                        ["profile", "opportunity_id"])
            continue
        pk = inspector.get_pk_constraint(name)
        op.drop_constraint(pk["name"] or f"{name}_pkey", name, type_="primary")
        op.create_primary_key(f"{name}_pkey", name, [c.name for c in after.tables[name].primary_key])


def downgrade() -> None:
    raise NotImplementedError("0004 keeps the profile of every row: restore the copy taken before it")
