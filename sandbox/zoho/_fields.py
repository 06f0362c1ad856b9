"""Field and module metadata of the Zoho half: the ``settings/fields`` and
``settings/modules`` shapes, and custom fields created (POST) or changed (PATCH) from a
request entry, with the API name Zoho would derive."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from presales_sync.sandbox.zoho._seed import ZBASE
from presales_sync.sandbox.zoho._store import (
    LOOKUP_TYPES,
    RECORD_MODULES,
    USERS,
    ZField,
    derived_api_name,
)
from presales_sync.sandbox.zoho._wire import EntryError

CREATABLE_TYPES = frozenset(
    {
        "text",
        "textarea",
        "email",
        "phone",
        "website",
        "picklist",
        "multiselectpicklist",
        "date",
        "datetime",
        "integer",
        "bigint",
        "double",
        "currency",
        "percent",
        "boolean",
        "lookup",
        "userlookup",
    }
)


_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


_DEFAULT_LENGTH = {
    "text": 255,
    "textarea": 2000,
    "email": 100,
    "phone": 30,
    "website": 255,
    "integer": 9,
    "bigint": 18,
    "double": 16,
    "currency": 16,
    "percent": 5,
}


#: A textarea ("multi line", long) holds up to 32,000 characters.
_MAX_LENGTH = {"textarea": 32000}


def picklist_value_id(f: ZField, value: str) -> str:
    """A stable id for one picklist value (the same after values are added or removed)."""
    return str(ZBASE + 4_000_000_000 + zlib.crc32(f"{f.id}:{value}".encode()) % 1_000_000_000)


MODULE_IDS = {
    "Deals": str(ZBASE + 6_000_000_001),
    "Accounts": str(ZBASE + 6_000_000_002),
    "Users": str(ZBASE + 6_000_000_009),
}


def module_json(api_name: str, n: int) -> dict[str, Any]:
    singular = {"Deals": "Deal", "Accounts": "Account"}[api_name]
    return {
        "api_name": api_name,
        "module_name": api_name,
        "singular_label": singular,
        "plural_label": api_name,
        "id": MODULE_IDS[api_name],
        "api_supported": True,
        "creatable": True,
        "editable": True,
        "deletable": True,
        "viewable": True,
        "visible": True,
        "show_as_tab": True,
        "generated_type": "default",
        "sequence_number": n + 1,
        "modified_time": None,
        "triggers_supported": True,
    }


#: Zoho: at most two unique fields per module, in every edition (Custom_Fields_36.md).
MAX_UNIQUE = 2
UNIQUE_TYPES = frozenset({"text", "email", "phone", "website", "integer", "bigint", "double"})


def new_field(item: Any, path: str, labels: set[str], names: set[str], new_id: str,
              targets: Mapping[str, str] | None = None, unique_count: int = 0) -> ZField:
    """A custom field from one ``POST /settings/fields`` entry (raises the entry's error).
    `targets`: the modules a lookup may point to, by api_name → id (the standard ones when
    None): ``lookup.module`` must name one by ``api_name`` and ``id`` (the OAS
    ``Minified_Module`` requires both; the docs' sample sends both); `unique_count`: unique fields the module
    already has (``unique`` past `MAX_UNIQUE` is ``LIMIT_EXCEEDED``)."""
    if not isinstance(item, dict):
        raise EntryError("INVALID_DATA", "invalid data", {"api_name": "fields", "json_path": path})
    for key in ("field_label", "data_type"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise EntryError(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": key, "json_path": f"{path}.{key}"},
            )
    label, data_type = item["field_label"].strip(), item["data_type"]
    if data_type not in CREATABLE_TYPES:
        raise EntryError(
            "INVALID_DATA",
            "invalid data",
            {
                "api_name": "data_type",
                "json_path": f"{path}.data_type",
                "supported_values": sorted(CREATABLE_TYPES),
            },
        )
    if label.lower() in labels:
        raise EntryError(
            "DUPLICATE_DATA",
            "duplicate data",
            {"api_name": "field_label", "json_path": f"{path}.field_label"},
        )
    api_name = item.get("api_name")
    if api_name is not None:
        if not isinstance(api_name, str) or not _API_NAME.match(api_name) or len(api_name) > 100:
            raise EntryError(
                "INVALID_DATA", "invalid data", {"api_name": "api_name", "json_path": f"{path}.api_name"}
            )
        if api_name.lower() in names:
            raise EntryError(
                "DUPLICATE_DATA",
                "Duplicate API name",
                {"api_name": "api_name", "json_path": f"{path}.api_name"},
            )
    else:
        base = derived_api_name(label) or "Field"
        base = base if base[0].isalpha() else f"Field_{base}"
        api_name, n = base, 0
        while api_name.lower() in names:
            n += 1
            api_name = f"{base}{n}"
    length = item.get("length", _DEFAULT_LENGTH.get(data_type, 0))
    limit = _DEFAULT_LENGTH.get(data_type, 0)
    if (
        not isinstance(length, int)
        or isinstance(length, bool)
        or (limit and not 1 <= length <= _MAX_LENGTH.get(data_type, max(limit, 18)))
    ):
        raise EntryError(
            "INVALID_DATA", "invalid data", {"api_name": "length", "json_path": f"{path}.length"}
        )
    decimal_place = item.get("decimal_place", 2 if data_type in ("double", "currency") else None)
    if decimal_place is not None and (not isinstance(decimal_place, int) or not 0 <= decimal_place <= 9):
        raise EntryError(
            "INVALID_DATA",
            "invalid data",
            {"api_name": "decimal_place", "json_path": f"{path}.decimal_place"},
        )
    values: tuple[str, ...] = ()
    if data_type in ("picklist", "multiselectpicklist"):
        raw = item.get("pick_list_values")
        if not isinstance(raw, list) or not raw:
            raise EntryError(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "pick_list_values", "json_path": f"{path}.pick_list_values"},
            )
        picked = []
        for n, v in enumerate(raw):
            value = v.get("actual_value", v.get("display_value")) if isinstance(v, dict) else None
            if not isinstance(value, str) or not value:
                raise EntryError(
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": "pick_list_values", "json_path": f"{path}.pick_list_values[{n}]"},
                )
            picked.append(value)
        values = tuple(picked)
    target: str | None = None
    related_list: str | None = None
    if data_type == "userlookup":
        target = USERS
    elif data_type == "lookup":
        lookup = item.get("lookup")
        module = lookup.get("module") if isinstance(lookup, dict) else None
        name = module.get("api_name") if isinstance(module, dict) else None
        modules = targets if targets is not None else {m: MODULE_IDS[m] for m in RECORD_MODULES}
        target = next(
            (m for m in modules if isinstance(name, str) and m.lower() == name.lower()), None
        )
        if target is None:
            raise EntryError(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "lookup", "json_path": f"{path}.lookup"},
            )
        related_list = lookup.get("display_label") if isinstance(lookup, dict) else None
        if not isinstance(related_list, str) or not related_list.strip():
            raise EntryError(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "display_label", "json_path": f"{path}.lookup.display_label"},
            )
        module_id = module.get("id") if isinstance(module, dict) else None
        if module_id is None:
            raise EntryError(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "id", "json_path": f"{path}.lookup.module.id"},
            )
        if str(module_id) != modules[target]:
            raise EntryError(
                "INVALID_DATA", "invalid data", {"api_name": "id", "json_path": f"{path}.lookup.module.id"}
            )
    unique, case_sensitive = _unique(item, path, data_type, unique_count)
    external = item.get("external")
    if external is not None and (not isinstance(external, dict) or external.get("type") not in ("org", "user")
                                 or data_type != "text"):
        raise EntryError(
            "INVALID_DATA", "invalid data", {"api_name": "external", "json_path": f"{path}.external"}
        )
    return ZField(
        api_name,
        label,
        data_type,
        new_id,
        unique=unique,
        case_sensitive=case_sensitive,
        external=external is not None,
        custom_field=True,
        length=length if limit else 0,
        decimal_place=decimal_place,
        pick_list_values=values,
        lookup_module=target,
        related_list_label=related_list.strip() if related_list else None,
    )


def _unique(item: dict[str, Any], path: str, data_type: str, unique_count: int) -> tuple[bool, bool]:
    """``unique: {case_sensitive: false}`` (the docs) or ``{casesensitive: "false"}`` (the OAS
    spelling): both are taken. Zoho's docs accept only false; true is taken too (the field
    then compares exactly)."""
    raw = item.get("unique")
    if raw is None:
        return False, False
    where = {"api_name": "unique", "json_path": f"{path}.unique"}
    if not isinstance(raw, dict) or data_type not in UNIQUE_TYPES:
        raise EntryError("INVALID_DATA", "invalid data", where)
    flag = raw.get("case_sensitive", raw.get("casesensitive", False))
    if isinstance(flag, str) and flag.lower() in ("true", "false"):
        flag = flag.lower() == "true"
    if not isinstance(flag, bool):
        raise EntryError("INVALID_DATA", "invalid data", where)
    if unique_count >= MAX_UNIQUE:
        raise EntryError("LIMIT_EXCEEDED", f"at most {MAX_UNIQUE} unique fields are allowed in a module",
                         {**where, "limit": MAX_UNIQUE})
    return True, flag


def changed_field(item: Any, path: str, current: dict[str, ZField], path_id: str | None) -> ZField:
    """One ``PATCH /settings/fields`` entry applied to its field. Picklist values follow the
    OAS: an entry with ``id`` renames (or with ``_delete`` removes) that value, one without
    adds it (a value already there stays as it is)."""
    if not isinstance(item, dict):
        raise EntryError("INVALID_DATA", "invalid data", {"api_name": "fields", "json_path": path})
    fid = item.get("id", path_id)
    f = current.get(fid) if isinstance(fid, str) else None
    if f is None:
        raise EntryError(
            "INVALID_DATA", "the id given seems to be invalid", {"api_name": "id", "json_path": f"{path}.id"}
        )
    if f.read_only or (not f.custom_field and set(item) - {"id", "field_label", "tooltip"}):
        raise EntryError(
            "NOT_ALLOWED", "the field cannot be changed", {"api_name": f.api_name, "json_path": path}
        )
    if "data_type" in item and item["data_type"] != f.data_type:
        raise EntryError(
            "INVALID_DATA",
            "the data type of a field cannot be changed",
            {"api_name": "data_type", "json_path": f"{path}.data_type"},
        )
    label = item.get("field_label", f.field_label)
    taken = {o.field_label.lower() for o in current.values() if o.id != f.id}
    if not isinstance(label, str) or not label.strip():
        raise EntryError(
            "INVALID_DATA", "invalid data", {"api_name": "field_label", "json_path": f"{path}.field_label"}
        )
    if label.strip().lower() in taken:
        raise EntryError(
            "DUPLICATE_DATA",
            "duplicate data",
            {"api_name": "field_label", "json_path": f"{path}.field_label"},
        )
    length = item.get("length", f.length)
    if f.length and (not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= 2000):
        raise EntryError(
            "INVALID_DATA", "invalid data", {"api_name": "length", "json_path": f"{path}.length"}
        )
    decimal_place = item.get("decimal_place", f.decimal_place)
    if decimal_place is not None and (not isinstance(decimal_place, int) or not 0 <= decimal_place <= 9):
        raise EntryError(
            "INVALID_DATA",
            "invalid data",
            {"api_name": "decimal_place", "json_path": f"{path}.decimal_place"},
        )
    values = list(f.pick_list_values)
    raw = item.get("pick_list_values", [])
    if (raw and f.data_type not in ("picklist", "multiselectpicklist")) or not isinstance(raw, list):
        raise EntryError(
            "INVALID_DATA",
            "invalid data",
            {"api_name": "pick_list_values", "json_path": f"{path}.pick_list_values"},
        )
    by_id = {picklist_value_id(f, v): v for v in f.pick_list_values}
    for n, v in enumerate(raw):
        where = {"api_name": "pick_list_values", "json_path": f"{path}.pick_list_values[{n}]"}
        new = v.get("actual_value", v.get("display_value")) if isinstance(v, dict) else None
        if isinstance(v, dict) and "id" in v:
            old = by_id.get(v["id"])
            if old is None:
                raise EntryError("INVALID_DATA", "invalid data", where)
            if v.get("_delete") is True:
                values.remove(old)
            elif isinstance(new, str) and new:
                values[values.index(old)] = new
            continue
        if not isinstance(new, str) or not new:
            raise EntryError("INVALID_DATA", "invalid data", where)
        if new not in values:
            values.append(new)
    return replace(
        f,
        field_label=label.strip(),
        length=length if f.length else 0,
        decimal_place=decimal_place,
        pick_list_values=tuple(values),
    )


def field_json(f: ZField) -> dict[str, Any]:
    out: dict[str, Any] = {
        "api_name": f.api_name,
        "field_label": f.field_label,
        "display_label": f.field_label,
        "id": f.id,
        "data_type": f.data_type,
        "json_type": f.json_type,
        "custom_field": f.custom_field,
        "read_only": f.read_only,
        "field_read_only": f.read_only or f.field_read_only,
        "system_mandatory": f.system_mandatory,
        "visible": True,
        "type": "used",
        "length": f.length,
        "decimal_place": f.decimal_place,
        "sortable": f.api_name in ("Created_Time", "Modified_Time"),
        "filterable": True,
        "searchable": f.data_type not in LOOKUP_TYPES,
        "created_source": "crm" if f.custom_field else "default",
        "operation_type": {
            "web_update": not f.read_only,
            "api_create": not f.read_only,
            "web_create": not f.read_only,
            "api_update": not f.read_only,
        },
        "pick_list_values": [
            {
                "display_value": v,
                "actual_value": v,
                "reference_value": v,
                "sequence_number": n + 1,
                "id": picklist_value_id(f, v),
                "type": "used",
                "colour_code": None,
            }
            for n, v in enumerate(f.pick_list_values)
        ],
        "lookup": {},
        "currency": {},
    }
    if f.data_type in LOOKUP_TYPES and f.lookup_module:
        target = "Users" if f.lookup_module == USERS else f.lookup_module
        out["lookup"] = {
            "display_label": f.related_list_label or f.field_label,
            "api_name": f.api_name,
            "module": {"api_name": target, "id": MODULE_IDS.get(target, str(ZBASE + 6_000_000_009))},
            "id": f.id,
        }
    if f.data_type == "currency":
        out["currency"] = {"rounding_option": "normal", "precision": f.decimal_place or 2}
    if f.unique:
        out["unique"] = {"case_sensitive": f.case_sensitive}
    if f.external:
        out["external"] = {"type": "org", "show": True}
    if f.data_type == "autonumber":
        out["auto_number"] = {"prefix": f.auto_prefix, "suffix": f.auto_suffix}
    return out
