"""A SQLite store's file, looked at before SQLAlchemy opens it.

Opening a file through SQLite with our pragmas already writes to it (WAL mode, a checkpoint
on close), so what could be a mistake is checked first with plain reads: a folder that does
not exist, a directory, a file we may not write, a file that is not a SQLite database or is
shorter than its own header says. The schema revision is read through a read-only
connection; the copy made before a migration goes through SQLite's backup API, so pages
still in the write-ahead log are in it."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from presales_sync.sync.store.errors import (
    RESTORE_ADVICE,
    StoreCorrupt,
    StoreInaccessible,
    StoreUnavailable,
    store_fault,
)

_MAGIC = b"SQLite format 3\x00"
_HEADER = 100


@dataclass(frozen=True)
class Found:
    """What an existing store holds before it is migrated."""

    tables: frozenset[str] = frozenset()
    revisions: tuple[str, ...] = ()
    state: dict[str, Any] = field(default_factory=dict)


def check(path: Path) -> None:
    """Raise unless `path` is a usable store file: absent (a new store), empty (SQLite takes
    a zero-length file for an empty database) or a whole SQLite database we may write."""
    folder = path.parent
    if not folder.is_dir():
        raise StoreInaccessible(
            f"the folder of store {path} does not exist ({folder}); create it, or fix `store:` in the "
            f"config (a missing folder is taken for a mistake, not for a new empty store)")
    if path.is_dir():
        raise StoreInaccessible(f"store {path} is a directory, not a database file; point `store:` at "
                                f"a file (e.g. {path / 'presales.db'})")
    if not os.access(folder, os.W_OK | os.X_OK, effective_ids=True):
        raise StoreInaccessible(f"store {path} cannot be written: its folder {folder} is not writable "
                                f"(SQLite keeps its journal beside the file); fix the permissions or "
                                f"point `store:` elsewhere")
    if not path.exists():
        return
    try:
        with path.open("rb") as f:
            head = f.read(_HEADER)
    except OSError as err:
        raise StoreInaccessible(f"store {path} cannot be read ({err.strerror}); fix its permissions "
                                f"or point `store:` elsewhere") from None
    if not os.access(path, os.W_OK, effective_ids=True):
        raise StoreInaccessible(f"store {path} cannot be written (permission denied or a read-only "
                                f"file system); fix its permissions or point `store:` elsewhere")
    _check_header(path, head)


def _check_header(path: Path, head: bytes) -> None:
    if not head:
        return
    if len(head) < _HEADER or not head.startswith(_MAGIC):
        raise StoreCorrupt(f"store {path} is not a SQLite database (its first bytes are not a "
                           f"SQLite header); {advice(path)}")
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        raise StoreCorrupt(f"store {path} is damaged (page size {page} in its header); {advice(path)}")
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return  # pages may live in the log until the next checkpoint: sizes prove nothing
    size = path.stat().st_size
    pages = int.from_bytes(head[28:32], "big")
    counted = pages if head[24:28] == head[92:96] else 0  # the count is valid only then
    if size % page or size < counted * page:
        raise StoreCorrupt(
            f"store {path} is truncated: it has {size} bytes, its header says {counted or '?'} pages "
            f"of {page} bytes ({counted * page} bytes); {advice(path)}")


def advice(path: Path) -> str:
    """What to do about a damaged store, naming its newest backup when there is one."""
    backups = sorted(path.parent.glob(f"{path.name}.bak-*"), key=lambda p: p.stat().st_mtime)
    newest = f" The newest backup is {backups[-1]}." if backups else ""
    return RESTORE_ADVICE + "." + newest


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing: immutable (no -shm/-wal created) unless a log with
    pages exists, which a read-only connection must read."""
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "immutable=1"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)


def look(path: Path, state_keys: tuple[str, ...]) -> Found:
    """The tables, the Alembic revisions and some `state` rows of the store at `path`."""
    if not path.exists() or path.stat().st_size == 0:
        return Found()
    try:
        conn = _read_only(path)
        try:
            tables = frozenset(r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
            revisions = tuple(r[0] for r in conn.execute("SELECT version_num FROM alembic_version")
                              ) if "alembic_version" in tables else ()
            state: dict[str, Any] = {}
            if "state" in tables:
                marks = ",".join("?" * len(state_keys))
                for key, value in conn.execute(f'SELECT key, value FROM state WHERE key IN ({marks})',
                                               state_keys):
                    state[key] = json.loads(value) if isinstance(value, str) else value
        finally:
            conn.close()
    except (sqlite3.Error, ValueError) as err:
        raise (store_fault(err, str(path)) or StoreCorrupt(
            f"store {path} cannot be read as a store ({err}); {advice(path)}")) from None
    return Found(tables, revisions, state)


def backup(path: Path, revision: str) -> Path:
    """Copy the store aside as `<name>.bak-<revision>-<UTC time>` (one self-contained file)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{revision}-{stamp}")
    n = 1
    while target.exists():
        target, n = path.with_name(f"{path.name}.bak-{revision}-{stamp}-{n}"), n + 1
    try:
        src = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # no -wal beside the copy
            finally:
                dst.close()
        finally:
            src.close()
    except (sqlite3.Error, OSError) as err:
        for leftover in (target, target.with_name(target.name + "-journal")):
            leftover.unlink(missing_ok=True)
        fault = store_fault(err, str(path))
        if isinstance(fault, StoreCorrupt):
            raise fault from None
        if isinstance(fault, StoreUnavailable):
            raise StoreUnavailable(f"cannot copy store {path} aside to {target} before migrating it "
                                   f"({err}); nothing was migrated: free some space and run again"
                                   ) from None
        raise StoreInaccessible(f"cannot copy store {path} aside to {target} before migrating it "
                                f"({err}); nothing was migrated") from None
    return target


__all__ = ["Found", "advice", "backup", "check", "look"]
