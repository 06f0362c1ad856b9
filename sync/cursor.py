"""The read cursor: where the next read of an object starts and how far a page moves it.

The cursor is the newest CRM modification stamp (Salesforce `SystemModstamp`, Zoho
`Modified_Time`) the store has committed, per (profile, object). A read starts a lookback
before it (a closed lower bound: records committed in the CRM while our last read ran are
read again, never lost), so records on and around the boundary come twice; the tie rule says
which of them are the version the store already holds. A page moves the cursor to its newest
stamp, capped at the run's start (a clock ahead in the CRM cannot push it past records not yet
written), in the page's own transaction: the cursor never passes what is committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum


def read_from(cursor: datetime | None, lookback: timedelta, *, full: bool = False) -> datetime | None:
    """The stamp the next read starts at: `lookback` before the cursor; None (everything)
    for a full run or an object never read."""
    if full or cursor is None:
        return None
    return cursor - lookback


def moved_to(stamps: Iterable[datetime], now: datetime) -> datetime:
    """Where a committed page moves the cursor: its newest stamp, capped at `now` (the run's
    start). The store keeps the later of this and the cursor it holds (it never moves back)."""
    return min(max(stamps), now)


class Seen(Enum):
    """A record read against the version the store holds (its stored stamp)."""

    NEW = "new"  # never stored, or a newer stamp: apply it
    OLDER = "older"  # an older stamp than the stored one: a re-read inside the lookback
    TIE = "tie"  # the same stamp: the same version only if its values are the same


def compare(stamp: datetime, stored: datetime | None) -> Seen:
    """The tie rule. A CRM stamping whole seconds (Zoho) gives a person's edit right after our
    write the same stamp as our write, so an equal stamp alone does not make the same version:
    the caller compares the values (`ledger.same_version`)."""
    if stored is None or stamp > stored:
        return Seen.NEW
    return Seen.OLDER if stamp < stored else Seen.TIE


__all__ = ["Seen", "compare", "moved_to", "read_from"]
