"""The seed's custom objects in the Zoho org (`OrgSeed.objects`, when ``installed``): each
detail object becomes the custom module `CustomObject.zoho_name` as the adapter's
``ensure_objects`` + ``ensure_fields`` leave it — an auto-numbered ``Name``, the lookup
`CustomObject.zoho_parent_field` to the parent module (its related list labelled with the
object's plural label), and the object's `CustomField`s under Zoho's names (no ``__c``; an
external id is a unique text field). Setting objects have no Zoho counterpart (org
variables play their part)."""

from __future__ import annotations

import re
import sqlite3

from presales_sync.sandbox.core._seed import CustomField, CustomObject, OrgSeed
from presales_sync.sandbox.zoho._modules import PROFILES, CustomModule, module_fields
from presales_sync.sandbox.zoho._store import USERS, ZField, ZohoStore, derived_api_name

#: Salesforce parent objects → Zoho modules.
PARENT_MODULES = {"opportunity": "Deals", "account": "Accounts"}


def autonumber_parts(name_format: str) -> tuple[str, str]:
    """``PA-{000000}`` → (``PA-``, ``""``): Zoho numbers without padding."""
    match = re.match(r"^(.*?)\{0+\}(.*)$", name_format)
    return (match.group(1), match.group(2)) if match else (name_format, "")


def display_label(singular: str) -> str:
    """The label of a plugin module's auto-numbered ``Name`` (the adapter uses the same)."""
    return f"{singular} No"


def _label(name: str, label: str) -> str:
    return label if derived_api_name(label) == name else name.replace("_", " ")


def zoho_field(cf: CustomField, field_id: str, related_list: str) -> ZField:
    """A seed's custom field of a detail object as the Zoho installer creates it."""
    name = cf.name.removesuffix("__c")
    label = _label(name, cf.label)
    if cf.type == "Text":
        return ZField(
            name, label, "text", field_id, length=cf.length or 255, unique=cf.external_id, custom_field=True
        )
    if cf.type == "LongText":
        return ZField(name, label, "textarea", field_id, length=cf.length or 32000, custom_field=True)
    if cf.type == "Number":
        if (cf.scale or 0) == 0 and (cf.precision or 9) <= 9:
            return ZField(name, label, "integer", field_id, length=cf.precision or 9, custom_field=True)
        return ZField(
            name,
            label,
            "double",
            field_id,
            length=cf.precision or 16,
            decimal_place=cf.scale or 0,
            custom_field=True,
        )
    if cf.type == "Checkbox":
        return ZField(name, label, "boolean", field_id, custom_field=True)
    if cf.type in ("Date", "DateTime"):
        return ZField(name, label, cf.type.lower(), field_id, custom_field=True)
    if cf.type == "Picklist":
        return ZField(name, label, "picklist", field_id, pick_list_values=cf.values, custom_field=True)
    target = (cf.reference_to or "User").lower()
    if target in ("user", "users"):
        return ZField(name, label, "userlookup", field_id, lookup_module=USERS, custom_field=True)
    return ZField(
        name,
        label,
        "lookup",
        field_id,
        lookup_module=PARENT_MODULES.get(target, cf.reference_to),
        related_list_label=related_list,
        custom_field=True,
    )


def seed_objects(zstore: ZohoStore, db: sqlite3.Connection, org: OrgSeed) -> None:
    """Create the seed's detail objects as custom modules (nothing unless ``installed``)."""
    if not org.installed:
        return
    for obj in org.objects:
        if obj.kind != "detail" or not obj.zoho_name:
            continue
        _seed_module(zstore, db, org, obj)


def _seed_module(zstore: ZohoStore, db: sqlite3.Connection, org: OrgSeed, obj: CustomObject) -> None:
    prefix, suffix = autonumber_parts(obj.name_format)
    module = CustomModule(
        obj.zoho_name or "",
        obj.label,
        obj.plural_label,
        zstore.next_id(db),
        tuple(p["id"] for p in PROFILES),
        display_label(obj.label),
        True,
        prefix,
        suffix,
        1,
    )
    zstore.add_module(db, module.api_name, module.document())
    fields = module_fields(module, [zstore.next_id(db) for _ in range(6)])
    parent = obj.zoho_parent_field
    if parent:
        fields.append(
            ZField(
                parent,
                parent.replace("_", " "),
                "lookup",
                zstore.next_id(db),
                custom_field=True,
                lookup_module=PARENT_MODULES.get((obj.parent or "").lower(), obj.parent),
                related_list_label=obj.plural_label,
            )
        )
    for cf in org.fields_of(obj.name):
        if cf.name.removesuffix("__c") in (parent, obj.parent_field and obj.parent_field.removesuffix("__c")):
            continue
        fields.append(zoho_field(cf, zstore.next_id(db), obj.plural_label))
    for f in fields:
        zstore.add_field(db, module.api_name, f)
    zstore.set_meta(db, f"autonumber:{module.api_name}", "1")
