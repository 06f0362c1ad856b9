"""Upsert Records by the plugin's key: ``POST /{module}/upsert`` with
``"duplicate_check_fields": [key_field]`` and ``"trigger": []``, at most 100 records a call.

Zoho facts (ZOHO.md §3.2; docs/design/issue-14-wire-facts.md §9; https://zoho.com/crm/developer/docs/api/v8/upsert-records.html):
only the module's system duplicate-check field and its unique fields may be named; without
``duplicate_check_fields`` a custom module is checked on ``Name`` first, so the key is
always named. Each answer entry carries ``action`` insert|update and ``details.id``. What
Zoho does with one key twice in a body is not documented: such a batch is refused here
before anything is sent (`ConfigError`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from presales_sync.connector.base import RecordChange, RecordUpsert, WriteResult
from presales_sync.connector.errors import ConfigError, FatalError

if TYPE_CHECKING:
    from presales_sync.connector.zoho._adapter import ZohoConnector

API = "/crm/v8"
UPSERT_BATCH = 100
#: The call family of record writes (tests count writes by it).
FAMILY = "update_records"


def check_keys(key_field: str, records: Sequence[RecordUpsert]) -> None:
    """Every record has a non-empty key, unique in the call, and no other value for the key
    field or an ``id`` among its fields."""
    bad = [r.key for r in records if not isinstance(r.key, str) or not r.key]
    if bad:
        raise ConfigError(f"upsert on {key_field}: empty or non-text keys {bad[:3]!r}")
    twice = sorted(k for k, n in Counter(r.key for r in records).items() if n > 1)
    if twice:
        raise ConfigError(f"upsert on {key_field}: keys given more than once in one call: {twice[:5]!r}")
    for r in records:
        if "id" in r.fields:
            raise ConfigError(
                f"upsert on {key_field}: record {r.key!r} names an id; the key finds the record"
            )
        if key_field in r.fields and r.fields[key_field] != r.key:
            raise ConfigError(f"upsert on {key_field}: record {r.key!r} holds another {key_field}")


def upsert(
    crm: ZohoConnector, module: str, key_field: str, records: Sequence[RecordUpsert], lookups: set[str]
) -> list[WriteResult]:
    # imported here: the adapter imports this module
    from presales_sync.connector.zoho._adapter import _record_result, wire_value

    results: list[WriteResult] = []
    for start in range(0, len(records), UPSERT_BATCH):
        batch = list(records[start : start + UPSERT_BATCH])
        rows: list[dict[str, Any]] = []
        for r in batch:
            row: dict[str, Any] = {key_field: r.key}
            for name, value in r.fields.items():
                if name != key_field:
                    row[name] = {"id": value} if name in lookups and value is not None else wire_value(value)
            rows.append(row)
        body = {"data": rows, "duplicate_check_fields": [key_field], "trigger": []}
        answer = crm.transport.request(
            FAMILY, "POST", f"{API}/{module}/upsert", json=body, record_errors=True
        )
        entries = answer.body.get("data") if answer.body is not None else None
        if not isinstance(entries, list) or len(entries) != len(batch):
            raise FatalError(
                f"POST {module}/upsert answered {len(entries) if isinstance(entries, list) else 0}"
                f" results for {len(batch)} records"
            )
        for r, raw in zip(batch, entries, strict=True):
            details = raw.get("details") if isinstance(raw, Mapping) else None
            rid = details.get("id") if isinstance(details, Mapping) else None
            ok = isinstance(raw, Mapping) and raw.get("status") == "success"
            if ok and (not isinstance(rid, str) or not rid):
                raise FatalError(f"POST {module}/upsert: record {r.key!r} succeeded without a details.id")
            # a refused record has no CRM id: its result carries the key
            results.append(_record_result(RecordChange(id=str(rid) if ok else r.key, fields=r.fields), raw))
    return results
