"""The store: a SQLAlchemy engine plus the few queries the sync needs.

Transactions are explicit: the engine opens them (`store.begin()`) and passes the
connection to each call, so a page of records, its task changes and the cursor move
commit together or not at all.

A store is bound to one profile when it is opened (`Store.open(url, profile=…)`, or
`store.for_profile(…)` for another view of the same database): every query of an org's rows
(opportunities, tasks, ledger, state, failure queue) reads and writes that profile's only, so
two profiles can share one database. Cursors, locks and runs name their profile in the call."""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from presales_sync.rules import EventKind, Status, Step, Task, TaskEvent
from presales_sync.sync.store import _sqlite
from presales_sync.sync.store import schema as t
from presales_sync.sync.store.errors import (
    StoreCorrupt,
    StoreError,
    StoreOwnedElsewhere,
    StoreTooNew,
    StoreUnavailable,
    store_fault,
)
from presales_sync.sync.store.owner import OWNER_KEY, StoreOwner, refusal

log = logging.getLogger("presales.store")

#: A lock taken on another host is taken over once it is this old (its holder cannot be
#: probed from here; a run lasts minutes, a Kubernetes Job at most its activeDeadlineSeconds).
LOCK_STALE_AFTER = timedelta(hours=12)
_LOCK_ATTEMPTS = 8
#: The `state` row naming the presales-sync version that last migrated the schema (read when
#: a newer one's store is refused).
WRITTEN_BY_KEY = "store.written_by"
_MIGRATIONS = Path(__file__).parent / "migrations"
#: The profile of a store opened without one (a config's own default).
DEFAULT_PROFILE = "default"
#: The profile of the `state` rows that belong to the store, not to an org.
STORE_WIDE = ""
_STORE_WIDE_KEYS = frozenset({OWNER_KEY, WRITTEN_BY_KEY})


class LockHeld(Exception):
    """Another live process holds the run lock for this profile."""

    def __init__(self, pid: int, host: str, since: datetime):
        super().__init__(f"another run (pid {pid} on {host}) holds the lock since {since:%Y-%m-%d %H:%M:%S}Z")
        self.pid, self.host, self.since = pid, host, since


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass(frozen=True, slots=True)
class OpportunityRow:
    crm_id: str
    stamp: datetime
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One knowledge or learning fact of an engineer (a document, a training, ...)."""

    engineer_id: str
    day: date
    kind: str
    title: str
    evidence: str | None = None


@dataclass(frozen=True, slots=True)
class StoredTask:
    id: int
    task: Task
    message: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ActionRow:
    """An action record the sync took up, as the store keeps it."""

    crm_id: str
    opportunity_id: str
    command: str | None
    actor: str | None
    at: datetime
    outcome: Literal["applied", "refused"]
    reason: str | None = None
    seq: int | None = None


def _event(e: Any) -> TaskEvent:
    """A `task_events` row as the domain's event."""
    return TaskEvent(
        kind=EventKind(e.kind), at=_aware(e.at), actor=e.actor,  # type: ignore[arg-type]
        from_step=Step(e.from_step) if e.from_step else None,
        to_step=Step(e.to_step) if e.to_step else None,
        from_status=Status(e.from_status) if e.from_status else None,
        to_status=Status(e.to_status) if e.to_status else None,
        outcome=e.outcome, note=e.note, engineer_id=e.engineer_id, source=e.source)


def _cut(value: Any, size: int) -> Any:
    return value[:size] if isinstance(value, str) else value


# Statements built once: building and cache-keying a statement per row cost more than the
# database work itself (a first sync of 2,000 records spent 2/3 of its time there).
_OPP_INSERT = insert(t.opportunities)
_OPP_UPDATE = update(t.opportunities).where((t.opportunities.c.profile == bindparam("b_profile"))
                                            & (t.opportunities.c.crm_id == bindparam("b_crm_id")))
_LEDGER_INSERT = insert(t.ledger)
_LEDGER_UPDATE = update(t.ledger).where(
    (t.ledger.c.profile == bindparam("b_profile")) & (t.ledger.c.object == bindparam("b_object"))
    & (t.ledger.c.record_id == bindparam("b_record_id")) & (t.ledger.c.field == bindparam("b_field"))
).values(value=bindparam("b_value"), updated_at=bindparam("b_updated_at"))
_LEDGER_ONE = select(t.ledger.c.field, t.ledger.c.value).where(
    (t.ledger.c.profile == bindparam("b_profile")) & (t.ledger.c.object == bindparam("b_object"))
    & (t.ledger.c.record_id == bindparam("b_record_id")))
