"""Insert Records (``POST /{module}``) and Upsert Records (``POST /{module}/upsert``) of the
Zoho half, as the caller: the server sets ``Created_By`` / ``Modified_By`` to the token's
user and ``Created_Time`` / ``Modified_Time`` to its clock (whole seconds, rendered in the
org's zone); ``Created_*`` never change afterwards.

Wire facts (ZOHO.md §3.1–§3.3; docs/design/issue-14-wire-facts.md §9, from
https://zoho.com/crm/developer/docs/api/v8/upsert-records.html):

- ≤ 100 records a call; a per-record answer in request order:
  ``{"code": "SUCCESS", "action": "insert"|"update", "duplicate_field": <field>|null,
  "details": {"Modified_Time", "Modified_By", "Created_Time", "id", "Created_By"},
  "message": "record added"|"record updated", "status": "success"}`` (upsert; an insert has no
  ``action`` / ``duplicate_field``);
- ``duplicate_check_fields`` may name only the module's system duplicate-check field (custom
  modules ``Name``; Deals ``Deal_Name``; Accounts ``Account_Name``) and its unique fields;
  omitted, the order is the system field, then the unique fields; a unique field listed is
  followed by the other unique fields; a system field not listed is not checked;
- an insert that would repeat a unique field's value is ``DUPLICATE_DATA``;
- ``X-EXTERNAL: <module>.<field>`` matches on that External ID field instead;
- HTTP: every record done → 201 when one was inserted, else 200; mixed 207; all refused 400.
Inferred (not documented; the adapter never sends it): a key repeated within one body is
matched by the later record against the record the earlier one wrote, so the later one is an
``update`` of it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from presales_sync.sandbox.zoho._store import LOOKUP_TYPES, USERS, Row, ZField, ZohoStore
from presales_sync.sandbox.zoho._wire import EntryError, ZohoError, coerce, render_time

#: A module's system duplicate-check field (custom modules: ``Name``).
SYSTEM_DUPLICATE_FIELDS = {"Deals": "Deal_Name", "Accounts": "Account_Name"}


def minified(users: dict[str, Row], user_id: str) -> dict[str, Any]:
    """OAS Minified_User of `user_id` (name, id, email)."""
    row = users.get(user_id)
    return {
        "name": row.data.get("full_name") if row else None,
        "id": user_id,
        "email": row.data.get("email") if row else None,
    }


def check_order(module: str, fields: dict[str, ZField], given: Any, external: str | None = None) -> list[str]:
    """The fields an upsert matches on, in order (request-level errors raised). `external`:
    the ``X-EXTERNAL: <module>.<field>`` header, naming an External ID field to match on."""
    if external is not None:
        head, _, name = external.partition(".")
        if head.lower() != module.lower() or name not in fields or not fields[name].external:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"header_name": "X-EXTERNAL"})
        return [name]
    system = SYSTEM_DUPLICATE_FIELDS.get(module, "Name")
    unique = [f.api_name for f in fields.values() if f.unique]
    if given is None:
        return [n for n in [system, *unique] if n in fields]
    if not isinstance(given, list) or not given:
        raise ZohoError(
            400,
            "INVALID_DATA",
            "invalid data",
            {"api_name": "duplicate_check_fields", "json_path": "$.duplicate_check_fields"},
        )
    order: list[str] = []
    for n, name in enumerate(given):
        if not isinstance(name, str) or name not in fields or (name != system and not fields[name].unique):
            raise ZohoError(
                400,
                "INVALID_DATA",
                "invalid data",
                {"api_name": "duplicate_check_fields", "json_path": f"$.duplicate_check_fields[{n}]"},
            )
        order.append(name)
    if any(fields[n].unique for n in order):
        order += [n for n in unique if n not in order]
    return list(dict.fromkeys(order))


def _norm(f: ZField, value: Any) -> Any:
    return value.lower() if isinstance(value, str) and not f.case_sensitive else value


def _known(
    store: ZohoStore, db: sqlite3.Connection, items: list[Any], fields: dict[str, ZField]
) -> dict[str, set[str]]:
    """The ids the lookups of `items` name that exist, per target module."""
    wanted: dict[str, list[str]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        for name, value in item.items():
            f = fields.get(name)
            if f is not None and f.data_type in LOOKUP_TYPES and isinstance(value, dict):
                rid = value.get("id")
                if isinstance(rid, str):
                    wanted.setdefault(f.lookup_module or USERS, []).append(rid)
    return {target: set(store.rows(db, target, ids)) for target, ids in wanted.items()}


def write_new(
    store: ZohoStore,
    module: str,
    items: list[Any],
    user_id: str,
    stamp: int,
    order: list[str] | None,
    locked: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Insert (`order` None) or upsert (`order`: the fields to match on) `items`; one result
    per item, in order."""
    fields = {f.api_name: f for f in store.fields(module)}
    unique = [f for f in fields.values() if f.unique]
    results: list[dict[str, Any]] = []
    with store.transaction() as db:
        rows = {r.id: r for r in store.all_rows_in(db, module)}
        keyed = {*(order or ()), *(f.api_name for f in unique)}
        index: dict[str, dict[Any, str]] = {n: {} for n in keyed}
        for r in rows.values():
            for n in keyed:
                if r.data.get(n) is not None:
                    index[n][_norm(fields[n], r.data[n])] = r.id
        known = _known(store, db, items, fields)
        users = {r.id: r for r in store.all_rows_in(db, USERS)}
        for i, item in enumerate(items):
            path = f"$.data[{i}]"
            try:
                values = _values(item, path, fields, known)
                match = None
                for n in order or ():
                    if values.get(n) is not None and _norm(fields[n], values[n]) in index[n]:
                        match = (n, index[n][_norm(fields[n], values[n])])
                        break
                if match is not None:
                    if match[1] in locked:
                        raise EntryError("RECORD_LOCKED", "the record is locked", {"id": match[1]})
                    old = rows[match[1]]
                    _no_clash(values, fields, index, path, old.id)
                    row = Row(
                        old.id,
                        old.created,
                        max(stamp, old.modified),
                        {**old.data, **values, "Modified_By": user_id},
                    )
                    store.update_record(db, module, row)
                else:
                    _no_clash(values, fields, index, path, None)
                    row = _inserted(store, db, module, fields, values, user_id, stamp, path)
            except EntryError as e:
                results.append(e.body)
                continue
            rows[row.id] = row
            for n in keyed:
                if row.data.get(n) is not None:
                    index[n][_norm(fields[n], row.data[n])] = row.id
            result: dict[str, Any] = {"code": "SUCCESS"}
            if order is not None:
                result.update(
                    duplicate_field=match[0] if match else None, action="update" if match else "insert"
                )
            result.update(
                details={
                    "Modified_Time": render_time(row.modified),
                    "Modified_By": minified(users, user_id),
                    "Created_Time": render_time(row.created),
                    "id": row.id,
                    "Created_By": minified(users, str(row.data.get("Created_By") or "")),
                },
                message="record updated" if match else "record added",
                status="success",
            )
            results.append(result)
    return results


