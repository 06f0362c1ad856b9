"""The Metadata API (SOAP 1.1) for ``CustomField``: createMetadata, upsertMetadata,
readMetadata, deleteMetadata; ``CustomObject`` components are handed to `_metadata_objects`.

The request is what simple-salesforce's zeep-based ``sf.mdapi`` sends (SALESFORCE.md 1.10);
the field definitions follow SALESFORCE.md 2.10. A field created here is put under
field-level security (see `_security`): nobody sees it until a permission set grants it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from typing import Any, Protocol
from xml.sax.saxutils import escape

from presales_sync.sandbox.salesforce._catalog import FieldDef
from presales_sync.sandbox.salesforce._history import ensure_history
from presales_sync.sandbox.salesforce._objects import master_detail
from presales_sync.sandbox.salesforce._security import md_definition
from presales_sync.sandbox.salesforce._store import Store

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
MD = "http://soap.sforce.com/2006/04/metadata"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_COMPONENTS = 10
XML_TYPE = "text/xml; charset=utf-8"
_FULL_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*__c)$")
_TARGETS = {"opportunity": "Opportunity", "user": "User", "account": "Account"}


class DuplicateError(ValueError):
    """createMetadata of a component that exists."""


class SoapFault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:xsi="{XSI}">'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def fault(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:sf="{MD}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{escape(f'{code}: {message}')}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _text(el: ET.Element | None, name: str) -> str | None:
    if el is None:
        return None
    child = el.find(f"{{{MD}}}{name}")
    if child is None or child.get(f"{{{XSI}}}nil") == "true":
        return None
    return (child.text or "").strip()


def _bool(value: str | None, default: bool = False) -> bool:
    return default if value is None else value.strip().lower() in ("true", "1")


def parse_request(body: bytes) -> tuple[str | None, ET.Element]:
    """(session id or None, the operation element)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise SoapFault("INVALID_XML", "the request is not well-formed XML") from None
    if root.tag != f"{{{SOAPENV}}}Envelope":
        raise SoapFault("INVALID_XML", "expected a SOAP 1.1 Envelope")
    session = root.find(f"{{{SOAPENV}}}Header/{{{MD}}}SessionHeader/{{{MD}}}sessionId")
    session_id = (session.text or "").strip() if session is not None else None
    soap_body = root.find(f"{{{SOAPENV}}}Body")
    if soap_body is None or len(soap_body) == 0:
        raise SoapFault("INVALID_XML", "the SOAP Body is empty")
    return session_id or None, soap_body[0]


class ObjectOps(Protocol):
    """The CustomObject half (`_metadata_objects.ObjectMetadata`)."""

    def save(self, el: ET.Element, *, create_only: bool) -> tuple[bool, str | None, str | None]: ...
    def read(self, name: str) -> str: ...
    def delete(self, name: str) -> str | None: ...


_TYPES = ("CustomField", "CustomObject")


