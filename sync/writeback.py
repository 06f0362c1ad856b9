"""Write-back: the one path by which presales values reach the CRM, for every object.

`presales sync` writes the opportunities' presales fields, `presales score` the engineers'
KPI fields on their users; both go: desired values → diff against the ledger
(`plan_writes`) → the part the API budget allows, in the CRM's batches → one result per
record → the ledger learns what the CRM acknowledged, a record the CRM no longer has is
parked as DELETED (its owner decides what that means: `sync` closes the task), a refused
one goes to the failure queue (`write_back`). The same run therefore writes only what
changed, and a second run writes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from presales_sync.connector import Connector, RecordChange
from presales_sync.sync import ledger
from presales_sync.sync.budget import Budget, BudgetReached
from presales_sync.sync.store import Store

#: Field changes listed in a report (`--dry-run`, `--json`); the count has them all.
CHANGES_KEPT = 10_000
DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field a run writes (or, dry, would write): shown in reports and `--dry-run`."""

    record_id: str
    name: str
    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class WritePlan:
    changes: list[RecordChange]
    shown: list[FieldChange]  # the first CHANGES_KEPT field changes
    field_count: int


def plan_writes(desired: Mapping[str, Mapping[str, Any]], known: Mapping[str, Mapping[str, Any]],
                names: Mapping[str, str]) -> WritePlan:
    """The records to write and the fields that change on each: what differs from the
    ledger. A first sync of a big org changes millions of fields: `shown` keeps a sample."""
    changes: list[RecordChange] = []
    shown: list[FieldChange] = []
    count = 0
    for record_id, want in desired.items():
        was = known.get(record_id, {})
        delta = ledger.diff(want, was)
        if not delta:
            continue
        changes.append(RecordChange(record_id, delta))
        count += len(delta)
        name = names.get(record_id) or record_id
        rows = (FieldChange(record_id, name, f, was.get(f), v) for f, v in delta.items())
        shown.extend(itertools.islice(rows, max(0, CHANGES_KEPT - len(shown))))
    return WritePlan(changes, shown, count)


@dataclass
class WriteOutcome:
    written: list[str] = field(default_factory=list)  # acknowledged by the CRM
    gone: list[tuple[str, str]] = field(default_factory=list)  # (id, why): no longer in the CRM
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (id, code, message)
    stopped: BudgetReached | None = None  # the budget cut the write; the next run goes on

    @property
    def attempted(self) -> int:
        return len(self.written) + len(self.gone) + len(self.failed)


#: What the owner of an object does, in the write's transaction, with a record the CRM no
#: longer has; returns the note kept in the failure queue.
OnGone = Callable[[Connection, str, str], str]


def _note_gone(_conn: Connection, _record_id: str, code: str) -> str:
    return f"deleted in the CRM ({code})"


def write_back(crm: Connector, store: Store, object_name: str, changes: list[RecordChange], *,
               now: datetime, budget: Budget | None, on_gone: OnGone = _note_gone,
               acknowledged: Callable[[Connection, list[str]], None] | None = None) -> WriteOutcome:
    """Write `changes` (what the budget allows) and record every result in one transaction:
    the ledger and `acknowledged` for the records written, DELETED for the gone, the code
    and message for the refused; written records leave the failure queue."""
    outcome = WriteOutcome()
    if not changes:
        return outcome
    if budget is not None:
        changes, outcome.stopped = budget.fit(changes)
    results = crm.write(object_name=object_name, changes=changes) if changes else []
    sent = {c.id: c for c in changes}
    with store.begin() as conn:
        for res in results:
            if res.ok:
                ledger.acknowledged(store, conn, object_name, res.id, sent[res.id].fields, now)
                outcome.written.append(res.id)
            elif res.gone:
                why = on_gone(conn, res.id, res.error_code or "ENTITY_IS_DELETED")
                store.record_failure(conn, object_name, res.id, DELETED, why, now)
                outcome.gone.append((res.id, why))
            else:
                store.record_failure(conn, object_name, res.id, res.error_code, res.message, now)
                outcome.failed.append((res.id, res.error_code or "", res.message or ""))
        store.clear_failures(conn, object_name, outcome.written)
        if acknowledged is not None:
            acknowledged(conn, outcome.written)
    return outcome


__all__ = ["CHANGES_KEPT", "DELETED", "FieldChange", "OnGone", "WriteOutcome", "WritePlan", "plan_writes",
           "write_back"]
