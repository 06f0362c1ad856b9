"""Zoho's field metadata (``GET /settings/fields``) checked once, where it arrives.

Everything that reads a field entry afterwards (describe, the installer) may then index the
keys it relies on: an answer missing one, or holding a value of the wrong kind, is a
`FatalError` naming the call and the field, never a ``KeyError`` or ``TypeError`` deep in
the code that wanted it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from presales_sync.connector.errors import FatalError

#: Keys every field entry must have, and the JSON kinds they may hold. Zoho's v8 OAS
#: (``fields.json`` ``fields``) lists all of them as required.
REQUIRED: dict[str, tuple[type, ...]] = {
    "api_name": (str,),
    "data_type": (str,),
    "id": (str,),
    "read_only": (bool,),
    "operation_type": (Mapping,),
}
#: Keys that may be absent or null, and the kinds they hold when given.
OPTIONAL: dict[str, tuple[type, ...]] = {
    "field_label": (str,),
    "display_label": (str,),
    "field_read_only": (bool,),
    "custom_field": (bool,),
    "system_mandatory": (bool,),
    "length": (int,),
    "decimal_place": (int,),
    "pick_list_values": (list,),
    "lookup": (Mapping,),
}
#: ``operation_type.api_update`` may be null (OAS ``Operation_type``); given, it is a boolean.
API_UPDATE = "api_update"

_KIND_NAMES = {str: "a string", bool: "a boolean", int: "a number", list: "a list", Mapping: "an object"}


def _kind(types: tuple[type, ...]) -> str:
    return " or ".join(_KIND_NAMES[t] for t in types)


def _wrong_kind(value: Any, types: tuple[type, ...]) -> bool:
    # a JSON true is not a length, nor a number an id
    return not isinstance(value, types) or (isinstance(value, bool) and bool not in types)


def field_problem(raw: Any) -> str | None:
    """What is wrong with one field entry, or None."""
    if not isinstance(raw, Mapping):
        return f"is not an object ({type(raw).__name__})"
    for key, types in REQUIRED.items():
        if key not in raw or raw[key] is None:
            return f"has no {key!r}"
        if _wrong_kind(raw[key], types) or (key in ("api_name", "data_type", "id") and not raw[key]):
            return f"has {key!r} {raw[key]!r}, expected {_kind(types)}"
    for key, types in OPTIONAL.items():
        if raw.get(key) is not None and _wrong_kind(raw[key], types):
            return f"has {key!r} {raw[key]!r}, expected {_kind(types)}"
    api_update = raw["operation_type"].get(API_UPDATE)
    if api_update is not None and not isinstance(api_update, bool):
        return f"has 'operation_type.{API_UPDATE}' {api_update!r}, expected a boolean"
    return None


def checked_fields(call: str, body: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The ``fields`` of a settings/fields answer (none for 204), each entry checked.
    `call` names the request in the error, e.g. ``GET /crm/v8/settings/fields?module=Deals``."""
    if body is None:
        return []
    fields = body.get("fields")
    if not isinstance(fields, list):
        raise FatalError(f"{call}: the answer has no 'fields' list")
    for n, raw in enumerate(fields, 1):
        problem = field_problem(raw)
        if problem is not None:
            name = raw.get("api_name") if isinstance(raw, Mapping) else None
            named = f" ({name})" if isinstance(name, str) and name and "api_name" not in problem else ""
            raise FatalError(f"{call}: field #{n}{named} {problem}")
    return fields


__all__ = ["checked_fields", "field_problem"]