class MetadataService:
    """The CustomField operations against ``store``, CustomObject ones through `objects`."""

    def __init__(self, store: Store, objects: ObjectOps | None = None) -> None:
        self.store = store
        self.objects = objects

    def call(self, op: ET.Element) -> bytes:
        name = op.tag.rpartition("}")[2]
        if op.tag != f"{{{MD}}}{name}":
            raise SoapFault("INVALID_OPERATION", f"unknown operation {op.tag}")
        if name in ("upsertMetadata", "createMetadata"):
            return self._upsert(op, create_only=name == "createMetadata")
        if name == "readMetadata":
            return self._read(op)
        if name == "deleteMetadata":
            return self._delete(op)
        raise SoapFault("INVALID_OPERATION", f"{name} is not supported by the sandbox")

    @staticmethod
    def _limit(items: list[Any]) -> None:
        if len(items) > MAX_COMPONENTS:
            raise SoapFault(
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COMPONENTS} records in this operation",
            )

    def _names(self, op: ET.Element) -> tuple[str, list[str]]:
        type_name = _text(op, "type") or ""
        if type_name not in _TYPES or (type_name == "CustomObject" and self.objects is None):
            raise SoapFault("INVALID_TYPE", f"the sandbox supports only {', '.join(_TYPES)}, not {type_name}")
        names = [(el.text or "").strip() for el in op.findall(f"{{{MD}}}fullNames")]
        MetadataService._limit(names)
        return type_name, names

    # -- create / upsert -------------------------------------------------------------------

    def _upsert(self, op: ET.Element, *, create_only: bool) -> bytes:
        items = op.findall(f"{{{MD}}}metadata")
        self._limit(items)
        types = {(el.get(f"{{{XSI}}}type") or "").rpartition(":")[2] for el in items}
        if len(types) > 1:  # "You must submit arrays of only one type of component."
            raise SoapFault("INVALID_TYPE", "You must submit arrays of only one type of component")
        for xsi_type in types:
            if xsi_type not in _TYPES or (xsi_type == "CustomObject" and self.objects is None):
                supported = ", ".join(_TYPES)
                raise SoapFault("INVALID_TYPE", f"only {supported} are supported, not {xsi_type or '?'}")
        results = []
        for el in items:
            full_name = _text(el, "fullName") or ""
            code, message = None, None
            if types == {"CustomObject"}:
                assert self.objects is not None
                created, code, message = self.objects.save(el, create_only=create_only)
            else:
                try:
                    definition, field = _definition(el, self.store)
                    created = self._save(definition, field, create_only=create_only)
                except DuplicateError as e:
                    created, code, message = False, "DUPLICATE_DEVELOPER_NAME", str(e)
                except ValueError as e:
                    created, code, message = False, "FIELD_INTEGRITY_EXCEPTION", str(e)
            flag = "" if create_only else f"<created>{str(created).lower()}</created>"
            if code is not None:
                results.append(
                    f"<result>{flag}<errors><message>{escape(message or '')}</message>"
                    f"<statusCode>{code}</statusCode></errors><fullName>{escape(full_name)}</fullName>"
                    "<success>false</success></result>"
                )
                continue
            results.append(f"<result>{flag}<fullName>{escape(full_name)}</fullName><success>true</success></result>")
        tag = "createMetadataResponse" if create_only else "upsertMetadataResponse"
        return envelope(f'<{tag} xmlns="{MD}">{"".join(results)}</{tag}>')

    def _save(self, definition: dict[str, Any], field: FieldDef, *, create_only: bool = False) -> bool:
        object_name, _, _ = definition["fullName"].partition(".")
        with self.store.transaction() as db:
            existing = self.store.objects[object_name.lower()].field(field.name)
            if existing is not None and create_only:
                raise DuplicateError(f"There is already a field named {field.name} on {object_name}")
            old = md_definition(db, object_name, field.name)
            if existing is not None and existing.type != field.type:
                raise ValueError(
                    f"Cannot change type of {definition['fullName']} from {existing.type} to {field.type}"
                )
            if field.track_history or (existing is not None and existing.track_history):
                obj = self.store.objects[object_name.lower()]
                others = sum(1 for f in obj.fields
                             if f.track_history and f.name.lower() != field.name.lower())
                ensure_history(db, self.store, obj, others + int(field.track_history))
            created = self.store.put_field(db, object_name, field)
            if created and field.type == "boolean":
                self.store.fill_column(
                    db, object_name, field.name, int(_bool(definition.get("defaultValue")))
                )
            fls = 1 if created or (old is not None and old.get("_fls")) else 0
            definition = {**definition, "_fls": bool(fls)}
            db.execute(
                "INSERT OR REPLACE INTO _md_fields VALUES (?, ?, ?, ?)",
                (object_name, field.name, fls, json.dumps(definition)),
            )
        self.store.reload_catalogue()
        return created

    # -- read ------------------------------------------------------------------------------

    def _read(self, op: ET.Element) -> bytes:
        records = []
        type_name, names = self._names(op)
        if type_name == "CustomObject":
            assert self.objects is not None
            records = [self.objects.read(n) for n in names]
            names = []
        with self.store.reader() as db:
            for full_name in names:
                m = _FULL_NAME.match(full_name)
                obj = self.store.objects.get(m.group(1).lower()) if m else None
                f = obj.field(m.group(2)) if obj is not None and m else None
                if obj is None or f is None or m is None:
                    records.append('<records xsi:type="CustomField"/>')
                    continue
                definition = md_definition(db, obj.name, f.name) or fielddef_definition(obj.name, f)
                records.append(f'<records xsi:type="CustomField">{render_field(definition)}</records>')
        return envelope(
            f'<readMetadataResponse xmlns="{MD}"><result>{"".join(records)}</result></readMetadataResponse>'
        )

    # -- delete ----------------------------------------------------------------------------

    def _delete(self, op: ET.Element) -> bytes:
        results = []
        type_name, names = self._names(op)
        for full_name in names if type_name == "CustomObject" else ():
            assert self.objects is not None
            error = self.objects.delete(full_name)
            results.append(
                f"<result><fullName>{escape(full_name)}</fullName><success>true</success></result>"
                if error is None else
                f"<result><errors><message>{escape(error)}</message><statusCode>INVALID_CROSS_REFERENCE_KEY"
                f"</statusCode></errors><fullName>{escape(full_name)}</fullName><success>false</success></result>"
            )
        for full_name in names if type_name == "CustomField" else ():
            m = _FULL_NAME.match(full_name)
            obj = self.store.objects.get(m.group(1).lower()) if m else None
            f = obj.field(m.group(2)) if obj is not None and m else None
            if obj is None or f is None:
                results.append(
                    "<result><errors><message>"
                    f"{escape(f'No CustomField named {full_name} found')}</message>"
                    f"<statusCode>INVALID_CROSS_REFERENCE_KEY</statusCode></errors><fullName>{escape(full_name)}"
                    "</fullName><success>false</success></result>"
                )
                continue
            with self.store.transaction() as db:
                self.store.drop_field(db, obj.name, f.name)
                db.execute("DELETE FROM _md_fields WHERE object = ? AND name = ?", (obj.name, f.name))
                db.execute(
                    'DELETE FROM "FieldPermissions" WHERE "Field" = ? COLLATE NOCASE',
                    (f"{obj.name}.{f.name}",),
                )
            self.store.reload_catalogue()
            results.append(
                f"<result><fullName>{escape(full_name)}</fullName><success>true</success></result>"
            )
        return envelope(f'<deleteMetadataResponse xmlns="{MD}">{"".join(results)}</deleteMetadataResponse>')