def _values(item: Any, path: str, fields: dict[str, ZField], known: dict[str, set[str]]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise EntryError("INVALID_DATA", "invalid data", {"json_path": path})
    values: dict[str, Any] = {}
    for name, value in item.items():
        if name.startswith("$"):
            continue
        f = fields.get(name)
        if f is None or f.read_only:
            raise EntryError(
                "INVALID_DATA", "invalid data", {"api_name": name, "json_path": f"{path}.{name}"}
            )
        values[name] = coerce(f, value, f"{path}.{name}", known)
    return values


def _no_clash(
    values: dict[str, Any],
    fields: dict[str, ZField],
    index: dict[str, dict[Any, str]],
    path: str,
    own: str | None,
) -> None:
    for name, value in values.items():
        f = fields[name]
        if not f.unique or value is None:
            continue
        other = index.get(name, {}).get(_norm(f, value))
        if other is not None and other != own:
            raise EntryError(
                "DUPLICATE_DATA",
                "duplicate data",
                {"api_name": name, "json_path": f"{path}.{name}", "duplicate_record": {"id": other}},
            )


def _inserted(
    store: ZohoStore,
    db: sqlite3.Connection,
    module: str,
    fields: dict[str, ZField],
    values: dict[str, Any],
    user_id: str,
    stamp: int,
    path: str,
) -> Row:
    for f in fields.values():
        if f.system_mandatory and values.get(f.api_name) is None and f.api_name != "Owner":
            raise EntryError(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": f.api_name, "json_path": f"{path}.{f.api_name}"},
            )
    data = {k: v for k, v in values.items() if v is not None}
    name = fields.get("Name")
    if name is not None and name.data_type == "autonumber":
        key = f"autonumber:{module}"
        got = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        n = int(got[0]) if got else 1
        store.set_meta(db, key, str(n + 1))
        data["Name"] = f"{name.auto_prefix}{n}{name.auto_suffix}"
    if "Owner" in fields:
        data.setdefault("Owner", user_id)
    data.update(Created_By=user_id, Modified_By=user_id)
    row = Row(store.next_id(db), stamp, stamp, data)
    store.insert_records(db, module, [row])
    return row