_TASK_INSERT = insert(t.tasks)
_TASK_UPDATE = update(t.tasks).where(t.tasks.c.id == bindparam("b_id"))
_EVENTS_INSERT = insert(t.task_events)
_MIRRORED_UPDATE = update(t.task_events).where(
    (t.task_events.c.task_id == bindparam("b_task")) & (t.task_events.c.seq == bindparam("b_seq"))
).values(mirrored=True)
_REVIEW_UPDATE = update(t.tasks).where(t.tasks.c.id == bindparam("b_id")).values(
    review_at=bindparam("review_at"))


class Store:
    """One database (SQLite file or PostgreSQL), migrated forward on open, seen as one
    profile's rows."""

    def __init__(self, engine: Engine, path: Path | None = None, *, profile: str = DEFAULT_PROFILE):
        self.engine = engine
        self.path = path  # the SQLite file, None for PostgreSQL or memory
        self.profile = profile

    def for_profile(self, profile: str) -> Store:
        """This database seen as `profile`'s rows (itself when it already is); the views share
        one engine, so closing one closes them all."""
        return self if profile == self.profile else Store(self.engine, self.path, profile=profile)

    @property
    def where(self) -> str:
        """The store as messages name it: its file, or its URL without a password."""
        return str(self.path) if self.path else self.engine.url.render_as_string(hide_password=True)

    @classmethod
    def open(cls, url: str, *, profile: str = DEFAULT_PROFILE) -> Store:
        """Open the store at `url`, check it and migrate it forward; `StoreError` (a kind of
        it) names the file or URL and what to do, and leaves a refused store untouched."""
        try:
            engine = create_engine(url, future=True)
        except (SQLAlchemyError, ImportError, ValueError) as err:
            raise StoreError(f"cannot use store URL: {err.__class__.__name__}: {err}") from None
        path = _sqlite_path(engine)
        if path is not None:
            _sqlite.check(path)
        if engine.dialect.name == "sqlite":
            _sqlite_pragmas(engine)
        store = cls(engine, path, profile=profile)
        try:
            store.migrate()
        except BaseException:
            engine.dispose()
            raise
        return store

    def migrate(self) -> None:
        """Bring the schema to this version's head. A revision unknown here (a newer version
        wrote the store) is refused before anything is written; an existing SQLite file is
        copied aside first."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        script = ScriptDirectory.from_config(cfg)
        head = script.get_current_head()
        found = self._look()
        self._refuse_unknown(found, script, head)
        if found.revisions == (head,):
            return
        if found.revisions and self.path is not None:
            copy = _sqlite.backup(self.path, found.revisions[0])
            log.warning("store %s: copied to %s before migrating its schema from revision %s to %s",
                        self.path, copy, found.revisions[0], head)
        elif found.revisions:
            log.warning("store %s: migrating its schema from revision %s to %s (back the database "
                        "up yourself: only SQLite files are copied aside)", self.where,
                        found.revisions[0], head)
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                self.set_state(conn, WRITTEN_BY_KEY, {"version": _version(), "revision": head,
                                                      "at": datetime.now(UTC).isoformat()})
        except SQLAlchemyError as err:
            fault = store_fault(err, self.where)
            raise (fault or StoreError(f"cannot open store {self.where}: {err}")) from None

    def _look(self) -> _sqlite.Found:
        """What the store holds now, read without writing."""
        if self.path is not None:
            return _sqlite.look(self.path, (WRITTEN_BY_KEY,))
        try:
            with self.engine.connect() as conn:
                tables = frozenset(inspect(conn).get_table_names())
                revisions = tuple(conn.exec_driver_sql("SELECT version_num FROM alembic_version")
                                  .scalars()) if "alembic_version" in tables else ()
                written = self.get_state(conn, WRITTEN_BY_KEY) if "state" in tables else None
        except SQLAlchemyError as err:
            fault = store_fault(err, self.where)
            raise (fault or StoreError(f"cannot open store {self.where}: {err}")) from None
        return _sqlite.Found(tables, revisions, {WRITTEN_BY_KEY: written} if written else {})

    def _refuse_unknown(self, found: _sqlite.Found, script: ScriptDirectory, head: str | None) -> None:
        known = {rev.revision for rev in script.walk_revisions()}
        unknown = [r for r in found.revisions if r not in known]
        if unknown:
            by = found.state.get(WRITTEN_BY_KEY) or {}
            writer = (f"presales-sync {by['version']}" if isinstance(by, dict) and by.get("version")
                      else "a newer presales-sync")
            raise StoreTooNew(
                f"store {self.where} has schema revision {', '.join(unknown)}, written by {writer}; "
                f"this presales-sync {_version()} knows revisions up to {head}. Nothing was changed: "
                f"upgrade presales-sync where this runs, or point `store:` at another database")
        if not found.revisions and self.path is not None and found.tables:
            raise StoreCorrupt(
                f"store {self.path} is a SQLite database of something else (tables "
                f"{', '.join(sorted(found.tables)[:5])}; no presales-sync schema); it was left "
                f"untouched: point `store:` at another file")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; a failing store (disk full, damaged file, server gone) is raised as
        the `StoreError` kind that says what to do, after the transaction rolled back."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as err:
            fault = store_fault(err, self.where)
            if fault is None:
                raise
            raise fault from err

    # -- owner ----------------------------------------------------------------------
    def claim(self, owner: StoreOwner, now: datetime | None = None) -> None:
        """Record `owner` as the CRM org of a store that has none yet; `StoreOwnedElsewhere`
        when another org holds it. Runs starting at once race for the first record: the
        loser reads the winner's."""
        now = now or datetime.now(UTC)
        held: Any = None
        for attempt in range(_LOCK_ATTEMPTS):
            try:
                with self.begin() as conn:
                    held = self.get_state(conn, OWNER_KEY)
                    if held is None:
                        self.set_state(conn, OWNER_KEY, owner.as_state(now))
                        log.info("store %s now belongs to %s", self.where, owner)
                        return
                break
            except IntegrityError:
                continue
            except StoreUnavailable as err:
                if not _busy(err) or attempt == _LOCK_ATTEMPTS - 1:
                    raise
                time.sleep(min(1.0, 0.05 * 2 ** attempt) * (1 + random.random()))
        recorded = StoreOwner.from_state(held)
        if not recorded.same_org(owner):
            since = str(held.get("since", "?")) if isinstance(held, dict) else "?"
            raise StoreOwnedElsewhere(refusal(self.where, recorded, since, owner))

    def owner(self) -> StoreOwner | None:
        with self.begin() as conn:
            held = self.get_state(conn, OWNER_KEY)
        return None if held is None else StoreOwner.from_state(held)

    # -- lock -----------------------------------------------------------------------
    def acquire_lock(self, profile: str, now: datetime | None = None, *,
                     stale_after: timedelta = LOCK_STALE_AFTER) -> None:
        """Take the run lock for `profile` or raise `LockHeld` naming the holder.

        A lock whose holder is gone is taken over: on this host when its pid is dead or now
        belongs to a process started after the lock was taken (pid reuse); from another host
        (a Kubernetes pod, a second server) once it is older than `stale_after`. Ages use the
        wall clock (`now`, the run's logical time, is not used for locks). Two processes
        racing for a free lock: one wins, the other gets `LockHeld` naming the winner."""
        for attempt in range(_LOCK_ATTEMPTS):
            wall, host = datetime.now(UTC), socket.gethostname()
            me = {"profile": profile, "pid": os.getpid(), "host": host, "acquired_at": wall}
            try:
                with self.begin() as conn:
                    row = conn.execute(select(t.run_locks).where(t.run_locks.c.profile == profile)).first()
                    if row is not None:
                        since = _aware(row.acquired_at) or wall
                        if not _stale(row.pid, row.host, since, host, wall, stale_after):
                            raise LockHeld(row.pid, row.host, since)
                        log.warning("taking over the run lock of %s: pid %s on %s since %s is gone",
                                    profile, row.pid, row.host, f"{since:%Y-%m-%d %H:%M:%S}Z")
                        conn.execute(delete(t.run_locks).where(
                            (t.run_locks.c.profile == profile) & (t.run_locks.c.pid == row.pid)
                            & (t.run_locks.c.host == row.host)))
                    conn.execute(insert(t.run_locks).values(**me))
                return
            except IntegrityError:
                # Another process inserted between our read and our write: look again (the
                # next read names it as the holder).
                continue
            except StoreUnavailable as err:
                # SQLite: "database is locked" when other processes keep the file busy longer
                # than busy_timeout (many runs starting at once on a loaded machine). Back off.
                # Anything else (a full disk) will not pass by waiting.
                if not _busy(err):
                    raise
                if attempt == _LOCK_ATTEMPTS - 1:
                    raise StoreUnavailable(f"cannot take the run lock: store {self.where} stayed busy "
                                           f"({err.__cause__})") from None
                time.sleep(min(1.0, 0.05 * 2 ** attempt) * (1 + random.random()))
        raise StoreError("cannot take the run lock: it changed hands too often")  # pragma: no cover

    def release_lock(self, profile: str) -> None:
        with self.begin() as conn:
            conn.execute(delete(t.run_locks).where(
                (t.run_locks.c.profile == profile) & (t.run_locks.c.pid == os.getpid())
                & (t.run_locks.c.host == socket.gethostname())))

    # -- cursor ---------------------------------------------------------------------
    def get_cursor(self, conn: Connection, profile: str, obj: str) -> datetime | None:
        row = conn.execute(select(t.cursors.c.stamp).where(
            (t.cursors.c.profile == profile) & (t.cursors.c.object == obj))).first()
        return _aware(row.stamp) if row else None

    def set_cursor(self, conn: Connection, profile: str, obj: str, stamp: datetime,
                   now: datetime) -> None:
        current = self.get_cursor(conn, profile, obj)
        if current is None:
            conn.execute(insert(t.cursors).values(profile=profile, object=obj, stamp=stamp, updated_at=now))
        elif stamp > current:
            conn.execute(update(t.cursors).where(
                (t.cursors.c.profile == profile) & (t.cursors.c.object == obj)
            ).values(stamp=stamp, updated_at=now))

    def all_cursors(self, conn: Connection) -> list[dict[str, Any]]:
        return [{"profile": r.profile, "object": r.object, "stamp": _aware(r.stamp)}
                for r in conn.execute(select(t.cursors))]

    # -- opportunities --------------------------------------------------------------
    def stamps(self, conn: Connection, ids: Iterable[str]) -> dict[str, datetime]:
        ids = list(ids)
        if not ids:
            return {}
        o = t.opportunities.c
        rows = conn.execute(select(o.crm_id, o.stamp).where((o.profile == self.profile) & o.crm_id.in_(ids)))
        return {r.crm_id: _aware(r.stamp) for r in rows}  # type: ignore[misc]

    def upsert_opportunity(self, conn: Connection, row: OpportunityRow, exists: bool) -> None:
        v = row.values
        amount = v.get("amount")
        close = v.get("close_date")
        # The full values live in the JSON column; the typed columns (for reports) are cut to
        # their sizes so a 100 kB stage from a misconfigured CRM field cannot fail the page.
        data = {
            "name": v.get("name"), "account_id": _cut(v.get("account_id"), 64),
            "account_name": v.get("account_name"), "stage": _cut(v.get("stage"), 120),
            "amount": Decimal(str(amount)) if amount is not None else None,
            "close_date": date.fromisoformat(close) if close else None,
            "is_closed": bool(v.get("is_closed")), "is_won": bool(v.get("is_won")),
            "requested": bool(v.get("requested")), "priority": _cut(v.get("priority"), 20),
            "stamp": row.stamp, "values": {k: _json_safe(x) for k, x in v.items()},
        }
        if exists:
            conn.execute(_OPP_UPDATE, {"b_profile": self.profile, "b_crm_id": row.crm_id, **data})
        else:
            conn.execute(_OPP_INSERT, {"profile": self.profile, "crm_id": row.crm_id, **data})

    def opportunity_values(self, conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(ids)
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids, 500):
            for r in conn.execute(select(t.opportunities.c.crm_id, t.opportunities.c["values"])
                                  .where((t.opportunities.c.profile == self.profile)
                                         & t.opportunities.c.crm_id.in_(chunk))):
                out[r.crm_id] = dict(r[1])
        return out

    # -- tasks ----------------------------------------------------------------------
    def load_tasks(self, conn: Connection, opportunity_ids: Iterable[str]) -> dict[str, StoredTask]:
        ids = list(opportunity_ids)
        out: dict[str, StoredTask] = {}
        for chunk in _chunks(ids, 500):
            rows = conn.execute(select(t.tasks).where(
                self._mine(t.tasks) & t.tasks.c.opportunity_id.in_(chunk))).all()
            out.update(self._hydrate(conn, rows))
        return out

    def open_tasks(self, conn: Connection) -> dict[str, StoredTask]:
        rows = conn.execute(select(t.tasks).where(
            self._mine(t.tasks) & (t.tasks.c.status != Status.CLOSED.value)).order_by(t.tasks.c.id)).all()
        return self._hydrate(conn, rows)

    def open_tasks_to_review(self, conn: Connection, now: datetime) -> dict[str, StoredTask]:
        """Open tasks whose review moment has come (or was never set), and unassigned ones."""
        c = t.tasks.c
        rows = conn.execute(select(t.tasks).where(
            self._mine(t.tasks) & (c.status != Status.CLOSED.value)
            & (c.review_at.is_(None) | (c.review_at <= now.astimezone(UTC)) | c.engineer_id.is_(None)))
            .order_by(c.id)).all()
        return self._hydrate(conn, rows)

    def open_load(self, conn: Connection) -> dict[str, int]:
        """Open tasks per engineer (the capacity check), counted in SQL."""
        c = t.tasks.c
        rows = conn.execute(select(c.engineer_id, func.count()).where(
            self._mine(t.tasks) & (c.status != Status.CLOSED.value) & c.engineer_id.is_not(None))
            .group_by(c.engineer_id))
        return {r[0]: int(r[1]) for r in rows}

    def count_open_tasks(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(t.tasks).where(
            self._mine(t.tasks) & (t.tasks.c.status != Status.CLOSED.value))).scalar_one())

    def set_review_at(self, conn: Connection, moments: Mapping[int, datetime | None]) -> None:
        """Remember when each task (by store id) should next be evaluated."""
        if moments:
            # UTC: SQLite keeps the wall time only, and the query compares in SQL
            conn.execute(_REVIEW_UPDATE, [{"b_id": i, "review_at": m and m.astimezone(UTC)}
                                          for i, m in moments.items()])

    def all_tasks(self, conn: Connection) -> dict[str, StoredTask]:
        rows = conn.execute(select(t.tasks).where(self._mine(t.tasks)).order_by(t.tasks.c.id)).all()
        return self._hydrate(conn, rows)

    def _hydrate(self, conn: Connection, rows: Sequence[Any]) -> dict[str, StoredTask]:
        by_task: dict[int, list[TaskEvent]] = {r.id: [] for r in rows}
        for chunk in _chunks(list(by_task), 500):
            for e in conn.execute(select(t.task_events).where(t.task_events.c.task_id.in_(chunk))
                                  .order_by(t.task_events.c.task_id, t.task_events.c.seq)):
                by_task[e.task_id].append(_event(e))
        out = {}
        for r in rows:
            task = Task(opportunity_id=r.opportunity_id, step=Step(r.step), status=Status(r.status),
                        engineer_id=r.engineer_id, rework_count=r.rework_count,
                        step_started_at=_aware(r.step_started_at),
                        held_status=Status(r.held_status) if r.held_status else None,
                        events=tuple(by_task[r.id]))
            out[r.opportunity_id] = StoredTask(r.id, task, r.message, _aware(r.created_at))  # type: ignore[arg-type]
        return out

    def save_task(self, conn: Connection, task: Task, *, message: str | None, now: datetime,
                  stored: StoredTask | None, mirrored: bool = False) -> StoredTask:
        """Insert or update a task and append the events the store has not seen yet (not yet
        `mirrored` to the CRM, unless they were read from it)."""
        cols = {"engineer_id": task.engineer_id, "step": task.step.value, "status": task.status.value,
                "held_status": task.held_status.value if task.held_status else None,
                "rework_count": task.rework_count, "step_started_at": task.step_started_at,
                "message": message, "updated_at": now, "review_at": None}
        if stored is None:
            task_id = _new_id(conn.execute(_TASK_INSERT, {
                "profile": self.profile, "opportunity_id": task.opportunity_id, "created_at": now, **cols}))
            known = 0
            created = now
        else:
            task_id, known, created = stored.id, len(stored.task.events), stored.created_at
            if task.events[:known] != stored.task.events:
                raise ValueError(f"task {task.opportunity_id}: events may only be appended")
            conn.execute(_TASK_UPDATE, {"b_id": task_id, **cols})
        new = [{"task_id": task_id, "seq": known + i, "kind": e.kind.value, "at": e.at,
                "actor": e.actor, "from_step": e.from_step and e.from_step.value,
                "to_step": e.to_step and e.to_step.value,
                "from_status": e.from_status and e.from_status.value,
                "to_status": e.to_status and e.to_status.value, "outcome": e.outcome, "note": e.note,
                "engineer_id": e.engineer_id, "source": e.source, "mirrored": mirrored}
               for i, e in enumerate(task.events[known:])]
        if new:
            conn.execute(_EVENTS_INSERT, new)
        return StoredTask(task_id, task, message, created)

    # -- the audit trail in the CRM ---------------------------------------------------
    def unmirrored_events(self, conn: Connection) -> list[tuple[str, int, TaskEvent]]:
        """The plugin's own events the CRM has no record of yet: (opportunity id, seq, event),
        oldest first. Events caused by an action record are mirrored on that record
        (`unwritten_actions`)."""
        e, tk = t.task_events.c, t.tasks.c
        rows = conn.execute(
            select(tk.opportunity_id, t.task_events).join(t.tasks, tk.id == e.task_id)
            .where(self._mine(t.tasks) & e.mirrored.is_(False) & e.source.is_(None))
            .order_by(e.task_id, e.seq)).all()
        return [(r.opportunity_id, r.seq, _event(r)) for r in rows]

    def mark_mirrored(self, conn: Connection, events: Iterable[tuple[str, int]]) -> None:
        """The CRM holds these events (by opportunity id and seq) now."""
        wanted = list(events)
        if not wanted:
            return
        c = t.tasks.c
        ids = {r.opportunity_id: r.id for r in conn.execute(select(c.id, c.opportunity_id).where(
            self._mine(t.tasks) & c.opportunity_id.in_({o for o, _ in wanted})))}
        conn.execute(_MIRRORED_UPDATE, [{"b_task": ids[o], "b_seq": q} for o, q in wanted if o in ids])

    def known_actions(self, conn: Connection, ids: Iterable[str]) -> set[str]:
        """The action records among `ids` that the sync already took up."""
        out: set[str] = set()
        for chunk in _chunks(list(ids), 500):
            out.update(r[0] for r in conn.execute(select(t.actions.c.crm_id).where(
                self._mine(t.actions) & t.actions.c.crm_id.in_(chunk))))
        return out

    def record_action(self, conn: Connection, row: ActionRow, now: datetime, *,
                      written: bool = False) -> None:
        """Take up one action record: applied (its event's `seq`) or refused (`reason`)."""
        conn.execute(insert(t.actions), {
            "profile": self.profile, "crm_id": row.crm_id, "opportunity_id": row.opportunity_id,
            "command": _cut(row.command, 40), "actor": row.actor, "at": row.at, "outcome": row.outcome,
            "reason": _cut(row.reason, 255), "seq": row.seq, "written": written, "taken_at": now})

    def unwritten_actions(self, conn: Connection) -> list[ActionRow]:
        """Action records whose outcome the CRM does not show yet, oldest first."""
        c = t.actions.c
        rows = conn.execute(select(t.actions).where(self._mine(t.actions) & c.written.is_(False))
                            .order_by(c.at, c.crm_id)).all()
        return [ActionRow(r.crm_id, r.opportunity_id, r.command, r.actor, _aware(r.at),  # type: ignore[arg-type]
                          r.outcome, r.reason, r.seq) for r in rows]

    def mark_actions_written(self, conn: Connection, ids: Iterable[str]) -> None:
        """The CRM shows these actions' outcomes (and, for applied ones, their events)."""
        wanted = list(ids)
        for chunk in _chunks(wanted, 500):
            conn.execute(update(t.actions).where(self._mine(t.actions) & t.actions.c.crm_id.in_(chunk))
                         .values(written=True))
            conn.execute(update(t.task_events).where(t.task_events.c.source.in_(chunk)).values(mirrored=True))

    def count_actions(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(t.actions).where(
            self._mine(t.actions))).scalar_one())

    # -- key/value state (round-robin queue) -------------------------------------------
    def _state_key(self, key: str) -> Any:
        """The `state` row of `key`: the profile's, or the store's own for the owner and
        the version that migrated it (read by key alone: an older schema has no profile)."""
        if key in _STORE_WIDE_KEYS:
            return t.state.c.key == key
        return (t.state.c.profile == self.profile) & (t.state.c.key == key)

    def get_state(self, conn: Connection, key: str, default: Any = None) -> Any:
        row = conn.execute(select(t.state.c.value).where(self._state_key(key))).first()
        return row.value if row else default

    def set_state(self, conn: Connection, key: str, value: Any) -> None:
        where = self._state_key(key)
        if conn.execute(select(t.state.c.key).where(where)).first():
            conn.execute(update(t.state).where(where).values(value=value))
        else:
            profile = STORE_WIDE if key in _STORE_WIDE_KEYS else self.profile
            conn.execute(insert(t.state).values(profile=profile, key=key, value=value))

    # -- ledger ---------------------------------------------------------------------
    def ledger(self, conn: Connection, obj: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(ids), 500):
            for r in conn.execute(select(t.ledger).where(
                    self._mine(t.ledger) & (t.ledger.c.object == obj) & t.ledger.c.record_id.in_(chunk))):
                out.setdefault(r.record_id, {})[r.field] = r.value
        return out

    def set_ledger(self, conn: Connection, obj: str, record_id: str, values: Mapping[str, Any],
                   now: datetime, known: Mapping[str, Any] | None = None) -> None:
        """Record what the CRM holds now. `known` is the record's current ledger (avoids a read)."""
        if known is None:
            known = {r.field: r.value for r in conn.execute(
                _LEDGER_ONE, {"b_profile": self.profile, "b_object": obj, "b_record_id": record_id})}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for field, value in values.items():
            if field in known:
                if known[field] != value:
                    updates.append({"b_profile": self.profile, "b_object": obj, "b_record_id": record_id,
                                    "b_field": field, "b_value": value, "b_updated_at": now})
            else:
                inserts.append({"profile": self.profile, "object": obj, "record_id": record_id,
                                "field": field, "value": value, "updated_at": now})
        if inserts:
            conn.execute(_LEDGER_INSERT, inserts)
        if updates:
            conn.execute(_LEDGER_UPDATE, updates)

    # -- write failures -------------------------------------------------------------
    def record_failure(self, conn: Connection, obj: str, record_id: str, code: str | None,
                       message: str | None, now: datetime) -> None:
        key = (self._mine(t.write_failures) & (t.write_failures.c.object == obj)
               & (t.write_failures.c.record_id == record_id))
        row = conn.execute(select(t.write_failures.c.attempts).where(key)).first()
        if row:
            conn.execute(update(t.write_failures).where(key).values(
                error_code=code, message=message, attempts=row.attempts + 1, last_at=now))
        else:
            conn.execute(insert(t.write_failures).values(
                profile=self.profile, object=obj, record_id=record_id, error_code=code, message=message,
                attempts=1, last_at=now))

    def clear_failures(self, conn: Connection, obj: str, record_ids: Iterable[str]) -> None:
        for chunk in _chunks(list(record_ids), 500):
            conn.execute(delete(t.write_failures).where(
                self._mine(t.write_failures) & (t.write_failures.c.object == obj)
                & t.write_failures.c.record_id.in_(chunk)))

    def failures(self, conn: Connection) -> list[dict[str, Any]]:
        f = t.write_failures
        return [dict(r._mapping) for r in conn.execute(
            select(*(c for c in f.c if c.name != "profile")).where(self._mine(f)).order_by(f.c.last_at))]

    def _mine(self, table: Any) -> Any:
        """The condition that keeps a query to this store's profile."""
        return table.c.profile == self.profile

    # -- runs -----------------------------------------------------------------------
    def start_run(self, profile: str, kind: str, now: datetime, dry_run: bool) -> int:
        with self.begin() as conn:
            return _new_id(conn.execute(insert(t.runs).values(
                profile=profile, kind=kind, started_at=now, dry_run=dry_run)))

    def abandon_unfinished_runs(self, profile: str, now: datetime) -> int:
        """Close the records of runs of `profile` that never finished (their process died:
        the caller holds the profile's lock, so none of them is running)."""
        with self.begin() as conn:
            result = conn.execute(update(t.runs).where(
                (t.runs.c.profile == profile) & t.runs.c.finished_at.is_(None)).values(
                finished_at=now, error="abandoned: the process ended before the run finished"))
            return int(result.rowcount or 0)

    def finish_run(self, run_id: int, *, now: datetime, exit_code: int, counts: Mapping[str, Any],
                   api_calls: Mapping[str, int], error: str | None = None) -> None:
        with self.begin() as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(
                finished_at=now, exit_code=exit_code, counts=dict(counts),
                api_calls=dict(api_calls), error=error))

    def recent_runs(self, conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
        rows = conn.execute(select(t.runs).order_by(t.runs.c.id.desc()).limit(limit))
        return [{**r._mapping, "started_at": _aware(r.started_at),
                 "finished_at": _aware(r.finished_at)} for r in rows]

    # -- KPI: activities and scores ----------------------------------------------------
    def add_activities(self, conn: Connection, rows: Sequence[ActivityRow], now: datetime) -> int:
        """Insert the activities not stored yet (same engineer, day, kind and title); the
        number added. Repeats inside `rows` count once."""
        new: dict[tuple[str, date, str, str], ActivityRow] = {}
        a = t.activities
        for chunk in _chunks(list(rows), 500):
            days = {r.day for r in chunk}
            known = {(r.engineer_id, r.day, r.kind, r.title) for r in conn.execute(
                select(a.c.engineer_id, a.c.day, a.c.kind, a.c.title).where(
                    a.c.engineer_id.in_({r.engineer_id for r in chunk}) & a.c.day.in_(days)))}
            for r in chunk:
                key = (r.engineer_id, r.day, r.kind, r.title)
                if key not in known:
                    new.setdefault(key, r)
        if new:
            conn.execute(insert(a), [{"engineer_id": r.engineer_id, "day": r.day, "kind": r.kind,
                                      "title": r.title, "evidence": r.evidence, "imported_at": now}
                                     for r in new.values()])
        return len(new)

    def activities(self, conn: Connection, start: date, end: date) -> list[tuple[int, ActivityRow]]:
        """(id, activity) with `start <= day < end`, in day order."""
        a = t.activities
        rows = conn.execute(select(a).where((a.c.day >= start) & (a.c.day < end)).order_by(a.c.day, a.c.id))
        return [(r.id, ActivityRow(r.engineer_id, r.day, r.kind, r.title, r.evidence)) for r in rows]

    def kpi_scores(self, conn: Connection, period: str) -> dict[str, dict[str, Any]]:
        """Stored scorecards of `period` by engineer (numbers as floats)."""
        out: dict[str, dict[str, Any]] = {}
        for r in conn.execute(select(t.kpi_scores).where(t.kpi_scores.c.period == period)):
            row = dict(r._mapping)
            for col in ("raw_score", "kpi_score", "behaviour_score"):
                row[col] = None if row[col] is None else float(row[col])
            row["computed_at"] = _aware(row["computed_at"])
            out[r.engineer_id] = row
        return out

    def save_kpi_score(self, conn: Connection, period: str, engineer_id: str, values: Mapping[str, Any],
                       now: datetime) -> None:
        """Insert or update one scorecard's columns named in `values`; others are kept."""
        k = t.kpi_scores
        key = (k.c.period == period) & (k.c.engineer_id == engineer_id)
        data = {**values, "computed_at": now}
        if conn.execute(select(k.c.period).where(key)).first():
            conn.execute(update(k).where(key).values(**data))
        else:
            conn.execute(insert(k).values(period=period, engineer_id=engineer_id, **data))

    def count_tasks(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(t.tasks)
                                .where(self._mine(t.tasks))).scalar_one())