def _int(el: ET.Element, name: str) -> int | None:
    value = _text(el, name)
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except ValueError:
        raise ValueError(f"{name}: not a number: {value}") from None


def _definition(el: ET.Element, store: Store, *, owner: str | None = None) -> tuple[dict[str, Any], FieldDef]:
    """`_field_definition`, with ``trackHistory`` (field history, see `_history`)."""
    d, f = _field_definition(el, store, owner=owner)
    if _bool(_text(el, "trackHistory")):
        if f.type == "textarea" or f.cascade_delete:
            raise ValueError(f"{d['fullName']}: field history cannot track this field")
        d["trackHistory"] = True
        f = dataclasses.replace(f, track_history=True)
    return d, f


def _field_definition(
    el: ET.Element, store: Store, *, owner: str | None = None
) -> tuple[dict[str, Any], FieldDef]:
    """The stored definition and the catalogue row of one CustomField element. Inside a
    CustomObject (`owner`, the object being defined) the fullName is the bare field name
    and a MasterDetail field may appear; standalone it is ``Object.Name__c``."""
    full_name = _text(el, "fullName") or ""
    if owner is not None:
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*__c$", full_name):
            raise ValueError(f"Invalid fullName '{full_name}': a field of {owner} is Name__c")
        object_name, name = owner, full_name
    else:
        m = _FULL_NAME.match(full_name)
        target = store.objects.get(m.group(1).lower()) if m else None
        if m is None or target is None or not (m.group(1).lower() in _TARGETS or target.custom):
            raise ValueError(
                f"Invalid fullName '{full_name}': must be Opportunity.Name__c, User.Name__c, Account.Name__c "
                "or a custom object's Object__c.Name__c"
            )
        object_name, name = target.name, m.group(2)
    if "__" in name[:-3] or name[:-3].endswith("_"):
        raise ValueError(f"Invalid field name {name}: no double or trailing underscores")
    label = _text(el, "label")
    if not label:
        raise ValueError("Required field is missing: label")
    type_name = _text(el, "type") or ""
    d: dict[str, Any] = {"fullName": f"{object_name}.{name}", "label": label, "type": type_name}
    for extra in ("description", "inlineHelpText"):
        if _text(el, extra):
            d[extra] = _text(el, extra)
    common: dict[str, Any] = {"custom": True}
    if type_name == "Text":
        length = _int(el, "length")
        if length is None or not 1 <= length <= 255:
            raise ValueError("Length must be between 1 and 255 for a Text field")
        d["length"] = length
        external_id, unique = _bool(_text(el, "externalId")), _bool(_text(el, "unique"))
        case_sensitive = _bool(_text(el, "caseSensitive"))
        d.update(externalId=external_id, unique=unique, caseSensitive=case_sensitive)
        return d, FieldDef(name, label, "string", length=length, external_id=external_id, unique=unique,
                           case_sensitive=case_sensitive, **common)
    if type_name == "LongTextArea":
        # SALESFORCE.md 2.10 / metadata.wsdl: length 256..131072 and visibleLines are required.
        length, lines = _int(el, "length"), _int(el, "visibleLines")
        if length is None or not 256 <= length <= 131072:
            raise ValueError("Length must be between 256 and 131072 for a Long Text Area field")
        if lines is None or not 2 <= lines <= 50:
            raise ValueError("Visible lines must be between 2 and 50 for a Long Text Area field")
        d.update(length=length, visibleLines=lines)
        return d, FieldDef(name, label, "textarea", length=length, filterable=False, sortable=False, **common)
    if type_name == "MasterDetail":
        if owner is None:
            raise ValueError("The sandbox creates a MasterDetail field only inside its CustomObject")
        master = store.objects.get((_text(el, "referenceTo") or "").lower())
        relationship = _text(el, "relationshipName") or ""
        if master is None:
            raise ValueError(f"referenceTo: unknown object {_text(el, 'referenceTo')}")
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", relationship) or "__" in relationship:
            raise ValueError("MasterDetail fields require a valid relationshipName")
        d.update(referenceTo=master.name, relationshipName=relationship,
                 relationshipLabel=_text(el, "relationshipLabel") or relationship,
                 relationshipOrder=_int(el, "relationshipOrder") or 0,
                 reparentableMasterDetail=_bool(_text(el, "reparentableMasterDetail")),
                 writeRequiresMasterRead=_bool(_text(el, "writeRequiresMasterRead")))
        return d, master_detail(name, label, master.name, relationship,
                                reparentable=d["reparentableMasterDetail"])
    if type_name == "Number":
        precision, scale = _int(el, "precision"), _int(el, "scale") or 0
        if precision is None or not 1 <= precision <= 18 or not 0 <= scale <= precision:
            raise ValueError("Number fields need a precision of 1..18 and a scale of 0..precision")
        d.update(precision=precision, scale=scale)
        return d, FieldDef(name, label, "double", precision=precision, scale=scale, **common)
    if type_name == "Checkbox":
        default = _text(el, "defaultValue")
        if default is None or default.lower() not in ("true", "false"):
            raise ValueError("Checkbox fields require a default value of true or false")
        d["defaultValue"] = default.lower()
        return d, FieldDef(name, label, "boolean", nillable=False, **common)
    if type_name == "Date":
        return d, FieldDef(name, label, "date", **common)
    if type_name == "DateTime":
        return d, FieldDef(name, label, "datetime", **common)
    if type_name == "Picklist":
        value_set = el.find(f"{{{MD}}}valueSet")
        definition = value_set.find(f"{{{MD}}}valueSetDefinition") if value_set is not None else None
        values = [] if definition is None else definition.findall(f"{{{MD}}}value")
        if value_set is None or not values:
            raise ValueError("Picklist fields require a valueSet with at least one value")
        entries: list[dict[str, Any]] = []
        for v in values:
            api = _text(v, "fullName")
            if not api:
                raise ValueError("Every picklist value needs a fullName")
            is_default, label_text = _bool(_text(v, "default")), _text(v, "label") or api
            entries.append({"fullName": api, "default": is_default, "label": label_text})
        if len({str(e["fullName"]).lower() for e in entries}) != len(entries):
            raise ValueError("Duplicate picklist values")
        restricted = _bool(_text(value_set, "restricted"))
        is_sorted = _bool(_text(definition, "sorted"))
        d["valueSet"] = {"restricted": restricted, "sorted": is_sorted, "value": entries}
        return d, FieldDef(
            name,
            label,
            "picklist",
            length=255,
            picklist_values=tuple(str(e["fullName"]) for e in entries),
            restricted_picklist=restricted,
            **common,
        )
    if type_name == "Lookup":
        target_name = (_text(el, "referenceTo") or "").lower()
        relationship = _text(el, "relationshipName") or ""
        if target_name not in store.objects:
            raise ValueError(f"referenceTo: unknown object {_text(el, 'referenceTo')}")
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", relationship) or "__" in relationship:
            raise ValueError("Lookup fields require a valid relationshipName")
        ref = store.objects[target_name].name
        d.update(referenceTo=ref, relationshipName=relationship)
        return d, FieldDef(
            name,
            label,
            "reference",
            length=18,
            reference_to=(ref,),
            relationship_name=f"{relationship}__r",
            **common,
        )
    raise ValueError(f"Unsupported field type in the sandbox: {type_name or '(none)'}")


