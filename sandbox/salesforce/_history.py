"""Field history: ``OpportunityFieldHistory`` (a standard object's) and ``Name__History`` (a
custom object's), one row per tracked field an update changes.

docs/design/issue-14-wire-facts.md §5: rows ``{Id, OpportunityId|ParentId, Field, DataType,
OldValue, NewValue, CreatedById, CreatedDate, IsDeleted}``; OldValue/NewValue cannot be filtered
(a WHERE on them is INVALID_FIELD); at most 20 tracked fields per object; tracking is switched
on by ``CustomField.trackHistory`` (and ``CustomObject.enableHistory``). The values are kept as
the REST text of the field's value [inferred: the API types them anyType].
"""

from __future__ import annotations

import secrets
import sqlite3
from typing import TYPE_CHECKING, Any

from presales_sync.sandbox.salesforce._catalog import FieldDef, ObjectDef, _ref, _ro
from presales_sync.sandbox.salesforce._values import make_id, to_json

if TYPE_CHECKING:
    from presales_sync.sandbox.salesforce._store import Store

#: Every history object's key prefix.
HISTORY_PREFIX = "017"
MAX_TRACKED = 20
_DATA_TYPES = {"string": "Text", "textarea": "TextArea", "picklist": "Picklist", "double": "Double",
               "currency": "Currency", "percent": "Percent", "int": "Double", "boolean": "Boolean",
               "date": "Date", "datetime": "DateTime", "reference": "EntityId", "email": "Email"}


def history_name(obj: ObjectDef) -> str:
    if obj.custom:
        return obj.name.removesuffix("__c") + "__History"
    return f"{obj.name}FieldHistory" if obj.name == "Opportunity" else f"{obj.name}History"


def parent_column(obj: ObjectDef) -> str:
    return "ParentId" if obj.custom else f"{obj.name}Id"


def history_object(obj: ObjectDef) -> ObjectDef:
    return ObjectDef(
        history_name(obj), f"{obj.label} History", f"{obj.label} History", HISTORY_PREFIX,
        fields=(
            _ro("Id", "History ID", "id", length=18),
            _ro("IsDeleted", "Deleted", "boolean"),
            _ref(parent_column(obj), f"{obj.label} ID", obj.name, "Parent", system=True),
            _ro("Field", "Changed Field", "picklist", length=255),
            _ro("DataType", "Data Type", "picklist", length=40),
            _ro("OldValue", "Old Value", "string", length=255, nillable=True, filterable=False),
            _ro("NewValue", "New Value", "string", length=255, nillable=True, filterable=False),
            _ref("CreatedById", "Created By ID", "User", "CreatedBy", system=True),
            _ro("CreatedDate", "Created Date", "datetime"),
        ),
    )


def ensure_history(db: sqlite3.Connection, store: Store, obj: ObjectDef, tracked: int) -> None:
    """The history object of `obj` (created inside ``db``'s transaction when missing), with
    `tracked` fields to follow; more than 20 is refused (ValueError)."""
    if tracked > MAX_TRACKED:
        raise ValueError(f"You can track a maximum of {MAX_TRACKED} fields on {obj.name}")
    if history_name(obj).lower() not in store.objects:
        exists = db.execute("SELECT 1 FROM _objects WHERE name = ?", (history_name(obj),)).fetchone()
        if exists is None:
            store.create_object(db, history_object(obj))


def record_changes(db: sqlite3.Connection, store: Store, obj: ObjectDef, record_id: str,
                   values: dict[str, Any]) -> None:
    """One history row per tracked field in `values` whose stored value changes."""
    tracked = [f for f in obj.fields if f.track_history and f.name in values]
    history = store.objects.get(history_name(obj).lower())
    if not tracked or history is None:
        return
    cols = ", ".join(f'"{f.name}"' for f in tracked)
    current = db.execute(f'SELECT {cols} FROM "{obj.name}" WHERE "Id" = ?', (record_id,)).fetchone()
    if current is None:
        return
    for f, old in zip(tracked, current, strict=True):
        new = values[f.name]
        if old == new:
            continue
        new_id = make_id(HISTORY_PREFIX, secrets.randbelow(62**9))
        store.insert_row(db, history.name, {
            "Id": new_id, "IsDeleted": 0, parent_column(obj): record_id,
            "Field": f.name, "DataType": _DATA_TYPES.get(f.type, "Text"), "OldValue": _text(f, old),
            "NewValue": _text(f, new), "CreatedById": values.get("LastModifiedById"),
            "CreatedDate": values.get("LastModifiedDate"),
        })


def _text(f: FieldDef, raw: Any) -> str | None:
    value = to_json(f, raw)
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)
