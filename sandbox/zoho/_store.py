"""The Zoho org in its own SQLite file (``zoho.db``): field catalogue, records, OAuth tokens.

Zoho records are kept as one JSON document per record, with ``id`` and the two stamps as
indexed columns: Get Records filters on ``Modified_Time`` (``If-Modified-Since``) and sorts by
``id`` / ``Created_Time`` / ``Modified_Time`` only, so those are the only values SQL needs to
see. Lookups are stored as bare ids and rendered as ``{name, id}`` at read time, as Zoho
does. Stamps are whole seconds: Zoho's datetimes have no fractional part.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from presales_sync.sandbox.core._clock import Clock, SystemClock
from presales_sync.sandbox.core._db import Database

#: Zoho ``data_type`` → ``json_type`` (as settings/fields reports it).
JSON_TYPES: dict[str, str] = {
    "text": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "website": "string",
    "picklist": "string",
    "date": "string",
    "datetime": "string",
    "bigint": "string",
    "autonumber": "string",
    "integer": "integer",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "boolean": "boolean",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "userlookup": "jsonobject",
    "multiselectpicklist": "jsonarray",
}
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup", "userlookup"})
#: Modules the sandbox stores records of ("users" is the Users API's, not a records module).
RECORD_MODULES = ("Deals", "Accounts")
USERS = "users"


def derived_api_name(label: str) -> str:
    """The API name Zoho gives a new field with this label: non-alphanumerics become ``_``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")


@dataclass(frozen=True)
class ZField:
    """One field as ``GET /settings/fields`` describes it (the subset the sandbox enforces)."""

    api_name: str
    field_label: str
    data_type: str
    id: str
    custom_field: bool = False
    read_only: bool = False
    system_mandatory: bool = False
    length: int = 0
    decimal_place: int | None = None
    pick_list_values: tuple[str, ...] = ()
    lookup_module: str | None = None  # lookup targets ("Accounts"); users for (owner|user)lookup
    #: Zoho marks some fields the API does write as field_read_only (``Owner``: read_only
    #: false, operation_type.api_update true); only `read_only` refuses a write.
    field_read_only: bool = False
    #: A lookup's ``lookup.display_label``: its related list's label in the target module.
    related_list_label: str | None = None
    #: "Do not allow duplicate values" (``unique``; Zoho compares case-insensitively unless
    #: `case_sensitive`); an upsert may name it in ``duplicate_check_fields``.
    unique: bool = False
    case_sensitive: bool = False
    #: ``external: {type: "org"}``: an External ID field.
    external: bool = False
    #: An autonumber's prefix and suffix (``Name`` of a custom module: ``PA-1``, ``PA-2``…).
    auto_prefix: str = ""
    auto_suffix: str = ""

    @property
    def json_type(self) -> str:
        return JSON_TYPES[self.data_type]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ZField:
        data = json.loads(text)
        data["pick_list_values"] = tuple(data["pick_list_values"])
        return cls(**data)


@dataclass(frozen=True)
class Deleted:
    id: str
    display_name: str
    created_by: str
    deleted_by: str
    deleted: int  # UTC seconds


@dataclass(frozen=True)
class Row:
    id: str
    created: int  # UTC seconds
    modified: int
    data: dict[str, Any]


