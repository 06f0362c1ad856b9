"""Custom modules of the Zoho half: ``POST /settings/modules`` (one module a call), their
entries in ``GET /settings/modules``, the fields a new module starts with, and
``GET /settings/profiles`` (a module is created for profiles).

Wire facts (docs/design/issue-14-wire-facts.md §7, from
https://zoho.com/crm/developer/docs/api/v8/create-custom-module-api.html and Zoho's OAS
``modules.json``):

- body ``{"modules": [one module]}``; ``plural_label``, ``singular_label`` (≤ 25 letters,
  digits, spaces) and ``profiles`` (at least one ``{id}``) are mandatory;
- ``api_name`` is optional (≤ 50 characters, starts with a letter, no ``__``, no trailing
  ``_``; derived from ``plural_label`` otherwise);
- ``display_field`` is ``text`` (default) or ``autonumber`` with ``auto_number.start_number``;
- answer 200 ``{"modules": [{"code": "SUCCESS", "details": {"id"}, "message": "module created
  successfully", "status": "success"}]}``; a label or api_name taken → ``DUPLICATE_DATA``.
- Zoho has **no API to delete a module** (the OAS ``modules.json`` has GET/POST/PUT only; the
  v8 Modules API pages list none): neither has the sandbox.
Choices of the sandbox: more than one module in a call is 400 ``LIMIT_EXCEEDED`` (request
level); entry errors come as ``{"modules": [error]}`` with 400; a module starts with ``Name``
(its display field), ``Owner`` and the four system fields.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from presales_sync.sandbox.zoho._seed import ADMIN_PROFILE, STANDARD_PROFILE
from presales_sync.sandbox.zoho._store import RECORD_MODULES, ZField, derived_api_name
from presales_sync.sandbox.zoho._wire import EntryError, ZohoError

_LABEL = re.compile(r"^[A-Za-z0-9 ]{1,25}$")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")
PROFILES = (ADMIN_PROFILE, STANDARD_PROFILE)
#: The record-name field of each standard module (what a lookup to it shows as ``name``).
DISPLAY_FIELDS = {"Deals": "Deal_Name", "Accounts": "Account_Name"}


@dataclass(frozen=True)
class CustomModule:
    """A custom module as stored (``modules`` table)."""

    api_name: str
    singular_label: str
    plural_label: str
    id: str
    profiles: tuple[str, ...]
    display_label: str = "Name"
    autonumber: bool = False
    auto_prefix: str = ""
    auto_suffix: str = ""
    start_number: int = 1

    def document(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> CustomModule:
        return cls(**{**data, "profiles": tuple(data["profiles"])})


def _missing(name: str, path: str) -> EntryError:
    return EntryError(
        "MANDATORY_NOT_FOUND", "required field not found", {"api_name": name, "json_path": path}
    )


def _invalid(name: str, path: str) -> EntryError:
    return EntryError("INVALID_DATA", "invalid data", {"api_name": name, "json_path": path})


def module_items(body: Any) -> dict[str, Any]:
    """The one module of a create body (request-level errors raised)."""
    items = body.get("modules") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ZohoError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "modules", "json_path": "$.modules"},
        )
    if len(items) > 1:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "only one module can be created in a call",
            {"limit": 1, "api_name": "modules", "json_path": "$.modules"},
        )
    item = items[0]
    if not isinstance(item, dict):
        raise ZohoError(
            400, "INVALID_DATA", "invalid data", {"api_name": "modules", "json_path": "$.modules[0]"}
        )
    return item


def new_module(item: dict[str, Any], taken: list[dict[str, str]], new_id: str) -> CustomModule:
    """A custom module from one create entry; `taken` holds every module's api_name and
    labels (standard ones too). Raises the entry's error."""
    path = "$.modules[0]"
    labels: dict[str, str] = {}
    for key in ("plural_label", "singular_label"):
        value = item.get(key)
        if value is None:
            raise _missing(key, f"{path}.{key}")
        if not isinstance(value, str) or not _LABEL.match(value.strip() or "-"):
            raise _invalid(key, f"{path}.{key}")
        labels[key] = value.strip()
    profiles = item.get("profiles")
    if profiles is None:
        raise _missing("profiles", f"{path}.profiles")
    if not isinstance(profiles, list) or not profiles:
        raise EntryError(
            "MINIMUM_DATA_NOT_FOUND",
            "at least one profile is needed",
            {"api_name": "profiles", "json_path": f"{path}.profiles"},
        )
    known = {p["id"] for p in PROFILES}
    ids = []
    for n, p in enumerate(profiles):
        pid = p.get("id") if isinstance(p, dict) else None
        if pid not in known:
            raise _invalid("profiles", f"{path}.profiles[{n}].id")
        ids.append(str(pid))
    api_name = item.get("api_name")
    if api_name is None:
        api_name = derived_api_name(labels["plural_label"])
    elif (
        not isinstance(api_name, str)
        or not _API_NAME.match(api_name)
        or "__" in api_name
        or api_name.endswith("_")
    ):
        raise _invalid("api_name", f"{path}.api_name")
    for t in taken:
        if t["api_name"].lower() == api_name.lower():
            raise EntryError(
                "DUPLICATE_DATA", "duplicate data", {"api_name": "api_name", "json_path": f"{path}.api_name"}
            )
        for key in ("plural_label", "singular_label"):
            if t[key].lower() == labels[key].lower():
                raise EntryError(
                    "DUPLICATE_DATA", "duplicate data", {"api_name": key, "json_path": f"{path}.{key}"}
                )
    display = item.get(
        "display_field", {"field_label": f"{labels['singular_label']} Name", "data_type": "text"}
    )
    if not isinstance(display, dict):
        raise _invalid("display_field", f"{path}.display_field")
    kind = display.get("data_type", "text")
    label = display.get("field_label", f"{labels['singular_label']} Name")
    if kind not in ("text", "autonumber") or not isinstance(label, str) or not label.strip():
        raise _invalid("display_field", f"{path}.display_field")
    prefix, suffix, start = "", "", 1
    if kind == "autonumber":
        auto = display.get("auto_number")
        raw_start = auto.get("start_number") if isinstance(auto, dict) else None
        if raw_start is None:
            raise _missing("start_number", f"{path}.display_field.auto_number.start_number")
        try:
            start = int(raw_start)
        except (TypeError, ValueError):
            raise _invalid("start_number", f"{path}.display_field.auto_number.start_number") from None
        prefix, suffix = str(auto.get("prefix") or ""), str(auto.get("suffix") or "")  # type: ignore[union-attr]
    return CustomModule(
        api_name,
        labels["singular_label"],
        labels["plural_label"],
        new_id,
        tuple(ids),
        label.strip(),
        kind == "autonumber",
        prefix,
        suffix,
        max(start, 0),
    )


