"""Field-level and object security: permission sets, their assignments, field and object
permissions.

Fields created through the Metadata API are recorded in ``_md_fields`` with ``fls = 1``;
such a field is visible to a user only through a ``FieldPermissions`` row with
``PermissionsRead`` on a ``PermissionSet`` assigned to that user (``PermissionSetAssignment``),
and updateable only with ``PermissionsEdit`` too (SALESFORCE.md 2.11). Seeded fields carry no
row and stay visible to everyone.

Custom objects created through the Metadata API are recorded in ``_md_objects`` with
``acl = 1``; their records are readable, creatable, editable, deletable by a user only through
an ``ObjectPermissions`` row of an assigned permission set (issue-14-wire-facts §3, the
dependency rules included; a detail object's row needs one on its master in the same set).
Custom settings have no object permissions; seeded objects carry ``acl = 0`` (open to all).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
from typing import Any

from presales_sync.sandbox.salesforce._catalog import FieldDef, ObjectDef, _ref, _ro, _system_fields
from presales_sync.sandbox.salesforce._store import Store

SECURITY_TYPES = ("PermissionSet", "PermissionSetAssignment", "FieldPermissions", "ObjectPermissions")
#: ObjectPermissions flags → the access they give, and what each depends on (§3).
ACCESS_FLAGS = {"PermissionsRead": "read", "PermissionsCreate": "create", "PermissionsEdit": "edit",
                "PermissionsDelete": "delete"}
_DEPENDS = {
    "PermissionsCreate": ("PermissionsRead",),
    "PermissionsEdit": ("PermissionsRead",),
    "PermissionsDelete": ("PermissionsRead", "PermissionsEdit"),
    "PermissionsViewAllRecords": ("PermissionsRead",),
    "PermissionsModifyAllRecords": ("PermissionsRead", "PermissionsDelete", "PermissionsEdit",
                                    "PermissionsViewAllRecords"),
}
ALL_ACCESS = ("read", "create", "edit", "delete")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def security_objects() -> list[ObjectDef]:
    permission_set = ObjectDef(
        "PermissionSet",
        "Permission Set",
        "Permission Sets",
        "0PS",
        fields=(
            _ro("Id", "Permission Set ID", "id", length=18),
            FieldDef("Name", "Name", "string", length=80, nillable=False),
            FieldDef("Label", "Label", "string", length=80, nillable=False),
            FieldDef("Description", "Description", "string", length=255),
            _ro("IsOwnedByProfile", "Is Owned By Profile", "boolean"),
            *_system_fields(),
        ),
    )
    assignment = ObjectDef(
        "PermissionSetAssignment",
        "Permission Set Assignment",
        "Permission Set Assignments",
        "0Pa",
        fields=(
            _ro("Id", "Permission Set Assignment ID", "id", length=18),
            _ref("AssigneeId", "Assignee ID", "User", "Assignee", nillable=False),
            _ref("PermissionSetId", "Permission Set ID", "PermissionSet", "PermissionSet", nillable=False),
            *_system_fields(),
        ),
    )
    field_permissions = ObjectDef(
        "FieldPermissions",
        "Field Permissions",
        "Field Permissions",
        "01k",
        fields=(
            _ro("Id", "Field Permissions ID", "id", length=18),
            _ref("ParentId", "Parent ID", "PermissionSet", "Parent", nillable=False),
            FieldDef("SobjectType", "Sobject Type Name", "string", length=40, nillable=False),
            FieldDef("Field", "Field Name", "string", length=255, nillable=False),
            FieldDef("PermissionsRead", "Read Access", "boolean", nillable=False),
            FieldDef("PermissionsEdit", "Edit Access", "boolean", nillable=False),
            *_system_fields(),
        ),
    )
    object_permissions = ObjectDef(
        "ObjectPermissions",
        "Object Permissions",
        "Object Permissions",
        "110",
        fields=(
            _ro("Id", "Object Permissions ID", "id", length=18),
            _ref("ParentId", "Parent ID", "PermissionSet", "Parent", nillable=False),
            FieldDef("SobjectType", "Sobject Type Name", "string", length=40, nillable=False),
            *(FieldDef(flag, flag.removeprefix("Permissions"), "boolean", nillable=False)
              for flag in (*ACCESS_FLAGS, "PermissionsViewAllRecords", "PermissionsModifyAllRecords")),
            *_system_fields(),
        ),
    )
    return [permission_set, assignment, field_permissions, object_permissions]


def ensure_installed(store: Store) -> None:
    """Add the security objects and the ``_md_fields`` table to an org that lacks them."""
    with store.transaction() as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS _md_fields (object TEXT NOT NULL, name TEXT NOT NULL, "
            "fls INTEGER NOT NULL, definition TEXT NOT NULL, PRIMARY KEY (object, name))"
        )
    missing = [o for o in security_objects() if o.name.lower() not in store.objects]
    if missing:
        store.install_objects(missing)


def fls_fields(db: sqlite3.Connection) -> dict[str, set[str]]:
    """object (lower) → names (lower) of the fields under field-level security."""
    out: dict[str, set[str]] = {}
    for obj, name in db.execute("SELECT object, name FROM _md_fields WHERE fls = 1"):
        out.setdefault(obj.lower(), set()).add(name.lower())
    return out


def guarded_objects(db: sqlite3.Connection) -> set[str]:
    """Names (lower) of the custom objects whose records object permissions guard."""
    return {str(r[0]).lower() for r in db.execute("SELECT name FROM _md_objects WHERE acl = 1")}


def object_access(store: Store, user_id: str, name: str) -> tuple[str, ...]:
    """What ``user_id`` may do with records of ``name`` (read, create, edit, delete)."""
    with store.reader() as db:
        if name.lower() not in guarded_objects(db):
            return ALL_ACCESS
        flags = ", ".join(f'MAX(o."{flag}")' for flag in ACCESS_FLAGS)
        row = db.execute(
            f'SELECT {flags} FROM "ObjectPermissions" o '
            'JOIN "PermissionSetAssignment" a ON a."PermissionSetId" = o."ParentId" '
            'WHERE a."AssigneeId" = ? AND o."SobjectType" = ? COLLATE NOCASE',
            (user_id, name),
        ).fetchone()
    return tuple(access for access, value in zip(ACCESS_FLAGS.values(), row or (), strict=False) if value)


def objects_for(store: Store, user_id: str) -> dict[str, ObjectDef]:
    """The catalogue as ``user_id`` sees it: guarded objects without Read dropped,
    FLS-controlled fields dropped or read-only."""
    with store.reader() as db:
        guarded = fls_fields(db)
        hidden = guarded_objects(db)
    view = dict(store.objects)
    for name in hidden:
        if name in view and "read" not in object_access(store, user_id, name):
            del view[name]
    if not guarded:
        return view
    with store.reader() as db:
        grants: dict[str, bool] = {}
        for field_name, edit in db.execute(
            'SELECT f."Field", MAX(f."PermissionsEdit") FROM "FieldPermissions" f '
            'JOIN "PermissionSetAssignment" a ON a."PermissionSetId" = f."ParentId" '
            'WHERE a."AssigneeId" = ? AND f."PermissionsRead" = 1 GROUP BY f."Field"',
            (user_id,),
        ):
            grants[str(field_name).lower()] = bool(edit)
    for key, names in guarded.items():
        obj = view.get(key)
        if obj is None:
            continue
        kept: list[FieldDef] = []
        for f in obj.fields:
            if f.name.lower() not in names:
                kept.append(f)
                continue
            grant = grants.get(f"{obj.name}.{f.name}".lower())
            if grant is None:
                continue
            kept.append(f if grant else dataclasses.replace(f, updateable=False, createable=False))
        view[key] = dataclasses.replace(obj, fields=tuple(kept))
    return view


def md_definition(db: sqlite3.Connection, object_name: str, name: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT definition FROM _md_fields WHERE object = ? AND name = ? COLLATE NOCASE", (object_name, name)
    ).fetchone()
    return json.loads(row[0]) if row else None


def _err(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields}


def security_errors(
    db: sqlite3.Connection, store: Store, obj: ObjectDef, rec: dict[str, Any], record_id: str | None
) -> list[dict[str, Any]]:
    """Cross-field rules of the security objects for the full record ``rec`` (stored values)."""
    other = "" if record_id is None else record_id

    def duplicate(where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        row = db.execute(f'SELECT "Id" FROM "{obj.name}" WHERE {where} AND "Id" != ?', (*params, other))
        found = row.fetchone()
        if found is None:
            return []
        return [
            _err(
                "DUPLICATE_VALUE",
                f"duplicate value found: <unknown> duplicates value on record with id: {found[0]}",
                [],
            )
        ]

    if obj.name == "PermissionSet":
        name = rec.get("Name") or ""
        if not _API_NAME.match(name) or "__" in name or name.endswith("_"):
            return [
                _err(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "The API Name can only contain underscores and alphanumeric characters. It must be "
                    "unique, begin with a letter, not include spaces, not end with an underscore, and "
                    "not contain two consecutive underscores.",
                    ["Name"],
                )
            ]
        return duplicate('"Name" = ? COLLATE NOCASE', (name,))
    if obj.name == "PermissionSetAssignment":
        return duplicate(
            '"AssigneeId" = ? AND "PermissionSetId" = ?', (rec.get("AssigneeId"), rec.get("PermissionSetId"))
        )
    if obj.name == "FieldPermissions":
        field_name = str(rec.get("Field") or "")
        sobject = str(rec.get("SobjectType") or "")
        type_name, _, short = field_name.partition(".")
        target = store.objects.get(type_name.lower())
        if target is None or target.field(short) is None or not short:
            message = f"Field: bad value for restricted picklist field: {field_name}"
            return [_err("INVALID_FIELD", message, ["Field"])]
        if sobject.lower() != target.name.lower():
            return [
                _err(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"Field Name: {field_name} does not belong to Sobject Type Name: {sobject}",
                    ["Field"],
                )
            ]
        if rec.get("PermissionsEdit") and not rec.get("PermissionsRead"):
            return [
                _err(
                    "FIELD_INTEGRITY_EXCEPTION",
                    "Permission Edit depends on permission(s): Read",
                    ["PermissionsEdit"],
                )
            ]
        return duplicate('"ParentId" = ? AND "Field" = ? COLLATE NOCASE', (rec.get("ParentId"), field_name))
    if obj.name == "ObjectPermissions":
        return _object_permission_errors(db, store, rec, duplicate)
    return []


def _object_permission_errors(db: sqlite3.Connection, store: Store, rec: dict[str, Any],
                              duplicate: Any) -> list[dict[str, Any]]:
    sobject = str(rec.get("SobjectType") or "")
    target = store.objects.get(sobject.lower())
    kind = db.execute("SELECT kind FROM _md_objects WHERE name = ?", (sobject,)).fetchone()
    if target is None or target.name in SECURITY_TYPES or (kind is not None and kind[0] == "setting"):
        # Custom settings have no object permissions ([secondary] wiki.sfxd.org important-notes).
        message = f"Sobject Type Name: bad value for restricted picklist field: {sobject}"
        return [_err("INVALID_FIELD", message, ["SobjectType"])]
    for flag, needs in _DEPENDS.items():
        missing = [n for n in needs if not rec.get(n)]
        if rec.get(flag) and missing:
            label = ", ".join(n.removeprefix("Permissions") for n in needs)
            message = f"Permission {flag.removeprefix('Permissions')} depends on permission(s): {label}"
            return [_err("FIELD_INTEGRITY_EXCEPTION", message, [flag])]
    masters = [f.reference_to[0] for f in target.fields if f.cascade_delete and f.reference_to]
    for master in masters if rec.get("PermissionsRead") else ():
        row = db.execute('SELECT MAX("PermissionsRead") FROM "ObjectPermissions" WHERE "ParentId" = ? '
                         'AND "SobjectType" = ? COLLATE NOCASE', (rec.get("ParentId"), master)).fetchone()
        if not row or not row[0]:
            return [_err("FIELD_INTEGRITY_EXCEPTION",
                         f"Permission Read {target.label} depends on permission(s): Read {master}",
                         ["PermissionsRead"])]
    where = '"ParentId" = ? AND "SobjectType" = ? COLLATE NOCASE'
    return duplicate(where, (rec.get("ParentId"), target.name))
