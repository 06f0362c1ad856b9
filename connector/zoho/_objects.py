"""Installing the plugin's custom module in Zoho: ``POST /settings/modules`` (one module a
call, for every profile the org has), then its lookup to the parent module and its unique
key field through the Fields API (`FieldInstaller`).

Zoho facts (docs/design/issue-14-wire-facts.md §7-§9; https://zoho.com/crm/developer/docs/api/v8/create-custom-module-api.html):
``plural_label``, ``singular_label`` (≤ 25 letters, digits, spaces) and ``profiles`` are
mandatory; the display field is an autonumber (``PA-{000000}`` → prefix ``PA-``, Zoho does
not pad); a lookup names its target module by ``api_name`` **and** ``id`` and the related
list it adds there (``lookup.display_label``); at most two unique fields per module.
Zoho has **no API to delete a module** (OAS ``modules.json``: GET/POST/PUT only), so
`remove` names the manual step instead.

Idempotent: with the module and both fields in place only reads are made."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from presales_sync.connector.base import FieldSpec, ObjectChangePlan, ObjectSpec
from presales_sync.connector.errors import ConfigError, FatalError
from presales_sync.connector.zoho._install import FieldInstaller, api_name_of

if TYPE_CHECKING:
    from presales_sync.connector.zoho._adapter import ZohoConnector

API = "/crm/v8"
KEY_LENGTH = 80
_LABEL = re.compile(r"^[A-Za-z0-9 ]{1,25}$")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")
MANUAL_DELETE = (
    "Zoho CRM has no API to delete a custom module: delete {names} in Zoho CRM under "
    "Setup > Customization > Modules and Fields (the module's menu > Delete)"
)


def autonumber(name_format: str) -> dict[str, str]:
    """``PA-{000000}`` → Zoho's ``auto_number`` (prefix, suffix, start 1)."""
    match = re.match(r"^(.*?)\{0+\}(.*)$", name_format)
    if match is None:
        raise ConfigError(f"name_format {name_format!r} must hold a {{000…}} counter")
    return {"prefix": match.group(1), "suffix": match.group(2), "start_number": "1"}


def check_object(spec: ObjectSpec) -> None:
    where = f"Zoho module {spec.name!r}"
    if spec.kind != "detail":
        return
    if not _API_NAME.match(spec.name) or "__" in spec.name or spec.name.endswith("_"):
        raise ConfigError(f"invalid {where}: at most 50 letters, digits and single underscores")
    for name, label in (("label", spec.label), ("plural_label", spec.plural_label)):
        if not _LABEL.match(label):
            raise ConfigError(f"{where}: {name} {label!r} must be 1-25 letters, digits and spaces")
    for name in ("parent", "parent_field", "key_field"):
        value = getattr(spec, name)
        if not isinstance(value, str) or not _API_NAME.match(value):
            raise ConfigError(f"{where}: a detail module needs {name}")
    autonumber(spec.name_format)


def module_body(spec: ObjectSpec, profiles: list[str]) -> dict[str, Any]:
    """The create body of one module (auto-numbered ``Name`` labelled ``<label> No``)."""
    return {
        "modules": [
            {
                "plural_label": spec.plural_label,
                "singular_label": spec.label,
                "api_name": spec.name,
                "profiles": [{"id": p} for p in profiles],
                "display_field": {
                    "field_label": f"{spec.label} No",
                    "data_type": "autonumber",
                    "auto_number": autonumber(spec.name_format),
                },
            }
        ]
    }


def parent_spec(spec: ObjectSpec) -> FieldSpec:
    label = spec.parent_label or ""
    return FieldSpec(
        object_name=spec.name,
        name=spec.parent_field or "",
        label=label
        if api_name_of(label) == spec.parent_field
        else (spec.parent_field or "").replace("_", " "),
        type="Lookup",
        reference_to=spec.parent,
        relationship_name=spec.relationship_name,
    )


