"""The audit trail as CRM records: between a task's events and the action records of its deal.

One object (`mapping.action`, ``Presales_Action__c`` / ``Presales_Actions``) holds both kinds:
- **people's actions**: a rep asks for presales, an engineer signs off, a reviewer asks for
  rework with a note, a manager reassigns. Who and when are the CRM's own creator and creation
  time, exact and immutable. The sync takes each up once and writes its outcome on it
  (Applied, with the event it became; or Refused, with the reason);
- **the plugin's own events** (task created, assigned and by which policy, closed), upserted
  on the external-id key ``<opportunity id>-<seq>`` so a batch re-sent after a lost answer
  never duplicates one.
Every event of a task is on one of them, with its sequence number and the state after it, so
a lost store is rebuilt from the CRM (`rules.replay`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from presales_sync.connector import RemoteRecord
from presales_sync.mappings import ObjectMap, inbound, typed
from presales_sync.rules import EventKind, Status, Step, TaskEvent

APPLIED, REFUSED = "Applied", "Refused"


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One record of the action object as domain values."""

    id: str
    opportunity_id: str | None
    command: str | None
    note: str | None
    new_engineer: str | None
    created_by: str | None
    created_by_name: str | None
    created_at: datetime
    number: str | None  # the record's auto-number (PA-000042): its creation order
    key: str | None  # set on the plugin's own event records only
    outcome: str | None
    seq: int | None
    event: TaskEvent | None  # the event it records, when it records one (rebuild)

    @property
    def order(self) -> tuple[datetime, int, str]:
        """The order people made their actions in: creation time (whole seconds), then the
        auto-number (the CRM numbers records as it creates them; ids are not ordered), then id."""
        digits = "".join(c for c in self.number or "" if c.isdigit())
        return self.created_at, int(digits) if digits else 0, self.id

    @property
    def is_plugin_event(self) -> bool:
        return bool(self.key)

    @property
    def is_pending(self) -> bool:
        """A person's action nobody took up yet."""
        return not self.key and self.outcome not in (APPLIED, REFUSED)


def event_key(opportunity_id: str, seq: int) -> str:
    """The external id of a task's event record: unique in the org, stable across re-sends."""
    return f"{opportunity_id}-{seq}"


def parse(actmap: ObjectMap, rec: RemoteRecord) -> ActionRecord:
    """An action record read from the CRM (`mappings.ValueError_` when a value is malformed)."""
    v = typed(actmap, inbound(actmap, rec.fields))
    created = v.get("created_at")
    if not isinstance(created, datetime):
        created = rec.stamp
    return ActionRecord(
        id=rec.id, opportunity_id=v.get("opportunity_id"), command=v.get("command"), note=v.get("note"),
        new_engineer=v.get("new_engineer"), created_by=v.get("created_by"),
        created_by_name=v.get("created_by_name"), created_at=created, number=v.get("number"),
        key=v.get("key"),
        outcome=v.get("outcome"), seq=v.get("seq"), event=_event(v, created, rec.id))


def _event(v: Mapping[str, Any], created: datetime, record_id: str) -> TaskEvent | None:
    """The task event a record carries (an event record, or an applied action), if any."""
    if v.get("seq") is None or not v.get("kind"):
        return None
    try:
        kind = EventKind(v["kind"])
    except ValueError:
        return None
    at = v["at"] if isinstance(v.get("at"), datetime) else created
    return TaskEvent(kind=kind, at=at, actor=v.get("actor") or v.get("created_by") or "",
                     from_step=_enum(Step, v.get("step_before")), to_step=_enum(Step, v.get("step_after")),
                     from_status=_enum(Status, v.get("status_before")),
                     to_status=_enum(Status, v.get("status_after")),
                     outcome=v.get("result"), note=v.get("note"), engineer_id=v.get("engineer"),
                     source=None if v.get("key") else record_id)


def _enum(kind: Any, value: Any) -> Any:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def event_values(event: TaskEvent, seq: int) -> dict[str, Any]:
    """What an event record (or an applied action record) says about its event."""
    return {
        "kind": event.kind.value, "seq": seq, "at": event.at, "actor": event.actor or None,
        "engineer": event.engineer_id, "step_before": event.from_step and event.from_step.value,
        "step_after": event.to_step and event.to_step.value,
        "status_before": event.from_status and event.from_status.value,
        "status_after": event.to_status and event.to_status.value, "result": event.outcome,
    }


def plugin_event(opportunity_id: str, seq: int, event: TaskEvent) -> dict[str, Any]:
    """The domain values of the plugin's own event record (upserted on its key)."""
    return {"opportunity_id": opportunity_id, "key": event_key(opportunity_id, seq), "note": event.note,
            **event_values(event, seq)}


def outcome(applied: TaskEvent | None, seq: int | None, reason: str | None) -> dict[str, Any]:
    """The domain values written on a person's action record once it was taken up."""
    if applied is not None and seq is not None:
        return {"outcome": APPLIED, "reason": None, "note": applied.note, **event_values(applied, seq)}
    return {"outcome": REFUSED, "reason": reason}


__all__ = ["APPLIED", "REFUSED", "ActionRecord", "event_key", "event_values", "outcome", "parse",
           "plugin_event"]