def module_fields(m: CustomModule, ids: list[str]) -> list[ZField]:
    """The fields a new custom module has (`ids`: six fresh field ids)."""
    name = (
        ZField(
            "Name",
            m.display_label,
            "autonumber",
            ids[0],
            read_only=True,
            auto_prefix=m.auto_prefix,
            auto_suffix=m.auto_suffix,
        )
        if m.autonumber
        else ZField("Name", m.display_label, "text", ids[0], system_mandatory=True, length=120)
    )
    return [
        name,
        ZField(
            "Owner",
            f"{m.singular_label} Owner",
            "ownerlookup",
            ids[1],
            system_mandatory=True,
            lookup_module="users",
            field_read_only=True,
        ),
        ZField("Created_By", "Created By", "ownerlookup", ids[2], read_only=True, lookup_module="users"),
        ZField("Created_Time", "Created Time", "datetime", ids[3], read_only=True),
        ZField("Modified_By", "Modified By", "ownerlookup", ids[4], read_only=True, lookup_module="users"),
        ZField("Modified_Time", "Modified Time", "datetime", ids[5], read_only=True),
    ]


def custom_module_json(m: CustomModule, n: int) -> dict[str, Any]:
    """A custom module's entry in ``GET /settings/modules`` (``generated_type`` custom)."""
    by_id = {p["id"]: p for p in PROFILES}
    return {
        "api_name": m.api_name,
        "module_name": m.api_name,
        "singular_label": m.singular_label,
        "plural_label": m.plural_label,
        "id": m.id,
        "api_supported": True,
        "creatable": True,
        "editable": True,
        "deletable": True,
        "viewable": True,
        "visible": True,
        "show_as_tab": True,
        "generated_type": "custom",
        "sequence_number": n + 1,
        "modified_time": None,
        "triggers_supported": True,
        "profiles": [by_id[p] for p in m.profiles],
        "display_field": {"api_name": "Name"},
    }


def taken_names(customs: list[CustomModule]) -> list[dict[str, str]]:
    standard = [{"api_name": m, "plural_label": m, "singular_label": m[:-1]} for m in RECORD_MODULES]
    return standard + [
        {"api_name": c.api_name, "plural_label": c.plural_label, "singular_label": c.singular_label}
        for c in customs
    ]


def profiles_json() -> dict[str, Any]:
    """``GET /settings/profiles`` (OAS profiles: id, name, display_label, default, custom)."""
    return {
        "profiles": [
            {
                "id": p["id"],
                "name": p["name"],
                "display_label": p["name"],
                "default": p is ADMIN_PROFILE,
                "custom": False,
                "description": None,
                "type": "normal_profile",
            }
            for p in PROFILES
        ]
    }
