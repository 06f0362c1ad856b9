"""The Metadata API (SOAP 1.1) for ``CustomField``: upsertMetadata, readMetadata, deleteMetadata.

The request is what simple-salesforce's zeep-based ``sf.mdapi`` sends (SALESFORCE.md 1.10);
the field definitions follow SALESFORCE.md 2.10. A field created here is put under
field-level security (see `_security`): nobody sees it until a permission set grants it.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from presales_sync.sandbox.salesforce._catalog import FieldDef
from presales_sync.sandbox.salesforce._security import md_definition
from presales_sync.sandbox.salesforce._store import Store

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
MD = "http://soap.sforce.com/2006/04/metadata"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_COMPONENTS = 10
XML_TYPE = "text/xml; charset=utf-8"
_FULL_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*__c)$")
_TARGETS = {"opportunity": "Opportunity", "user": "User", "account": "Account"}


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


class MetadataService:
    """The three CustomField operations against ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def call(self, op: ET.Element) -> bytes:
        name = op.tag.rpartition("}")[2]
        if op.tag != f"{{{MD}}}{name}":
            raise SoapFault("INVALID_OPERATION", f"unknown operation {op.tag}")
        if name == "upsertMetadata":
            return self._upsert(op)
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

    @staticmethod
    def _names(op: ET.Element) -> list[str]:
        type_name = _text(op, "type")
        if type_name != "CustomField":
            raise SoapFault("INVALID_TYPE", f"the sandbox supports only CustomField, not {type_name}")
        names = [(el.text or "").strip() for el in op.findall(f"{{{MD}}}fullNames")]
        MetadataService._limit(names)
        return names

    # -- upsert ----------------------------------------------------------------------------

    def _upsert(self, op: ET.Element) -> bytes:
        items = op.findall(f"{{{MD}}}metadata")
        self._limit(items)
        for el in items:
            xsi_type = (el.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
            if xsi_type != "CustomField":
                raise SoapFault("INVALID_TYPE", f"only CustomField is supported, not {xsi_type or '?'}")
        results = []
        for el in items:
            full_name = _text(el, "fullName") or ""
            try:
                definition, field = _definition(el, self.store)
                created = self._save(definition, field)
            except ValueError as e:
                results.append(
                    "<result><created>false</created><errors>"
                    f"<message>{escape(str(e))}</message><statusCode>FIELD_INTEGRITY_EXCEPTION</statusCode>"
                    f"</errors><fullName>{escape(full_name)}</fullName><success>false</success></result>"
                )
                continue
            results.append(
                f"<result><created>{str(created).lower()}</created><fullName>{escape(full_name)}</fullName>"
                "<success>true</success></result>"
            )
        return envelope(f'<upsertMetadataResponse xmlns="{MD}">{"".join(results)}</upsertMetadataResponse>')

    def _save(self, definition: dict[str, Any], field: FieldDef) -> bool:
        object_name, _, _ = definition["fullName"].partition(".")
        with self.store.transaction() as db:
            existing = self.store.objects[object_name.lower()].field(field.name)
            old = md_definition(db, object_name, field.name)
            if existing is not None and existing.type != field.type:
                raise ValueError(
                    f"Cannot change type of {definition['fullName']} from {existing.type} to {field.type}"
                )
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
        with self.store.reader() as db:
            for full_name in self._names(op):
                m = _FULL_NAME.match(full_name)
                obj = self.store.objects.get(m.group(1).lower()) if m else None
                f = obj.field(m.group(2)) if obj is not None and m else None
                if obj is None or f is None or m is None:
                    records.append('<records xsi:type="CustomField"/>')
                    continue
                definition = md_definition(db, obj.name, f.name) or _from_fielddef(obj.name, f)
                records.append(f'<records xsi:type="CustomField">{_render(definition)}</records>')
        return envelope(
            f'<readMetadataResponse xmlns="{MD}"><result>{"".join(records)}</result></readMetadataResponse>'
        )

    # -- delete ----------------------------------------------------------------------------

    def _delete(self, op: ET.Element) -> bytes:
        results = []
        for full_name in self._names(op):
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


def _definition(el: ET.Element, store: Store) -> tuple[dict[str, Any], FieldDef]:
    """The stored definition and the catalogue row of one CustomField element."""
    full_name = _text(el, "fullName") or ""
    m = _FULL_NAME.match(full_name)
    if m is None or m.group(1).lower() not in _TARGETS:
        raise ValueError(
            f"Invalid fullName '{full_name}': must be Opportunity.Name__c, User.Name__c or Account.Name__c"
        )
    object_name, name = _TARGETS[m.group(1).lower()], m.group(2)
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
        return d, FieldDef(name, label, "string", length=length, **common)
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
        target = (_text(el, "referenceTo") or "").lower()
        relationship = _text(el, "relationshipName") or ""
        if target not in store.objects:
            raise ValueError(f"referenceTo: unknown object {_text(el, 'referenceTo')}")
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", relationship) or "__" in relationship:
            raise ValueError("Lookup fields require a valid relationshipName")
        ref = store.objects[target].name
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


def _from_fielddef(object_name: str, f: FieldDef) -> dict[str, Any]:
    """A Metadata definition for a seeded field (never upserted)."""
    d: dict[str, Any] = {"fullName": f"{object_name}.{f.name}", "label": f.label}
    if f.type == "string":
        d.update(type="Text", length=f.length)
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
        rel = (f.relationship_name or "").removesuffix("__r")
        d.update(type="Lookup", referenceTo=f.reference_to[0] if f.reference_to else "", relationshipName=rel)
    else:
        d["type"] = "Text"
    return d


def _render(d: dict[str, Any]) -> str:
    """A CustomField's children in the WSDL's sequence order."""
    parts = [f"<fullName>{escape(d['fullName'])}</fullName>"]

    def add(tag: str, value: Any) -> None:
        if value is None:
            return
        text = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"<{tag}>{escape(text)}</{tag}>")

    add("defaultValue", d.get("defaultValue"))
    add("description", d.get("description"))
    add("externalId", False)
    add("inlineHelpText", d.get("inlineHelpText"))
    add("label", d["label"])
    add("length", d.get("length"))
    add("precision", d.get("precision"))
    add("referenceTo", d.get("referenceTo"))
    add("relationshipName", d.get("relationshipName"))
    add("required", False)
    add("scale", d.get("scale"))
    add("type", d["type"])
    add("unique", False)
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
    return "".join(parts)
