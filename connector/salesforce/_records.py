"""Record writes beyond updates by id: sObject Collections upsert by an external id, and the
org setting (a record of a list custom setting keyed by its Name).

Upsert: ``PATCH composite/sobjects/{SObject}/{ExternalIdField}`` (v46+), at most 200 records,
``allOrNone: false``, records without ids, results in order (issue-14-wire-facts §2,
SALESFORCE.md 2.3). Two rows with the same key in one request are both refused by Salesforce
([secondary] DUPLICATE_VALUE), so a batch with a repeated key is refused here before any call.
Every exchange goes through `Transport.call`, counted under ``composite_sobjects`` like the
other record writes; every per-record result through `record_result`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from simple_salesforce import Salesforce

from presales_sync.connector.base import RecordUpsert, WriteResult
from presales_sync.connector.errors import ConfigError, FatalError
from presales_sync.connector.salesforce._soql import soql_string
from presales_sync.connector.salesforce._transport import Transport, record_result

#: sObject Collections accept at most 200 records per request.
UPSERT_BATCH = 200
#: A custom setting record's Name is at most 38 characters; its Value__c is a Text(255).
SETTING_NAME_LENGTH = 38
SETTING_VALUE_LENGTH = 255
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def check_upsert(object_name: str, key_field: str, records: Sequence[RecordUpsert]) -> None:
    """`ConfigError` before any call: bad names, an empty key, a key given twice."""
    for what, name in (("object", object_name), ("key field", key_field)):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"invalid Salesforce {what} name {name!r}")
    seen: set[str] = set()
    for rec in records:
        if not isinstance(rec.key, str) or not rec.key:
            raise ConfigError(f"upsert into {object_name}: every record needs a non-empty {key_field}")
        if rec.key in seen:  # the field is case-sensitive: only an exact repeat is a duplicate
            raise ConfigError(f"upsert into {object_name}: {key_field} {rec.key!r} is given twice")
        seen.add(rec.key)


def upsert_body(object_name: str, key_field: str, records: Sequence[RecordUpsert]) -> dict[str, Any]:
    rows = []
    for rec in records:
        # `attributes`, `Id` and the key come from us, never from the record's field map.
        values = {k: v for k, v in rec.fields.items()
                  if k.lower() not in ("id", "attributes", key_field.lower())}
        rows.append({"attributes": {"type": object_name}, **values, key_field: rec.key})
    return {"allOrNone": False, "records": rows}


def upsert_result(rec: RecordUpsert, raw: Any) -> WriteResult:
    """One UpsertResult in our terms; `id` is the record's id, or its key when Salesforce
    gave none (a refused create)."""
    if not isinstance(raw, Mapping):
        raise FatalError(f"unexpected upsert result item {raw!r}")
    record_id = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else rec.key
    if raw.get("success"):
        if not _RECORD_ID.match(str(record_id)):
            raise FatalError(f"upsert result without a record id: {raw!r}")
        return record_result(str(record_id), ok=True)
    errors = [e for e in raw.get("errors") or () if isinstance(e, Mapping)]
    first = errors[0] if errors else {}
    message = "; ".join(str(e.get("message", "")) for e in errors) or None
    fields = [str(f) for f in first.get("fields") or () if isinstance(f, str)]
    return record_result(str(record_id), ok=False, code=str(first.get("statusCode") or "UNKNOWN"),
                         message=message, fields=fields)


def _patch(sf: Salesforce, *, path: str, body: dict[str, Any]) -> Any:
    return sf.restful(path, method="PATCH", json=body)


def upsert(transport: Transport, object_name: str, key_field: str,
           records: Sequence[RecordUpsert]) -> list[WriteResult]:
    check_upsert(object_name, key_field, records)
    results: list[WriteResult] = []
    path = f"composite/sobjects/{object_name}/{key_field}"
    for start in range(0, len(records), UPSERT_BATCH):
        batch = list(records[start : start + UPSERT_BATCH])
        body = upsert_body(object_name, key_field, batch)
        answer = transport.call("composite_sobjects", partial(_patch, path=path, body=body))
        if not isinstance(answer, list) or len(answer) != len(batch):
            raise FatalError(
                f"sObject Collections upsert answered {len(answer) if isinstance(answer, list) else 0}"
                f" results for {len(batch)} records"
            )
        results.extend(upsert_result(rec, raw) for rec, raw in zip(batch, answer, strict=True))
    return results


# -- the org setting -----------------------------------------------------------------------------


def _check_setting(name: str, container: str) -> None:
    if not isinstance(container, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]*__c$", container):
        raise ConfigError(f"invalid custom setting {container!r}: expected Name__c")
    if not isinstance(name, str) or not name or len(name) > SETTING_NAME_LENGTH:
        raise ConfigError(f"invalid org setting name {name!r}: 1..{SETTING_NAME_LENGTH} characters")


def _setting_row(transport: Transport, name: str, container: str) -> Mapping[str, Any] | None:
    soql = f"SELECT Id, Value__c FROM {container} WHERE Name = {soql_string(name)} LIMIT 1"
    answer = transport.call("query", lambda sf: sf.query(soql))
    records = answer.get("records") if isinstance(answer, Mapping) else None
    if not isinstance(records, list):
        raise FatalError("unexpected query answer: no records list")
    return records[0] if records and isinstance(records[0], Mapping) else None


def org_setting(transport: Transport, name: str, container: str) -> str | None:
    _check_setting(name, container)
    row = _setting_row(transport, name, container)
    value = row.get("Value__c") if row is not None else None
    return value if isinstance(value, str) else None


def set_org_setting(transport: Transport, name: str, value: str, container: str) -> None:
    """Update the record named `name` (one query, one PATCH; none when the value is the
    same), or create it (one POST)."""
    _check_setting(name, container)
    if not isinstance(value, str) or len(value) > SETTING_VALUE_LENGTH:
        raise ConfigError(f"org setting {name}: a text of at most {SETTING_VALUE_LENGTH} characters")
    row = _setting_row(transport, name, container)
    if row is None:
        body = {"Name": name, "Value__c": value}
        transport.call("sobject_create",
                       lambda sf: sf.restful(f"sobjects/{container}", method="POST", json=body))
        return
    if row.get("Value__c") == value:
        return
    record_id = row.get("Id")
    if not isinstance(record_id, str) or not _RECORD_ID.match(record_id):
        raise FatalError(f"unexpected {container} id {record_id!r}")
    transport.call("sobject_patch", lambda sf: sf.restful(f"sobjects/{container}/{record_id}", method="PATCH",
                                                          json={"Value__c": value}))
