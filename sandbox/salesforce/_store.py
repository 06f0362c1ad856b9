"""The org in SQLite: one table per sObject, the field catalogue, sessions, and query cursors.

Writes go through one connection under one lock (SQLite allows one writer; serialising here
keeps ``SystemModstamp`` from going backwards). Stamps are whole seconds, as in a real org, so
records written in the same second share a stamp: a client's cursor must be tie-safe. Reads
use their own connections, and WAL mode lets them run while a write is in progress. A query's
pages come from one open SQLite cursor per query locator, read inside its own read
transaction: each page continues where the last one stopped (no OFFSET re-scan) and sees the
snapshot the first page saw, which is how Salesforce cursors behave too.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from presales_sync.sandbox.core._clock import Clock, SystemClock, now_ms
from presales_sync.sandbox.core._db import Database
from presales_sync.sandbox.salesforce._catalog import SQL_TYPES, FieldDef, ObjectDef
from presales_sync.sandbox.salesforce._history import record_changes
from presales_sync.sandbox.salesforce._query import Compiled
from presales_sync.sandbox.salesforce._values import whole_second

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CURSOR_IDLE_SECONDS = 2 * 24 * 3600  # Salesforce keeps query cursors for two days (API v56+)
MAX_OPEN_CURSORS = 64


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Cursor:
    """An open query: the rows not yet delivered, and the last page (to answer a retry)."""

    locator: str
    compiled: Compiled
    conn: sqlite3.Connection
    rows: sqlite3.Cursor
    total: int
    delivered: int = 0
    last_page_start: int = 0
    last_page: list[tuple[Any, ...]] = field(default_factory=list)
    last_used: float = 0.0  # the store's clock, seconds
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        try:
            self.rows.close()
            self.conn.close()
        except sqlite3.Error:
            pass


class Store(Database):
    """All database access of the sandbox."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        super().__init__(path)
        self.clock: Clock = clock or SystemClock()
        self._create_meta_tables()
        self.objects: dict[str, ObjectDef] = {}
        self._reload_catalogue()
        self._last_stamp = self._max_stamp()
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._cursor_lock = threading.Lock()

    def close(self) -> None:
        with self._cursor_lock:
            for cur in self._cursors.values():
                cur.close()
            self._cursors.clear()
        super().close()

    # -- catalogue and meta ----------------------------------------------------------------

    def _create_meta_tables(self) -> None:
        text = {"name", "label", "type", "picklist_values", "reference_to", "relationship_name",
                "display_format", "child_relationship"}
        cols = ", ".join(
            f"{_q(name)} {'TEXT' if name in text else 'INTEGER'}" for name in FieldDef.__dataclass_fields__
        )
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            # The recycle bin: ids of deleted records, so an update says ENTITY_IS_DELETED.
            db.execute("CREATE TABLE IF NOT EXISTS _deleted (id TEXT PRIMARY KEY)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS _objects (name TEXT PRIMARY KEY, label TEXT, "
                "label_plural TEXT, key_prefix TEXT, custom INTEGER, position INTEGER)"
            )
            db.execute(
                f"CREATE TABLE IF NOT EXISTS _fields (object TEXT NOT NULL, position INTEGER NOT NULL, "
                f"{cols}, PRIMARY KEY (object, name))"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS _sessions (session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, "
                "created INTEGER NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS _sessions_user ON _sessions (user_id)")
            # A data dir made before a FieldDef column existed gains it (defaults: NULL = off).
            have = {r[1] for r in db.execute("PRAGMA table_info(_fields)")}
            for name in FieldDef.__dataclass_fields__:
                if name not in have:
                    kind = "TEXT" if name in text else "INTEGER"
                    db.execute(f"ALTER TABLE _fields ADD COLUMN {_q(name)} {kind}")
            # Custom objects: their Metadata definition, and whether object permissions guard
            # their records (``acl``; seeded ones are open to everyone, like seeded fields).
            db.execute(
                "CREATE TABLE IF NOT EXISTS _md_objects (name TEXT PRIMARY KEY COLLATE NOCASE, "
                "kind TEXT NOT NULL, acl INTEGER NOT NULL, definition TEXT NOT NULL)"
            )

    def _reload_catalogue(self) -> None:
        with self.reader() as db:
            db.row_factory = sqlite3.Row
            objs = db.execute("SELECT * FROM _objects ORDER BY position").fetchall()
            fields = db.execute("SELECT * FROM _fields ORDER BY object, position").fetchall()
        by_object: dict[str, list[FieldDef]] = {}
        for row in fields:
            data = {k: v for k, v in zip(row.keys(), row, strict=True) if k not in ("object", "position")}
            by_object.setdefault(row["object"], []).append(FieldDef.from_row(data))
        self.objects = {
            o["name"].lower(): ObjectDef(
                o["name"],
                o["label"],
                o["label_plural"],
                o["key_prefix"],
                bool(o["custom"]),
                tuple(by_object.get(o["name"], [])),
            )
            for o in objs
        }

    def install_objects(self, objects: Iterable[ObjectDef]) -> None:
        """Create the catalogue rows and one table per object (indexes for paging by stamp)."""
        with self.transaction() as db:
            for obj in objects:
                self.create_object(db, obj)
        self._reload_catalogue()

    def create_object(self, db: sqlite3.Connection, obj: ObjectDef) -> None:
        """One object's catalogue rows and table inside ``db``'s transaction (call
        `reload_catalogue` after the commit). A table left by a deleted object is replaced."""
        pos = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM _objects").fetchone()[0]
        db.execute(
            "INSERT INTO _objects VALUES (?, ?, ?, ?, ?, ?)",
            (obj.name, obj.label, obj.label_plural, obj.key_prefix, int(obj.custom), int(pos)),
        )
        cols = []
        for fpos, f in enumerate(obj.fields):
            self._insert_field_row(db, obj.name, fpos, f)
            pk = " PRIMARY KEY" if f.name == "Id" else ""
            cols.append(f"{_q(f.name)} {SQL_TYPES[f.type]}{pk}")
        db.execute(f"DROP TABLE IF EXISTS {_q(obj.name)}")
        db.execute(f"CREATE TABLE {_q(obj.name)} ({', '.join(cols)})")
        if obj.field("SystemModstamp") is not None:  # a history object has none
            db.execute(f'CREATE INDEX {_q(obj.name + "_stamp")} ON {_q(obj.name)} ("SystemModstamp", "Id")')

    def drop_object(self, db: sqlite3.Connection, name: str) -> None:
        """Remove an object from the catalogue with its records (the table goes too)."""
        db.execute("DELETE FROM _objects WHERE name = ? COLLATE NOCASE", (name,))
        db.execute("DELETE FROM _fields WHERE object = ? COLLATE NOCASE", (name,))
        db.execute(f"DROP TABLE IF EXISTS {_q(name)}")

    @staticmethod
    def _insert_field_row(db: sqlite3.Connection, object_name: str, pos: int, f: FieldDef) -> None:
        row = f.to_row()
        names = ", ".join(_q(n) for n in ["object", "position", *row])
        marks = ", ".join("?" for _ in range(len(row) + 2))
        db.execute(f"INSERT INTO _fields ({names}) VALUES ({marks})", [object_name, pos, *row.values()])

    def add_field(self, object_name: str, f: FieldDef) -> None:
        """Add a field at run time (for a later Metadata endpoint): catalogue row + column."""
        obj = self.objects[object_name.lower()]
        with self.transaction() as db:
            self._insert_field_row(db, obj.name, len(obj.fields), f)
            db.execute(f"ALTER TABLE {_q(obj.name)} ADD COLUMN {_q(f.name)} {SQL_TYPES[f.type]}")
        self._reload_catalogue()

    def put_field(self, db: sqlite3.Connection, object_name: str, f: FieldDef) -> bool:
        """Add or replace a field inside ``db``'s transaction (catalogue row, and the column
        when the table lacks it); True if the field is new to the catalogue. Call
        `reload_catalogue` after the commit."""
        obj = self.objects[object_name.lower()]
        row = db.execute(
            "SELECT position FROM _fields WHERE object = ? AND name = ? COLLATE NOCASE", (obj.name, f.name)
        ).fetchone()
        if row is not None:
            db.execute("DELETE FROM _fields WHERE object = ? AND name = ? COLLATE NOCASE", (obj.name, f.name))
            self._insert_field_row(db, obj.name, int(row[0]), f)
            return False
        pos = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM _fields WHERE object = ?", (obj.name,))
        self._insert_field_row(db, obj.name, int(pos.fetchone()[0]), f)
        columns = {r[1].lower() for r in db.execute(f"PRAGMA table_info({_q(obj.name)})")}
        if f.name.lower() not in columns:
            db.execute(f"ALTER TABLE {_q(obj.name)} ADD COLUMN {_q(f.name)} {SQL_TYPES[f.type]}")
        else:  # a field deleted before and created again starts empty
            db.execute(f"UPDATE {_q(obj.name)} SET {_q(f.name)} = NULL")
        return True

    def fill_column(self, db: sqlite3.Connection, object_name: str, name: str, value: Any) -> None:
        db.execute(f"UPDATE {_q(object_name)} SET {_q(name)} = ?", (value,))

    def insert_row(self, db: sqlite3.Connection, object_name: str, values: dict[str, Any]) -> None:
        cols = ", ".join(_q(k) for k in values)
        marks = ", ".join("?" for _ in values)
        db.execute(f"INSERT INTO {_q(object_name)} ({cols}) VALUES ({marks})", list(values.values()))

    def delete_row(self, db: sqlite3.Connection, object_name: str, record_id: str) -> None:
        db.execute(f'DELETE FROM {_q(object_name)} WHERE "Id" = ?', (record_id,))
        db.execute("INSERT OR IGNORE INTO _deleted VALUES (?)", (record_id,))

    def is_deleted(self, db: sqlite3.Connection, record_id: str) -> bool:
        return db.execute("SELECT 1 FROM _deleted WHERE id = ?", (record_id,)).fetchone() is not None

    def drop_field(self, db: sqlite3.Connection, object_name: str, name: str) -> None:
        """Remove a field from the catalogue (the column stays, hidden)."""
        db.execute("DELETE FROM _fields WHERE object = ? AND name = ? COLLATE NOCASE", (object_name, name))

    def reload_catalogue(self) -> None:
        self._reload_catalogue()

    def meta(self, key: str) -> str | None:
        with self.reader() as db:
            row = db.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?)", (key, value))

    def insert_rows(self, db: sqlite3.Connection, obj: ObjectDef, rows: Iterable[dict[str, Any]]) -> None:
        names = [f.name for f in obj.fields]
        sql = (
            f"INSERT INTO {_q(obj.name)} ({', '.join(_q(n) for n in names)}) "
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        db.executemany(sql, ([row.get(n) for n in names] for row in rows))

    def _max_stamp(self) -> int:
        best = 0
        with self.reader() as db:
            for obj in self.objects.values():
                if obj.field("SystemModstamp") is None:
                    continue
                value = db.execute(f'SELECT MAX("SystemModstamp") FROM {_q(obj.name)}').fetchone()[0]
                best = max(best, int(value or 0))
        return best

    def next_stamp(self) -> int:
        """Now in UTC ms, floored to the second like a real org's stamps, and never before a
        stamp handed out earlier (the clock may step back)."""
        with self._write_lock:
            now = whole_second(now_ms(self.clock))
            self._last_stamp = max(now, self._last_stamp)
            return self._last_stamp

    # -- sessions --------------------------------------------------------------------------

    def session_user(self, session_id: str) -> str | None:
        with self.reader() as db:
            row = db.execute("SELECT user_id FROM _sessions WHERE session_id = ?", (session_id,)).fetchone()
        return row[0] if row else None

    def session_for(self, user_id: str, org_id: str) -> str:
        """The user's session id, created once and kept (stable for a data dir)."""
        with self._write_lock:
            with self.reader() as db:
                row = db.execute(
                    "SELECT session_id FROM _sessions WHERE user_id = ? ORDER BY created LIMIT 1", (user_id,)
                ).fetchone()
            if row:
                return str(row[0])
            sid = org_id[:15] + "!AQ" + "".join(secrets.choice(_BASE62) for _ in range(96))
            with self.transaction() as db:
                db.execute("INSERT INTO _sessions VALUES (?, ?, ?)", (sid, user_id, int(self.clock.now())))
            return sid

    def revoke_session(self, session_id: str) -> None:
        """End a session (an injected expiry): its user gets a new one at the next login."""
        with self.transaction() as db:
            db.execute("DELETE FROM _sessions WHERE session_id = ?", (session_id,))

    # -- records ---------------------------------------------------------------------------

    def get_row(self, obj: ObjectDef, record_id: str) -> dict[str, Any] | None:
        with self.reader() as db:
            db.row_factory = sqlite3.Row
            row = db.execute(f'SELECT * FROM {_q(obj.name)} WHERE "Id" = ?', (record_id,)).fetchone()
        return dict(row) if row else None

    def existing_ids(self, db: sqlite3.Connection, obj: ObjectDef, ids: Iterable[str]) -> set[str]:
        wanted = sorted(set(ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found.update(
                r[0] for r in db.execute(f'SELECT "Id" FROM {_q(obj.name)} WHERE "Id" IN ({marks})', chunk)
            )
        return found

    def update_row(
        self, db: sqlite3.Connection, obj: ObjectDef, record_id: str, values: dict[str, Any]
    ) -> None:
        record_changes(db, self, obj, record_id, values)
        sets = ", ".join(f"{_q(k)} = ?" for k in values)
        db.execute(f'UPDATE {_q(obj.name)} SET {sets} WHERE "Id" = ?', [*values.values(), record_id])

    # -- query cursors ---------------------------------------------------------------------

    def open_query(self, compiled: Compiled) -> Cursor:
        """Run ``compiled`` in its own read transaction and keep the cursor for later pages."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            total = int(conn.execute(compiled.count_sql, compiled.params).fetchone()[0])
            if compiled.limit is not None:
                total = min(total, compiled.limit)
            rows = conn.execute(compiled.sql, compiled.params) if not compiled.count_only else conn.cursor()
        except BaseException:
            conn.close()
            raise
        locator = "01gDn" + "".join(secrets.choice(_BASE62) for _ in range(10)) + "AAA"
        return Cursor(locator, compiled, conn, rows, total, last_used=self.clock.now())

    def keep_cursor(self, cur: Cursor) -> None:
        """Remember an unfinished cursor; the least recently used beyond the cap is closed."""
        with self._cursor_lock:
            self._cursors[cur.locator] = cur
            self._expire_locked()

    def _expire_locked(self) -> None:
        now = self.clock.now()
        for loc in [loc for loc, c in self._cursors.items() if now - c.last_used > CURSOR_IDLE_SECONDS]:
            self._cursors.pop(loc).close()
        while len(self._cursors) > MAX_OPEN_CURSORS:
            _loc, oldest = self._cursors.popitem(last=False)
            oldest.close()

    def cursor(self, locator: str) -> Cursor | None:
        with self._cursor_lock:
            self._expire_locked()
            cur = self._cursors.get(locator)
            if cur is not None:
                self._cursors.move_to_end(locator)
                cur.last_used = self.clock.now()
            return cur

    def drop_cursor(self, locator: str) -> None:
        with self._cursor_lock:
            cur = self._cursors.pop(locator, None)
        if cur is not None:
            cur.close()
