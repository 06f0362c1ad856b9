"""The data dir: the one directory a sandbox keeps everything in, and the rule for reusing it.

Everything a client may have remembered — record ids, sessions and refresh tokens, the CA it
trusts, the OAuth client's keys — must survive a restart, so nothing lives only in memory
(except Bulk jobs, which a real org expires too). Each CRM's database is seeded on the first
start and reused afterwards; one whose seed was interrupted half-way (no completion mark) is
deleted and seeded again, never served half-made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


D = TypeVar("D", bound=_Closable)


def discard(path: Path) -> None:
    """Delete a database file and its WAL companions."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def open_seeded(path: Path, open_db: Callable[[Path], D], complete: Callable[[D], bool],
                seed: Callable[[D], object]) -> D:
    """The database at ``path``: reused when a previous start seeded it completely (`complete`),
    else (absent, or a seed interrupted half-way) created anew and handed to `seed`."""
    if path.exists():
        db = open_db(path)
        if complete(db):
            return db
        db.close()
        discard(path)
    db = open_db(path)
    seed(db)
    return db