def fielddef_definition(object_name: str, f: FieldDef) -> dict[str, Any]:
    """A Metadata definition for a seeded field (never upserted)."""
    d: dict[str, Any] = {"fullName": f"{object_name}.{f.name}", "label": f.label}
    if f.type == "string":
        d.update(type="Text", length=f.length, externalId=f.external_id, unique=f.unique,
                 caseSensitive=f.case_sensitive)
    elif f.type == "textarea":
        d.update(type="LongTextArea", length=f.length, visibleLines=3)
    elif f.type in ("double", "currency", "percent", "int"):
        d.update(type="Number", precision=f.precision or 18, scale=f.scale)
    elif f.type == "boolean":
        d.update(type="Checkbox", defaultValue="false")
    elif f.type == "date":
        d["type"] = "Date"
    elif f.type == "datetime":
        d["type"] = "DateTime"
    elif f.type == "picklist":
        d.update(
            type="Picklist",
            valueSet={
                "restricted": f.restricted_picklist,
                "sorted": False,
                "value": [{"fullName": v, "default": False, "label": v} for v in f.picklist_values],
            },
        )
    elif f.type == "reference":
        rel = (f.child_relationship or f.relationship_name or "").removesuffix("__r")
        d.update(type="MasterDetail" if f.cascade_delete else "Lookup",
                 referenceTo=f.reference_to[0] if f.reference_to else "", relationshipName=rel)
    else:
        d["type"] = "Text"
    return d