def key_spec(spec: ObjectSpec) -> FieldSpec:
    key = spec.key_field or ""
    return FieldSpec(
        object_name=spec.name,
        name=key,
        label=key.replace("_", " "),
        type="Text",
        length=KEY_LENGTH,
        external_id=True,
    )


class ObjectInstaller:
    """ensure / remove custom modules through one connector's transport."""

    def __init__(self, connector: ZohoConnector) -> None:
        self._crm = connector
        self._transport = connector.transport

    def _modules(self) -> dict[str, Mapping[str, Any]]:
        answer = self._transport.request("modules", "GET", f"{API}/settings/modules")
        modules = answer.body.get("modules") if answer.body is not None else []
        if not isinstance(modules, list):
            raise FatalError("GET /settings/modules answered without a modules list")
        return {str(m.get("api_name")).lower(): m for m in modules if isinstance(m, Mapping)}

    def ensure(self, specs: Sequence[ObjectSpec], *, dry_run: bool) -> list[ObjectChangePlan]:
        for spec in specs:
            check_object(spec)
        details = [s for s in specs if s.kind == "detail"]
        existing = self._modules() if details else {}
        plans: list[ObjectChangePlan] = []
        for spec in specs:
            if spec.kind != "detail":  # Zoho keeps org values as variables: nothing to create
                plans.append(ObjectChangePlan(spec=spec, action="unchanged"))
                continue
            fields = [parent_spec(spec), key_spec(spec)]
            missing = spec.name.lower() not in existing
            if not missing:
                missing = any(p.action == "create" for p in FieldInstaller(self._crm).plan(fields))
            plans.append(ObjectChangePlan(spec=spec, action="create" if missing else "unchanged"))
            if dry_run or not missing:
                continue
            if spec.name.lower() not in existing:
                self._create_module(spec)
            parent = self._module_id(spec.parent or "")
            lookup = {
                "lookup": {
                    "module": {"api_name": spec.parent, "id": parent},
                    "display_label": spec.relationship_label or spec.plural_label,
                }
            }
            FieldInstaller(self._crm).ensure(fields, overrides={f"{spec.name}.{spec.parent_field}": lookup})
        return plans

    def _create_module(self, spec: ObjectSpec) -> None:
        answer = self._transport.request("profiles", "GET", f"{API}/settings/profiles")
        profiles = answer.body.get("profiles") if answer.body is not None else None
        ids = [str(p["id"]) for p in profiles or () if isinstance(p, Mapping) and p.get("id")]
        if not ids:
            raise FatalError("GET /settings/profiles answered without profiles")
        # every profile: whoever records an action in the CRM (engineers, managers) needs the module
        answer = self._transport.request(
            "modules_write",
            "POST",
            f"{API}/settings/modules",
            json=module_body(spec, ids),
            record_errors=True,
        )
        entries = answer.body.get("modules") if answer.body is not None else None
        entry = entries[0] if isinstance(entries, list) and entries else None
        if not isinstance(entry, Mapping) or entry.get("status") != "success":
            code = str(entry.get("code")) if isinstance(entry, Mapping) else None
            message = entry.get("message") if isinstance(entry, Mapping) else None
            raise ConfigError(f"Zoho refused the module {spec.name}: ({code}, {message})", code=code)

    def _module_id(self, name: str) -> str:
        answer = self._transport.request("modules", "GET", f"{API}/settings/modules/{name}")
        modules = answer.body.get("modules") if answer.body is not None else None
        module_id = (
            modules[0].get("id")
            if isinstance(modules, list) and modules and isinstance(modules[0], Mapping)
            else None
        )
        if not isinstance(module_id, str) or not module_id:
            raise FatalError(f"GET /settings/modules/{name} answered without the module's id")
        return module_id

    def remove(self, names: Sequence[str]) -> None:
        for name in names:
            if not isinstance(name, str) or not _API_NAME.match(name):
                raise ConfigError(f"invalid Zoho module name {name!r}")
        if not names:
            return
        existing = self._modules()
        present = [n for n in names if n.lower() in existing]
        if present:
            raise ConfigError(MANUAL_DELETE.format(names=", ".join(present)))
