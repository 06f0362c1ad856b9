"""Check a mapping against the CRM's live schema (pure: the schema is an argument).

An admin learns before any sync whether each mapped field exists and is visible to the
integration user, has a compatible type, is updateable where we write it, and whether the
picklist values we would write exist in a restricted picklist."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from presales_sync.mappings.model import FieldMap, FieldType, ObjectMap

# Which CRM (REST describe) types can carry each mapping type.
COMPATIBLE: dict[FieldType, frozenset[str]] = {
    "string": frozenset({"string", "textarea", "picklist", "multipicklist", "combobox", "email",
                         "phone", "url", "id", "reference", "encryptedstring"}),
    "id": frozenset({"id", "reference", "string"}),
    "user": frozenset({"reference", "id", "string"}),
    "boolean": frozenset({"boolean"}),
    "number": frozenset({"double", "currency", "percent", "int", "long"}),
    "integer": frozenset({"int", "long", "double"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
}


@dataclass(frozen=True, slots=True)
class CrmField:
    """What describe says of one field, as far as a mapping cares."""

    name: str
    type: str
    updateable: bool
    picklist_values: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()


Schema = Mapping[str, Mapping[str, CrmField]]  # object name -> field name -> field


@dataclass(frozen=True, slots=True)
class Finding:
    direction: Literal["inbound", "outbound"]
    name: str
    field: str
    ok: bool
    detail: str


def _relationship_target(schema: Schema, obj: str, relationship: str) -> str | None:
    """The object a relationship name (Account, Owner, X__r) points to."""
    fields = schema.get(obj, {})
    candidates = [f"{relationship}Id", relationship.removesuffix("__r") + "__c"]
    for name in candidates:
        f = fields.get(name)
        if f is not None and f.reference_to:
            return f.reference_to[0]
    return None


#: Keys of a Zoho lookup value (``{"id": …, "name": …}``) a mapping may read as ``Lookup.key``.
LOOKUP_KEYS = {"id": "id", "name": "string"}


def _resolve(schema: Schema, obj: str, path: str) -> tuple[CrmField | None, str]:
    if "." not in path:
        f = schema.get(obj, {}).get(path)
        return f, "" if f else f"no field {path} on {obj} visible to the integration user"
    rel, name = path.split(".", 1)
    lookup = schema.get(obj, {}).get(rel)
    if lookup is not None and lookup.type == "reference" and name in LOOKUP_KEYS:
        # Zoho: the lookup field is itself the relationship; its value carries id and name.
        return CrmField(path, LOOKUP_KEYS[name], updateable=False), ""
    target = _relationship_target(schema, obj, rel)
    if target is None:
        return None, f"no relationship {rel} on {obj}"
    if target not in schema:
        return None, f"{rel} points to {target}, whose schema was not read"
    f = schema[target].get(name)
    return f, "" if f else f"no field {name} on {target} visible to the integration user"


def _check(schema: Schema, obj: str, direction: Literal["inbound", "outbound"], name: str,
           fm: FieldMap, writes: frozenset[str] | None) -> Finding:
    field, why = _resolve(schema, obj, fm.field)
    if field is None:
        return Finding(direction, name, fm.field, False, why)
    if fm.true_values:
        if field.type not in COMPATIBLE["string"]:
            return Finding(direction, name, fm.field, False,
                           f"true_values need a text or picklist field, not {field.type}")
        unknown = sorted(set(fm.true_values) - set(field.picklist_values)) if field.picklist_values else []
        if unknown:
            return Finding(direction, name, fm.field, False,
                           f"true_values {', '.join(unknown)} are not values of {fm.field}")
        return Finding(direction, name, fm.field, True, f"{field.type} -> boolean")
    if field.type not in COMPATIBLE[fm.type]:
        return Finding(direction, name, fm.field, False,
                       f"type {field.type} in the CRM cannot hold a {fm.type}")
    if direction == "outbound":
        if not field.updateable:
            return Finding(direction, name, fm.field, False,
                           "not updateable by the integration user (field-level security?)")
        if writes and field.restricted:
            sent = {fm.values.get(v, v) for v in writes}
            missing = sorted(sent - set(field.picklist_values))
            if missing:
                return Finding(direction, name, fm.field, False,
                               f"restricted picklist lacks {', '.join(missing)}; add them or map "
                               "them under values:")
    return Finding(direction, name, fm.field, True, f"{field.type}")


def validate(objmap: ObjectMap, schema: Schema,
             written_values: Mapping[str, frozenset[str]]) -> list[Finding]:
    """One finding per mapped field. `written_values` lists, per outbound domain name, the
    domain values the plugin may write (e.g. every step name)."""
    findings = [_check(schema, objmap.object, "inbound", n, fm, None)
                for n, fm in objmap.inbound.items()]
    findings += [_check(schema, objmap.object, "outbound", n, fm, written_values.get(n))
                 for n, fm in objmap.outbound.items()]
    return findings


def related_objects(objmap: ObjectMap, schema_of_main: Mapping[str, CrmField]) -> set[str]:
    """Objects whose describe is needed to check the parent fields (Account.Name)."""
    out = set()
    for fm in (*objmap.inbound.values(), *objmap.outbound.values()):
        if "." in fm.field:
            target = _relationship_target({objmap.object: schema_of_main}, objmap.object,
                                          fm.field.split(".", 1)[0])
            if target:
                out.add(target)
    return out


__all__ = ["COMPATIBLE", "CrmField", "Finding", "Schema", "related_objects", "validate"]