def render_field(d: dict[str, Any], full_name: str | None = None) -> str:
    """A CustomField's children in the WSDL's sequence order (`full_name` overrides the
    stored one: inside a CustomObject it is the bare field name)."""
    parts = [f"<fullName>{escape(full_name or d['fullName'])}</fullName>"]

    def add(tag: str, value: Any) -> None:
        if value is None:
            return
        text = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"<{tag}>{escape(text)}</{tag}>")

    add("caseSensitive", d.get("caseSensitive"))
    add("defaultValue", d.get("defaultValue"))
    add("description", d.get("description"))
    add("displayFormat", d.get("displayFormat"))
    add("externalId", bool(d.get("externalId")))
    add("inlineHelpText", d.get("inlineHelpText"))
    add("label", d["label"])
    add("length", d.get("length"))
    add("precision", d.get("precision"))
    add("referenceTo", d.get("referenceTo"))
    add("relationshipLabel", d.get("relationshipLabel"))
    add("relationshipName", d.get("relationshipName"))
    add("relationshipOrder", d.get("relationshipOrder"))
    add("reparentableMasterDetail", d.get("reparentableMasterDetail"))
    add("required", False if d.get("type") not in ("MasterDetail", "AutoNumber") else None)
    add("scale", d.get("scale"))
    add("trackHistory", d.get("trackHistory"))
    add("type", d["type"])
    add("unique", bool(d.get("unique")))
    vs = d.get("valueSet")
    if vs:
        values = "".join(
            f"<value><fullName>{escape(v['fullName'])}</fullName><default>{str(v['default']).lower()}</default>"
            f"<label>{escape(v['label'])}</label></value>"
            for v in vs["value"]
        )
        parts.append(
            f"<valueSet><restricted>{str(vs['restricted']).lower()}</restricted><valueSetDefinition>"
            f"<sorted>{str(vs['sorted']).lower()}</sorted>{values}</valueSetDefinition></valueSet>"
        )
    add("visibleLines", d.get("visibleLines"))
    add("writeRequiresMasterRead", d.get("writeRequiresMasterRead"))
    return "".join(parts)
