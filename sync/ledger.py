"""The write-back ledger: echo suppression and the write-back diff, the one place that decides
what to send.

The ledger holds, per record and CRM field, the value the CRM is known to hold: it is
updated from every record we read (`observed`) and from every write the CRM acknowledged
(`acknowledged`). Our own writes therefore come back on the next read as values equal to the
ledger (an echo) and produce no diff, and a person's edit to a field we own shows as a
difference we restore (`changed_by_crm`, `diff`). A record read again with the stamp the store
holds is the same version only if its values are the same (`same_version`): that is the echo
of a version already applied. The binding of a CRM record to its task is the opportunity id
(`Store.load_tasks`); the rows live in the store under the store's profile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from presales_sync.connector import RemoteRecord
from presales_sync.mappings import ObjectMap, ValueError_, inbound
from presales_sync.sync.store import Store


def diff(desired: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    """Fields whose desired value differs from what the CRM is known to hold. A field the
    ledger has never seen is sent (even a None), so the CRM ends up in a known state."""
    return {f: v for f, v in desired.items() if f not in known or known[f] != v}


def changed_by_crm(field: str, observed: Mapping[str, Any], known: Mapping[str, Any]) -> bool:
    """True when a read shows a value for `field` other than the one the ledger held:
    someone changed it in the CRM since we last saw or wrote it."""
    return field in observed and (field not in known or known[field] != observed[field])


def same_version(objmap: ObjectMap, rec: RemoteRecord, stored: Mapping[str, Any] | None) -> bool:
    """Whether `rec`, read with the stamp the store holds for it, is the version whose mapped
    values are `stored` (an echo to ignore) rather than a later edit stamped in the same second.
    A record that does not map is never the same version (it is applied, and quarantined)."""
    try:
        return stored is not None and inbound(objmap, rec.fields) == stored
    except ValueError_:
        return False


def tied_values(store: Store, conn: Connection, records: Iterable[RemoteRecord],
                stamps: Mapping[str, datetime]) -> dict[str, dict[str, Any]]:
    """The stored values of the records read with the very stamp the store holds (the ties
    `same_version` decides), read in one query."""
    return store.opportunity_values(conn, [r.id for r in records if stamps.get(r.id) == r.stamp])


def known(store: Store, conn: Connection, obj: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What the CRM is known to hold, by record id and field."""
    return store.ledger(conn, obj, ids)


def observed(store: Store, conn: Connection, obj: str, record_id: str, values: Mapping[str, Any],
             now: datetime, known: Mapping[str, Any]) -> None:
    """A read showed `values` (the fields we own, as the CRM holds them); `known` is the
    record's ledger before the read."""
    store.set_ledger(conn, obj, record_id, values, now, known)


def acknowledged(store: Store, conn: Connection, obj: str, record_id: str,
                 values: Mapping[str, Any], now: datetime) -> None:
    """The CRM acknowledged a write of `values`: it holds them now."""
    store.set_ledger(conn, obj, record_id, values, now)


__all__ = ["acknowledged", "changed_by_crm", "diff", "known", "observed", "same_version", "tied_values"]
