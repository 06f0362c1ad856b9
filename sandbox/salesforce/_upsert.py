"""sObject Collections upsert by external id: ``PATCH …/composite/sobjects/{SObject}/{Field}``.

docs/design/issue-14-wire-facts.md §2 and SALESFORCE.md 2.3: at most 200 records of the URI's
type, no record ids ("Only external ids are supported"), processed in order, one UpsertResult
each ``{id, success, errors, created}``, ``allOrNone`` false unless sent true. A malformed
request is a 400 for the whole call; anything else is 200 with per-record results. Rows that
share a key inside one request are all refused with ``DUPLICATE_VALUE`` "Duplicate external id
specified: X" ([secondary] castled SalesforceErrorParser; not documented by Salesforce).
A row's key matching a record updates it (``created: false``), else a record is created as the
caller; the parent's SystemModstamp is left alone (undocumented, §4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from presales_sync.sandbox.core._http import Reply, Request
from presales_sync.sandbox.salesforce._catalog import ObjectDef
from presales_sync.sandbox.salesforce._security import object_access
from presales_sync.sandbox.salesforce._values import WriteValueError, to_storage

if TYPE_CHECKING:
    from presales_sync.sandbox.salesforce._api import Api


def _bad(code: str, message: str) -> Reply:
    return Reply(400, [{"message": message, "errorCode": code}])


def _failure(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields or []}]}


def upsert(api: Api, req: Request, type_name: str, key_name: str, user_id: str) -> Reply:
    records, all_or_none = api._collection_body(req)
    obj = api._object(type_name, user_id)
    key = obj.field(key_name)
    if key is None or not (key.external_id or key.name == "Id"):
        return _bad("INVALID_FIELD",
                    f"Provided external ID field does not exist or is not accessible: {key_name}")
    if key.name == "Id":
        return _bad("INVALID_FIELD", "Only external ids are supported by upsert in sObject Collections")
    for rec in records:
        if not isinstance(rec, dict):
            return _bad("JSON_PARSER_ERROR", "each record must be a JSON object")
        attrs = rec.get("attributes")
        if not isinstance(attrs, dict) or str(attrs.get("type", "")).lower() != obj.name.lower():
            return _bad("INVALID_TYPE", f"every record needs attributes.type {obj.name}, the type in the URI")
        if any(k.lower() == "id" for k in rec):
            return _bad("INVALID_FIELD", "Records in an upsert by external id must not carry an Id")
    access = object_access(api.store, user_id, obj.name)

    def norm_key(value: Any) -> Any:
        return value if key.case_sensitive or not isinstance(value, str) else value.lower()

    counts: dict[Any, int] = {}
    for rec in records:
        value = rec.get(key.name)
        if isinstance(value, str) and value:
            counts[norm_key(value)] = counts.get(norm_key(value), 0) + 1
    results: list[dict[str, Any]] = []
    planned: list[tuple[int, str | None, dict[str, Any]]] = []  # (index, existing id or None, values)
    collate = "" if key.case_sensitive else " COLLATE NOCASE"
    with api.store.transaction() as db:
        for i, rec in enumerate(records):
            value = rec.get(key.name)
            if not isinstance(value, str) or not value:
                results.append(_failure("MISSING_ARGUMENT", f"{key.name} not specified", [key.name]))
                continue
            if counts[norm_key(value)] > 1:
                message = f"Duplicate external id specified: {value}"
                results.append(_failure("DUPLICATE_VALUE", message, [key.name]))
                continue
            sql = f'SELECT "Id" FROM "{obj.name}" WHERE "{key.name}" = ?{collate}'
            found = db.execute(sql, (value,)).fetchall()
            if len(found) > 1:
                results.append(_failure("DUPLICATE_EXTERNAL_ID",
                                        f"{key.name}: more than one record found for external id field: "
                                        f"{[r[0] for r in found]}", [key.name]))
                continue
            if found:
                existing = str(found[0][0])
                if "edit" not in access:
                    results.append(_failure("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                                            f"entity type cannot be updated: {obj.label}"))
                    continue
                data = _without_unchanged_fixed(obj, api.store.get_row(obj, existing) or {}, rec)
                _norm, values, errors = api._validate(db, obj, existing, data)
                if errors:
                    results.append({"id": existing, "success": False, "errors": errors})
                    continue
                results.append({"id": existing, "success": True, "errors": [], "created": False})
                planned.append((i, existing, values))
                continue
            if "create" not in access:
                results.append(_failure("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                                        f"entity type cannot be inserted: {obj.label}"))
                continue
            values, errors = api._new_values(db, obj, rec)
            if errors:
                results.append({"success": False, "errors": errors})
                continue
            results.append({"success": True, "errors": [], "created": True})
            planned.append((i, None, values))
        if all_or_none and len(planned) != len(records):
            for i, known, _values in planned:
                results[i] = {**({"id": known} if known else {}), "success": False,
                              "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                          "message": "Record rolled back because not all records were valid "
                                          "and the request was using AllOrNone header", "fields": []}]}
        elif planned:
            stamp = api.store.next_stamp()
            for i, known, values in planned:
                if known is None:
                    results[i] = {"id": api._insert(db, obj, values, user_id, stamp), **results[i]}
                else:
                    api.store.update_row(db, obj, known, api._stamp(values, user_id, stamp))
    return Reply(200, results)


def _without_unchanged_fixed(obj: ObjectDef, current: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """`rec` less the fields that cannot be updated but keep their stored value: a re-sent row
    carries its non-reparentable Master-Detail parent, which is not a change [inferred]."""
    data: dict[str, Any] = {}
    for name, value in rec.items():
        f = obj.field(name)
        if f is not None and f.createable and not f.updateable:
            try:
                if to_storage(f, value) == current.get(f.name):
                    continue
            except WriteValueError:
                pass
        data[name] = value
    return data
