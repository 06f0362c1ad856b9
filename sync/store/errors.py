"""The store's own exceptions, grouped by what the caller should do.

`StoreError` and its kinds other than `StoreUnavailable` mean an admin must act (the CLI
exits 2): a folder that does not exist, a file that is not a database, a store written by a
newer version or owned by another CRM org. `StoreUnavailable` means the store failed now
(disk full, I/O error, server gone): the transaction in flight was rolled back and the next
run resumes (exit 3). `store_fault` turns a database driver's error into one of them."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, OperationalError


class StoreError(Exception):
    """The store cannot be used as configured (bad URL, missing folder, ...): an admin must act."""


class StoreInaccessible(StoreError):
    """The store's path cannot be used: its folder is missing, it is a directory, or it
    cannot be read or written."""


class StoreCorrupt(StoreError):
    """The store's file is not a SQLite database, or is damaged or truncated; it is left
    untouched so that it can be restored or examined."""


class StoreTooNew(StoreError):
    """The store's schema revision is unknown here: a newer presales-sync wrote it."""


class StoreOwnedElsewhere(StoreError):
    """The store belongs to another CRM org: two orgs in one store would take each other's
    records for deleted ones."""


class OrgHasAnotherStore(StoreError):
    """The CRM org is synced from another store: two stores on one org undo each other's
    writes (each takes the other's changes for people's and restores its own)."""


class StoreUnavailable(StoreError):
    """The store failed now (disk full, I/O error, busy, server gone); the transaction in
    flight was rolled back and the next run resumes."""


#: PostgreSQL SQLSTATE classes of a store that failed now rather than a bad record:
#: connection exception, insufficient resources (53100 disk full), operator intervention,
#: system error, internal error.
_PG_TRANSIENT = ("08", "53", "57", "58", "XX")
_SQLITE_FULL = ("SQLITE_FULL",)
_SQLITE_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_SQLITE_TRANSIENT = ("SQLITE_IOERR", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_NOMEM", "SQLITE_INTERRUPT")
_SQLITE_DENIED = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")


def _chain(err: BaseException) -> Iterator[BaseException]:
    """`err`, the driver errors it wraps and the errors it was raised while handling (a
    failed savepoint rollback hides the SQLITE_FULL that caused it)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]


def _sqlite_name(err: BaseException) -> str:
    return str(getattr(err, "sqlite_errorname", "") or "") if isinstance(err, sqlite3.Error) else ""


def store_fault(err: BaseException, where: str) -> StoreError | None:
    """The store error `err` means for the store at `where`, or None when it is about one
    record (a constraint, a value too long) and the rest of the page may go on.

    Operational errors are never a record's fault: on SQLite a full disk can roll the whole
    transaction back, so carrying on after one would write the rest outside any transaction."""
    if isinstance(err, StoreError):
        return err
    for e in _chain(err):
        name = _sqlite_name(e)
        if name.startswith(_SQLITE_FULL) or (isinstance(e, OSError) and e.errno == errno.ENOSPC) \
                or str(getattr(e, "sqlstate", "") or "") == "53100":
            return StoreUnavailable(
                f"the disk of store {where} is full ({e}): the transaction in flight was rolled back "
                f"and nothing of it was written; free some space, the next run resumes from there")
        if name.startswith(_SQLITE_CORRUPT):
            return StoreCorrupt(f"store {where} is damaged ({e}); {RESTORE_ADVICE}")
        if name.startswith(_SQLITE_DENIED):
            return StoreInaccessible(f"store {where} cannot be written ({e}); fix the file's and its "
                                     f"folder's permissions, or point `store:` at another path")
    for e in _chain(err):
        if str(getattr(e, "sqlstate", "") or "").startswith(_PG_TRANSIENT) \
                or _sqlite_name(e).startswith(_SQLITE_TRANSIENT):
            return _unavailable(where, e)
    if isinstance(err, OperationalError) or (isinstance(err, DBAPIError) and err.connection_invalidated):
        return _unavailable(where, err.orig or err)
    return None


def _unavailable(where: str, cause: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"store {where} failed: {type(cause).__name__}: {cause}; the transaction "
                            f"in flight was rolled back, the next run resumes")


RESTORE_ADVICE = ("it was left untouched. Restore it from a backup (presales keeps one beside it, "
                  "*.bak-<revision>-<time>, before each migration) or move it away to start a fresh "
                  "store (the next sync reads the CRM again)")

__all__ = ["OrgHasAnotherStore", "StoreCorrupt", "StoreError", "StoreInaccessible", "StoreOwnedElsewhere",
           "StoreTooNew", "StoreUnavailable", "store_fault"]
