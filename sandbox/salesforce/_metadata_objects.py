"""The Metadata API for ``CustomObject``: createMetadata, upsertMetadata, readMetadata,
deleteMetadata, as simple-salesforce's zeep client sends them (``md.CustomObject(...)`` with
its ``fields`` inside, each with a bare fullName; docs/design/issue-14-wire-facts.md §1).

Checked as Salesforce does: label, pluralLabel and nameField are required, an AutoNumber
nameField needs a displayFormat, ``sharingModel=ControlledByParent`` needs a MasterDetail field
among ``fields`` (the error text of §1, [secondary] pastebin 9V4A9uNL). An object created here
has object permissions (``_md_objects.acl``, see `_security`): nobody reads or writes its
records until a permission set grants it; its optional fields are under field-level security.
A custom setting has neither: every API user reads and writes its records.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from presales_sync.sandbox.salesforce._catalog import FieldDef
from presales_sync.sandbox.salesforce._history import MAX_TRACKED, ensure_history, history_name
from presales_sync.sandbox.salesforce._metadata import (
    MD,
    _bool,
    _definition,
    _text,
    fielddef_definition,
    render_field,
)
from presales_sync.sandbox.salesforce._objects import kind_of, next_key_prefix, object_def
from presales_sync.sandbox.salesforce._security import md_definition
from presales_sync.sandbox.salesforce._store import Store

_OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")
_SHARING = ("Private", "Read", "ReadSelect", "ReadWrite", "ReadWriteTransfer", "FullAccess",
            "ControlledByParent", "ControlledByLeadOrContact", "ControlledByCampaign")
NO_MASTER_DETAIL = ("Cannot set sharingModel to ControlledByParent on a CustomObject without a MasterDetail "
                    "relationship field.")


class ObjectError(ValueError):
    """A rejected component: ``code`` is its statusCode."""

    def __init__(self, message: str, code: str = "FIELD_INTEGRITY_EXCEPTION") -> None:
        super().__init__(message)
        self.code = code


def parse_object(
    el: ET.Element, store: Store
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], FieldDef]]]:
    """The stored definition of one CustomObject element and its fields (definition, row)."""
    name = _text(el, "fullName") or ""
    if not _OBJECT_NAME.match(name) or "__" in name[:-3] or name[:-3].endswith("_"):
        raise ObjectError(f"Invalid fullName '{name}': a custom object's name ends in __c", "INVALID_NAME")
    d: dict[str, Any] = {"fullName": name}
    for tag in ("label", "pluralLabel"):
        if not _text(el, tag):
            raise ObjectError(f"Required field is missing: {tag}", "REQUIRED_FIELD_MISSING")
        d[tag] = _text(el, tag)
    for tag in ("description", "deploymentStatus", "visibility", "customSettingsType"):
        if _text(el, tag):
            d[tag] = _text(el, tag)
    d["enableHistory"] = _bool(_text(el, "enableHistory"))
    name_el = el.find(f"{{{MD}}}nameField")
    if name_el is None or not _text(name_el, "label"):
        raise ObjectError("Required field is missing: nameField", "REQUIRED_FIELD_MISSING")
    name_type = _text(name_el, "type") or ""
    if name_type not in ("Text", "AutoNumber") or (d.get("customSettingsType") and name_type != "Text"):
        raise ObjectError(f"Invalid nameField type: {name_type or '(none)'}")
    fmt = _text(name_el, "displayFormat")
    if name_type == "AutoNumber" and not (fmt and re.search(r"\{0+\}", fmt)):
        raise ObjectError("Display Format: an auto-number needs a display format like A-{0000}")
    d["nameField"] = {"label": _text(name_el, "label"), "type": name_type,
                      **({"displayFormat": fmt} if name_type == "AutoNumber" else {})}
    sharing = _text(el, "sharingModel")
    if d.get("customSettingsType"):
        if d["customSettingsType"] not in ("List", "Hierarchy"):
            raise ObjectError(f"Invalid customSettingsType: {d['customSettingsType']}")
    elif sharing not in _SHARING:
        raise ObjectError(f"Invalid sharingModel: {sharing or '(none)'}",
                          "REQUIRED_FIELD_MISSING" if sharing is None else "FIELD_INTEGRITY_EXCEPTION")
    else:
        d["sharingModel"] = sharing
    fields: list[tuple[dict[str, Any], FieldDef]] = []
    for field_el in el.findall(f"{{{MD}}}fields"):
        try:
            fields.append(_definition(field_el, store, owner=name))
        except ValueError as e:
            raise ObjectError(f"{name}.{_text(field_el, 'fullName')}: {e}") from None
    if len({f.name.lower() for _, f in fields}) != len(fields):
        raise ObjectError("Duplicate field names in fields", "DUPLICATE_DEVELOPER_NAME")
    if sharing == "ControlledByParent" and not any(fd["type"] == "MasterDetail" for fd, _ in fields):
        raise ObjectError(NO_MASTER_DETAIL)
    return d, fields


class ObjectMetadata:
    """The CustomObject operations against ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, el: ET.Element, *, create_only: bool) -> tuple[bool, str | None, str | None]:
        """(created, error code, error message) for one component."""
        try:
            definition, fields = parse_object(el, self.store)
        except ObjectError as e:
            return False, e.code, str(e)
        name = definition["fullName"]
        existing = self.store.objects.get(name.lower())
        if existing is not None and create_only:
            return False, "DUPLICATE_DEVELOPER_NAME", f"There is already a Custom Object named {name}"
        if existing is not None and not existing.custom:
            return False, "INVALID_NAME", f"{name} is not a custom object"
        tracked = sum(1 for _, f in fields if f.track_history)
        if tracked > MAX_TRACKED:
            return False, "FIELD_INTEGRITY_EXCEPTION", f"You can track a maximum of {MAX_TRACKED} fields"
        with self.store.transaction() as db:
            if existing is None:
                prefix = next_key_prefix(self.store.objects.values())
                obj = object_def(definition, [f for _, f in fields], prefix)
                self.store.create_object(db, obj)
            else:  # "Specify all relevant fields": the labels and fields are replaced / added
                obj = existing
                db.execute("UPDATE _objects SET label = ?, label_plural = ? WHERE name = ?",
                           (definition["label"], definition["pluralLabel"], existing.name))
                for _, f in fields:
                    self.store.put_field(db, existing.name, f)
            if definition["enableHistory"] or tracked:
                ensure_history(db, self.store, obj, tracked)
            kind = kind_of(definition)
            db.execute("INSERT OR REPLACE INTO _md_objects VALUES (?, ?, ?, ?)",
                       (name, kind, int(kind != "setting"), json.dumps(definition)))
            for fd, f in fields:
                # A Master-Detail field is required: field-level security does not apply to it;
                # nor does it to a custom setting's fields [inferred: Setup lists no FLS there].
                fls = int(not f.cascade_delete and kind != "setting")
                db.execute("INSERT OR REPLACE INTO _md_fields VALUES (?, ?, ?, ?)",
                           (name, f.name, fls, json.dumps({**fd, "_fls": bool(fls)})))
        self.store.reload_catalogue()
        return existing is None, None, None

    def read(self, name: str) -> str:
        obj = self.store.objects.get(name.lower())
        with self.store.reader() as db:
            row = db.execute("SELECT definition FROM _md_objects WHERE name = ?", (name,)).fetchone()
            if obj is None or row is None:
                return '<records xsi:type="CustomObject"/>'
            d = json.loads(row[0])
            fields = [md_definition(db, obj.name, f.name) or fielddef_definition(obj.name, f)
                      for f in obj.fields if f.custom]
        return f'<records xsi:type="CustomObject">{render_object(d, obj.name, fields)}</records>'

    def delete(self, name: str) -> str | None:
        """None, or the error message for a name that is no custom object."""
        obj = self.store.objects.get(name.lower())
        if obj is None or not obj.custom:
            return f"No CustomObject named {name} found"
        with self.store.transaction() as db:
            self.store.drop_object(db, obj.name)
            self.store.drop_object(db, history_name(obj))
            db.execute("DELETE FROM _md_objects WHERE name = ?", (obj.name,))
            db.execute("DELETE FROM _md_fields WHERE object = ? COLLATE NOCASE", (obj.name,))
            db.execute('DELETE FROM "FieldPermissions" WHERE "SobjectType" = ? COLLATE NOCASE', (obj.name,))
            db.execute('DELETE FROM "ObjectPermissions" WHERE "SobjectType" = ? COLLATE NOCASE', (obj.name,))
            db.execute("DELETE FROM _meta WHERE key = ?", (f"autonumber:{obj.name}",))
        self.store.reload_catalogue()
        return None


def render_object(d: dict[str, Any], name: str, fields: list[dict[str, Any]]) -> str:
    """A CustomObject's children in the WSDL's sequence order."""
    parts = [f"<fullName>{escape(name)}</fullName>"]

    def add(tag: str, value: Any) -> None:
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            parts.append(f"<{tag}>{escape(text)}</{tag}>")

    add("customSettingsType", d.get("customSettingsType"))
    add("deploymentStatus", d.get("deploymentStatus"))
    add("description", d.get("description"))
    add("enableHistory", d.get("enableHistory"))
    for fd in fields:
        parts.append(f"<fields>{render_field(fd, fd['fullName'].partition('.')[2])}</fields>")
    add("label", d["label"])
    nf = d.get("nameField") or {}
    parts.append("<nameField>" + "".join(
        f"<{tag}>{escape(str(nf[key]))}</{tag}>"
        for tag, key in (("displayFormat", "displayFormat"), ("label", "label"), ("type", "type"))
        if key in nf
    ) + "</nameField>")
    add("pluralLabel", d["pluralLabel"])
    add("sharingModel", d.get("sharingModel"))
    add("visibility", d.get("visibility"))
    return "".join(parts)