def _busy(err: StoreUnavailable) -> bool:
    """Whether the store failed only because another process kept it locked."""
    cause = err.__cause__
    orig = getattr(cause, "orig", None)
    return isinstance(cause, OperationalError) and (
        str(getattr(orig, "sqlite_errorname", "")).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
        or "database is locked" in str(orig))


def _sqlite_path(engine: Engine) -> Path | None:
    """The file of a SQLite store (None for PostgreSQL and in-memory databases)."""
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).absolute()


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT (one bad record must
        # roll back alone): let SQLAlchemy emit BEGIN itself (see "begin" below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def _version() -> str:
    """This presales-sync's version (as installed)."""
    try:
        return metadata.version("presales-sync")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "(not installed)"


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table here has an autoincrement key
        raise StoreError("insert returned no primary key")
    return int(key[0])


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _stale(pid: int, host: str, since: datetime, my_host: str, wall: datetime,
           stale_after: timedelta) -> bool:
    """Whether a lock held by `pid` on `host` since `since` may be taken over."""
    if host != my_host:
        return wall - since > stale_after
    if not _pid_alive(pid):
        return True
    started = _process_start(pid)
    # A live pid that started after the lock was taken is not the holder: the pid was reused.
    return started is not None and started > since + _START_SLACK


#: The process start time read from /proc is exact to a clock tick, the boot time to a second.
_START_SLACK = timedelta(seconds=2)


def _process_start(pid: int) -> datetime | None:
    """When process `pid` started (Linux /proc; None elsewhere or when unreadable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text(encoding="ascii")
                    .splitlines() if line.startswith("btime "))
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after "(comm)"
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), UTC)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["ActivityRow", "LockHeld", "OpportunityRow", "Store", "StoredTask"]
