"""Echo suppression and the write-back diff: the one place that decides what to send.

The ledger holds, per record and CRM field, the value the CRM is known to hold: it is
updated from every record we read and from every write the CRM acknowledged. Our own
writes therefore come back on the next read as values equal to the ledger (an echo) and
produce no diff, and a person's edit to a field we own shows as a difference we restore.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def diff(desired: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    """Fields whose desired value differs from what the CRM is known to hold. A field the
    ledger has never seen is sent (even a None), so the CRM ends up in a known state."""
    return {f: v for f, v in desired.items() if f not in known or known[f] != v}


def changed_by_crm(field: str, observed: Mapping[str, Any], known: Mapping[str, Any]) -> bool:
    """True when a read shows a value for `field` other than the one the ledger held:
    someone changed it in the CRM since we last saw or wrote it."""
    return field in observed and (field not in known or known[field] != observed[field])


__all__ = ["changed_by_crm", "diff"]