class ZohoStore(Database):
    """All database access of the Zoho half of the sandbox."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        super().__init__(path)
        self.clock: Clock = clock or SystemClock()
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS fields (module TEXT NOT NULL, position INTEGER NOT NULL, "
                "api_name TEXT NOT NULL, definition TEXT NOT NULL, PRIMARY KEY (module, api_name))"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS records (module TEXT NOT NULL, id TEXT NOT NULL, "
                "created INTEGER NOT NULL, modified INTEGER NOT NULL, data TEXT NOT NULL, "
                "PRIMARY KEY (module, id))"
            )
            db.execute("CREATE INDEX IF NOT EXISTS records_modified ON records (module, modified, id)")
            db.execute("CREATE INDEX IF NOT EXISTS records_created ON records (module, created, id)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS deleted (module TEXT NOT NULL, id TEXT NOT NULL, "
                "display_name TEXT NOT NULL, created_by TEXT NOT NULL, deleted_by TEXT NOT NULL, "
                "deleted INTEGER NOT NULL, PRIMARY KEY (module, id))"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, "
                "expires REAL NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS refresh_tokens (token TEXT PRIMARY KEY, "
                "client_id TEXT NOT NULL, user_id TEXT NOT NULL)"
            )
            # tokens minted with fewer scopes than the default (tests of OAUTH_SCOPE_MISMATCH)
            db.execute(
                "CREATE TABLE IF NOT EXISTS token_scopes (token TEXT PRIMARY KEY, scopes TEXT NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS modules (api_name TEXT PRIMARY KEY, position INTEGER NOT NULL, "
                "definition TEXT NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS variables (id TEXT PRIMARY KEY, api_name TEXT NOT NULL UNIQUE, "
                "definition TEXT NOT NULL)"
            )

    # -- meta --------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self.reader() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- fields ------------------------------------------------------------------------------

    def fields(self, module: str) -> list[ZField]:
        with self.reader() as db:
            rows = db.execute(
                "SELECT definition FROM fields WHERE module = ? ORDER BY position", (module,)
            ).fetchall()
        return [ZField.from_json(r[0]) for r in rows]

    @staticmethod
    def add_field(db: sqlite3.Connection, module: str, f: ZField) -> None:
        pos = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM fields WHERE module = ?", (module,))
        db.execute(
            "INSERT INTO fields VALUES (?, ?, ?, ?)",
            (module, int(pos.fetchone()[0]), f.api_name, f.to_json()),
        )

    @staticmethod
    def replace_field(db: sqlite3.Connection, module: str, f: ZField) -> None:
        db.execute(
            "UPDATE fields SET definition = ? WHERE module = ? AND api_name = ?",
            (f.to_json(), module, f.api_name),
        )

    @staticmethod
    def drop_field(db: sqlite3.Connection, module: str, api_name: str) -> None:
        """Remove a field and its values (a field created again later starts empty)."""
        db.execute("DELETE FROM fields WHERE module = ? AND api_name = ?", (module, api_name))
        db.execute(
            "UPDATE records SET data = json_remove(data, ?) WHERE module = ?", (f'$."{api_name}"', module)
        )

    # -- records -----------------------------------------------------------------------------

    @staticmethod
    def insert_records(db: sqlite3.Connection, module: str, rows: Iterable[Row]) -> None:
        db.executemany(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?)",
            ((module, r.id, r.created, r.modified, json.dumps(r.data)) for r in rows),
        )

    @staticmethod
    def rows(db: sqlite3.Connection, module: str, ids: Iterable[str]) -> dict[str, Row]:
        wanted = sorted(set(ids))
        found: dict[str, Row] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for rid, created, modified, data in db.execute(
                f"SELECT id, created, modified, data FROM records WHERE module = ? AND id IN ({marks})",
                [module, *chunk],
            ):
                found[rid] = Row(rid, created, modified, json.loads(data))
        return found

    def all_rows(self, module: str) -> list[Row]:
        with self.reader() as db:
            return self.all_rows_in(db, module)

    @staticmethod
    def all_rows_in(db: sqlite3.Connection, module: str) -> list[Row]:
        return [
            Row(rid, created, modified, json.loads(data))
            for rid, created, modified, data in db.execute(
                "SELECT id, created, modified, data FROM records WHERE module = ? ORDER BY id", (module,)
            )
        ]

    def page(
        self,
        module: str,
        *,
        since: int | None,
        ids: list[str] | None,
        sort_by: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> list[Row]:
        """``limit`` rows from ``offset`` of the module's records, filtered and sorted as Get
        Records does (ties on a stamp broken by id, in the same direction)."""
        column = {"id": "id", "Created_Time": "created", "Modified_Time": "modified"}[sort_by]
        direction = "DESC" if descending else "ASC"
        order = "id " + direction if column == "id" else f"{column} {direction}, id {direction}"
        where, params = ["module = ?"], [module]
        if since is not None:
            where.append("modified >= ?")
            params.append(since)  # type: ignore[arg-type]
        if ids is not None:
            where.append(f"id IN ({', '.join('?' for _ in ids)})")
            params.extend(ids)
        sql = (
            f"SELECT id, created, modified, data FROM records WHERE {' AND '.join(where)} "
            f"ORDER BY {order} LIMIT ? OFFSET ?"
        )
        with self.reader() as db:
            return [
                Row(rid, created, modified, json.loads(data))
                for rid, created, modified, data in db.execute(sql, [*params, limit, offset])
            ]

    def restamp(self, module: str, stamps: dict[str, int]) -> None:
        """Set records' ``Modified_Time`` (UTC seconds), e.g. many in one second as a mass
        update leaves them: tests of reads that must be safe on ties."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE records SET modified = ? WHERE module = ? AND id = ?",
                [(seconds, module, rid) for rid, seconds in stamps.items()],
            )

    def count(self, module: str) -> int:
        with self.reader() as db:
            return int(db.execute("SELECT COUNT(*) FROM records WHERE module = ?", (module,)).fetchone()[0])

    @staticmethod
    def update_record(db: sqlite3.Connection, module: str, row: Row) -> None:
        db.execute(
            "UPDATE records SET modified = ?, data = ? WHERE module = ? AND id = ?",
            (row.modified, json.dumps(row.data), module, row.id),
        )

    @staticmethod
    def delete_record(
        db: sqlite3.Connection, module: str, row: Row, display_name: str, user_id: str, stamp: int
    ) -> None:
        """Move a record to the recycle bin (listed by `deleted`)."""
        db.execute("DELETE FROM records WHERE module = ? AND id = ?", (module, row.id))
        db.execute(
            "INSERT OR REPLACE INTO deleted VALUES (?, ?, ?, ?, ?, ?)",
            (module, row.id, display_name, str(row.data.get("Created_By") or ""), user_id, stamp),
        )

    def deleted(self, module: str, since: int | None, offset: int, limit: int) -> list[Deleted]:
        """Deleted records, newest deletion first (``since``: deleted at or after it)."""
        with self.reader() as db:
            rows = db.execute(
                "SELECT id, display_name, created_by, deleted_by, deleted FROM deleted "
                "WHERE module = ? AND deleted >= ? ORDER BY deleted DESC, id DESC LIMIT ? OFFSET ?",
                (module, since if since is not None else 0, limit, offset),
            ).fetchall()
        return [Deleted(*r) for r in rows]

    # -- OAuth -------------------------------------------------------------------------------

    @staticmethod
    def add_refresh_token(db: sqlite3.Connection, token: str, client_id: str, user_id: str) -> None:
        db.execute("INSERT INTO refresh_tokens VALUES (?, ?, ?)", (token, client_id, user_id))

    def refresh_token_user(self, token: str, client_id: str) -> str | None:
        with self.reader() as db:
            row = db.execute(
                "SELECT user_id FROM refresh_tokens WHERE token = ? AND client_id = ?", (token, client_id)
            ).fetchone()
        return row[0] if row else None

    def add_token(self, token: str, user_id: str, expires: float) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token, user_id, expires))

    def token_user(self, token: str) -> str | None:
        """The user of an unexpired access token."""
        with self.reader() as db:
            row = db.execute(
                "SELECT user_id FROM tokens WHERE token = ? AND expires > ?", (token, self.clock.now())
            ).fetchone()
        return row[0] if row else None

    def live_token(self, user_id: str) -> str | None:
        """A live token of ``user_id`` with the default scopes."""
        with self.reader() as db:
            row = db.execute(
                "SELECT token FROM tokens WHERE user_id = ? AND expires > ? "
                "AND token NOT IN (SELECT token FROM token_scopes) ORDER BY expires DESC LIMIT 1",
                (user_id, self.clock.now() + 60),
            ).fetchone()
        return row[0] if row else None

    def set_token_scopes(self, token: str, scopes: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO token_scopes VALUES (?, ?)", (token, scopes))

    def token_scopes(self, token: str) -> str | None:
        """The scopes of a token minted with its own (None: the default set)."""
        with self.reader() as db:
            row = db.execute("SELECT scopes FROM token_scopes WHERE token = ?", (token,)).fetchone()
        return row[0] if row else None

    # -- custom modules and org variables (JSON documents; `_modules`, `_variables`) ----------

    def module_documents(self) -> list[dict[str, Any]]:
        with self.reader() as db:
            rows = db.execute("SELECT definition FROM modules ORDER BY position").fetchall()
        return [json.loads(r[0]) for r in rows]

    @staticmethod
    def add_module(db: sqlite3.Connection, api_name: str, document: dict[str, Any]) -> None:
        pos = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM modules").fetchone()[0]
        db.execute("INSERT INTO modules VALUES (?, ?, ?)", (api_name, int(pos), json.dumps(document)))

    @staticmethod
    def next_id(db: sqlite3.Connection) -> str:
        """A fresh 19-digit id (records, fields, modules, variables share one counter)."""
        row = db.execute("SELECT value FROM meta WHERE key = 'next_id'").fetchone()
        new = int(row[0]) + 1 if row else 5_725_767_009_000_000_001
        db.execute("INSERT OR REPLACE INTO meta VALUES ('next_id', ?)", (str(new),))
        return str(new)

    @staticmethod
    def variable_documents(db: sqlite3.Connection) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in db.execute("SELECT definition FROM variables ORDER BY id")]

    @staticmethod
    def put_variable(db: sqlite3.Connection, document: dict[str, Any]) -> None:
        db.execute(
            "INSERT OR REPLACE INTO variables VALUES (?, ?, ?)",
            (document["id"], document["api_name"], json.dumps(document)),
        )

    @staticmethod
    def drop_variable(db: sqlite3.Connection, variable_id: str) -> None:
        db.execute("DELETE FROM variables WHERE id = ?", (variable_id,))

    def revoke_token(self, token: str) -> None:
        """End one access token (an injected expiry): the client must refresh."""
        with self.transaction() as db:
            db.execute("DELETE FROM tokens WHERE token = ?", (token,))

    def expire_tokens(self) -> int:
        """Expire every access token now (tests of the refresh path); how many were live."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE tokens SET expires = ? WHERE expires > ?", (self.clock.now() - 1, self.clock.now())
            )
            return cur.rowcount
