"""Custom objects as catalogue data: a detail object of a master (Master-Detail field, sharing
controlled by the parent, an auto-numbered Name) and a list custom setting (a Text Name).

The Metadata API (`_metadata_objects`) and the seeder (`_seed`) both build their objects here,
so an org seeded "already installed" has exactly what a createMetadata call leaves. Facts:
docs/design/issue-14-wire-facts.md §1 (CustomObject, MasterDetail) and §3 (a detail record
has no OwnerId: it takes its master's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from presales_sync.sandbox.core._seed import CustomObject, OrgSeed
from presales_sync.sandbox.salesforce._catalog import (
    FieldDef,
    ObjectDef,
    _ref,
    _ro,
    _system_fields,
    field_def,
)

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGITS = re.compile(r"\{(0+)\}")
#: An auto-number's length in describe (Salesforce: 30).
AUTO_NUMBER_LENGTH = 30


def master_detail(name: str, label: str, parent: str, relationship: str, *,
                  reparentable: bool = False) -> FieldDef:
    """A Master-Detail field: always required, re-parented only if `reparentable`, deleting
    the master deletes the detail (describe ``cascadeDelete``). SOQL reaches the master as
    ``Opportunity__r`` (the field's name), the master its details as `relationship` + __r."""
    return FieldDef(name, label, "reference", custom=True, nillable=False, length=18,
                    updateable=reparentable, reference_to=(parent,),
                    relationship_name=f"{name.removesuffix('__c')}__r", cascade_delete=True,
                    child_relationship=f"{relationship}__r")


#: A custom setting record's Name holds at most 38 characters, another Text name 80.
SETTING_NAME_LENGTH, NAME_LENGTH = 38, 80


def name_field(definition: dict[str, Any], *, setting: bool = False) -> FieldDef:
    """The Name field of a custom object from its ``nameField`` definition."""
    label = definition.get("label") or "Name"
    if definition.get("type") == "AutoNumber":
        return FieldDef("Name", label, "string", length=AUTO_NUMBER_LENGTH, nillable=False, createable=False,
                        updateable=False, auto_number=True, display_format=definition.get("displayFormat"))
    return FieldDef("Name", label, "string", length=SETTING_NAME_LENGTH if setting else NAME_LENGTH,
                    nillable=False)


def object_def(definition: dict[str, Any], fields: Sequence[FieldDef], key_prefix: str) -> ObjectDef:
    """A custom object: Id, IsDeleted, Name, OwnerId (unless a detail or a setting), the system
    stamps, then `fields` in the order given."""
    detail = definition.get("sharingModel") == "ControlledByParent"
    owned = not detail and not definition.get("customSettingsType")
    head = [
        _ro("Id", "Record ID", "id", length=18),
        _ro("IsDeleted", "Deleted", "boolean"),
        name_field(definition.get("nameField") or {}, setting=bool(definition.get("customSettingsType"))),
    ]
    if owned:
        head.append(_ref("OwnerId", "Owner ID", "User", "Owner", nillable=False))
    return ObjectDef(str(definition["fullName"]), str(definition["label"]), str(definition["pluralLabel"]),
                     key_prefix, custom=True, fields=(*head, *_system_fields(), *fields))


def kind_of(definition: dict[str, Any]) -> str:
    if definition.get("customSettingsType"):
        return "setting"
    return "detail" if definition.get("sharingModel") == "ControlledByParent" else "object"


def next_key_prefix(objects: Iterable[ObjectDef]) -> str:
    """The first free custom-object key prefix (a00, a01, …), as an org hands them out."""
    taken = {o.key_prefix for o in objects}
    for first in "0123456789":
        for ch in _BASE62:
            if f"a{first}{ch}" not in taken:
                return f"a{first}{ch}"
    raise ValueError("no custom object key prefix left")


def auto_name(display_format: str | None, number: int) -> str:
    """``PA-{000000}`` and 7 → ``PA-000007``."""
    fmt = display_format or "{0}"
    return _DIGITS.sub(lambda m: str(number).zfill(len(m.group(1))), fmt, count=1)


def child_relationships(objects: Iterable[ObjectDef], parent: ObjectDef) -> list[dict[str, Any]]:
    """describe ``childRelationships`` of `parent`: every custom reference field pointing at it."""
    out: list[dict[str, Any]] = []
    for obj in objects:
        for f in obj.fields:
            if not f.child_relationship or parent.name not in f.reference_to:
                continue
            out.append({
                "cascadeDelete": f.cascade_delete,
                "childSObject": obj.name,
                "deprecatedAndHidden": False,
                "field": f.name,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": f.child_relationship,
                "restrictedDelete": False,
            })
    return out


def organization_object() -> ObjectDef:
    """``Organization``: the org's one record, its id the org id (``SELECT Id FROM
    Organization``, issue-14-wire-facts §11: identity only, no custom fields)."""
    return ObjectDef("Organization", "Organization", "Organizations", "00D", fields=(
        _ro("Id", "Organization ID", "id", length=18),
        _ro("Name", "Name", "string", length=80),
        _ro("OrganizationType", "Edition", "string", length=40),
        _ro("IsSandbox", "Is Sandbox", "boolean"),
        *_system_fields(),
    ))


def ensure_organization(store: Any) -> None:
    """Add the Organization object and its record to an org that lacks them."""
    if "organization" in store.objects:
        return
    org_id = store.meta("org_id")
    store.install_objects([organization_object()])
    if not org_id:
        return
    stamp, admin = store.next_stamp(), store.meta("integration_user_id")
    row = {"Id": org_id, "Name": store.meta("company") or "Sandbox", "OrganizationType": "Enterprise Edition",
           "IsSandbox": 0, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
           "CreatedById": admin, "LastModifiedById": admin}
    with store.transaction() as db:
        store.insert_row(db, "Organization", row)


def seed_definition(spec: CustomObject) -> dict[str, Any]:
    """The Metadata definition install would have sent for a seed's `CustomObject`."""
    if spec.kind == "setting":
        return {"fullName": spec.name, "label": spec.label, "pluralLabel": spec.plural_label,
                "customSettingsType": "List", "visibility": "Public",
                "nameField": {"label": "Name", "type": "Text"}}
    return {"fullName": spec.name, "label": spec.label, "pluralLabel": spec.plural_label,
            "deploymentStatus": "Deployed", "sharingModel": "ControlledByParent", "enableHistory": False,
            "nameField": {"label": f"{spec.label} Number", "type": "AutoNumber",
                          "displayFormat": spec.name_format}}


def seed_objects(org: OrgSeed, existing: Iterable[ObjectDef]) -> list[tuple[ObjectDef, dict[str, Any]]]:
    """The seed's custom objects (with their fields from ``org.fields``) and definitions."""
    taken = list(existing)
    out: list[tuple[ObjectDef, dict[str, Any]]] = []
    for spec in org.objects:
        definition = seed_definition(spec)
        fields: list[FieldDef] = []
        if spec.kind == "setting":
            fields.append(FieldDef("Value__c", "Value", "string", custom=True, length=255))
        elif spec.parent and spec.parent_field:
            rel = spec.relationship_name or spec.name.removesuffix("__c")
            fields.append(master_detail(spec.parent_field, spec.parent, spec.parent, rel))
        names = {f.name.lower() for f in fields}
        fields += [field_def(f) for f in org.fields_of(spec.name) if f.name.lower() not in names]
        obj = object_def(definition, fields, next_key_prefix(taken))
        taken.append(obj)
        out.append((obj, definition))
    return out
