"""Installing the plugin's custom fields in Zoho: ``POST /settings/fields?module=…`` (at
most 5 a call) for missing ones, ``PATCH`` for changed ones, then a re-read, because Zoho
answers a create with the new field's id only and derives the API name from the label.

Idempotent: a second run with everything in place sends no write at all."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from presales_sync.connector._http import chunks
from presales_sync.connector.base import FieldChangePlan, FieldSpec, check_specs
from presales_sync.connector.errors import ConfigError, FatalError

if TYPE_CHECKING:
    from presales_sync.connector.zoho._adapter import ZohoConnector

#: Zoho creates or updates at most 5 fields per call.
FIELDS_BATCH = 5
API = "/crm/v8"

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: A Zoho textarea (multi-line, "long") holds at most 32,000 characters.
LONG_TEXT = 32000


def full_name(spec: FieldSpec) -> str:
    return f"{spec.object_name}.{spec.name}"


def api_name_of(label: str) -> str:
    """The API name Zoho derives from a field label (non-alphanumerics become ``_``)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")


def zoho_label(spec: FieldSpec) -> str:
    """The label to create `spec` with: its own when Zoho would derive `spec.name` from it,
    else the name spelt with spaces (``Presales Sign-off`` would become ``Presales_Sign_off``)."""
    return spec.label if api_name_of(spec.label) == spec.name else spec.name.replace("_", " ")


def check_spec(spec: FieldSpec) -> None:
    where = full_name(spec)
    if not _NAME.match(spec.object_name) or not _NAME.match(spec.name) or spec.name.endswith("__c"):
        raise ConfigError(f"invalid Zoho custom field {where!r}: expected Module.Api_Name (no __c)")
    if spec.type == "Text" and not (spec.length and 1 <= spec.length <= 255):
        raise ConfigError(f"{where}: Text needs a length of 1..255")
    if spec.type == "LongText" and not (spec.length is None or 1 <= spec.length <= LONG_TEXT):
        raise ConfigError(f"{where}: LongText takes a length of 1..{LONG_TEXT}")
    if spec.external_id and spec.type != "Text":
        raise ConfigError(f"{where}: only a Text field can be an external id")
    if spec.type == "Picklist" and not spec.picklist_values:
        raise ConfigError(f"{where}: Picklist needs picklist_values")
    if spec.type == "Lookup" and not spec.reference_to:
        raise ConfigError(f"{where}: Lookup needs reference_to")


def definition(spec: FieldSpec) -> dict[str, Any]:
    """The ``fields[]`` entry that creates `spec` (Salesforce-style spec → Zoho data_type)."""
    body: dict[str, Any] = {"field_label": zoho_label(spec)}
    if spec.type == "Text":
        body.update(data_type="text", length=spec.length)
        if spec.external_id:
            # Zoho's unique fields ("Do not allow duplicate values") are what an upsert's
            # duplicate_check_fields may name; "the accepted value for case_sensitive is false".
            body["unique"] = {"case_sensitive": False}
    elif spec.type == "LongText":
        body.update(data_type="textarea", length=spec.length or LONG_TEXT)
    elif spec.type == "Number":
        precision = spec.precision if spec.precision is not None else 9
        scale = spec.scale or 0
        if scale == 0 and precision <= 9:
            body.update(data_type="integer", length=precision)
        else:
            body.update(data_type="double", length=precision, decimal_place=scale)
    elif spec.type == "Checkbox":
        body.update(data_type="boolean")
    elif spec.type == "Date":
        body.update(data_type="date")
    elif spec.type == "DateTime":
        body.update(data_type="datetime")
    elif spec.type == "Picklist":
        body.update(data_type="picklist", pick_list_values=[
            {"display_value": v, "actual_value": v} for v in spec.picklist_values])
    elif spec.type == "Lookup":
        if (spec.reference_to or "").lower() in ("user", "users"):
            body.update(data_type="userlookup")
        else:
            # Zoho refuses a lookup without the label of the related list it adds to the
            # target module (lookup.display_label, mandatory); its docs use the field's label.
            body.update(data_type="lookup", lookup={"module": {"api_name": spec.reference_to},
                                                    "display_label": body["field_label"]})
    return body


def missing_values(spec: FieldSpec, current: Mapping[str, Any]) -> list[str]:
    """The spec's picklist values the field lacks. Values the org has beyond ours stay: Zoho
    adds the values an update names and keeps the rest (records may hold them)."""
    have = {v.get("actual_value") for v in current.get("pick_list_values") or () if isinstance(v, Mapping)}
    return [v for v in spec.picklist_values if v not in have]


def differences(spec: FieldSpec, current: Mapping[str, Any]) -> tuple[str, ...]:
    """What differs between `spec` and the field as Zoho describes it."""
    want = definition(spec)
    have_type = current.get("data_type")
    if have_type != want["data_type"]:
        return (f"type: {have_type!r} -> {want['data_type']!r}",)
    diffs = []
    if current.get("field_label") != want["field_label"]:
        diffs.append(f"label: {current.get('field_label')!r} -> {want['field_label']!r}")
    for key in ("length", "decimal_place"):
        if key in want and current.get(key) != want[key]:
            diffs.append(f"{key}: {current.get(key)!r} -> {want[key]!r}")
    if "pick_list_values" in want:
        missing = missing_values(spec, current)
        if missing:
            diffs.append(f"picklist values: add {missing!r}")
    return tuple(diffs)


def update_row(spec: FieldSpec, current: Mapping[str, Any]) -> dict[str, Any]:
    """The ``PATCH`` entry bringing `current` to `spec`: the label, sizes and the missing
    picklist values (a type cannot change; Zoho refuses it in an update)."""
    row = {"id": str(current["id"]), **definition(spec)}
    row.pop("data_type")
    row.pop("unique", None)  # uniqueness is set when the field is created
    if "pick_list_values" in row:
        missing = set(missing_values(spec, current))
        row["pick_list_values"] = [v for v in row["pick_list_values"] if v["actual_value"] in missing]
        if not row["pick_list_values"]:
            row.pop("pick_list_values")
    return row


class FieldInstaller:
    """plan / ensure / remove custom fields through one connector's transport."""

    def __init__(self, connector: ZohoConnector) -> None:
        self._crm = connector
        self._transport = connector.transport
        self._module_ids: dict[str, str] = {}

    def _existing(self, modules: Sequence[str]) -> dict[str, dict[str, Mapping[str, Any]]]:
        return {m: {str(f["api_name"]).lower(): f for f in self._crm.fields_metadata(m)} for m in modules}

    def plan(self, specs: Sequence[FieldSpec]) -> list[FieldChangePlan]:
        check_specs(specs, check_spec)
        existing = self._existing(list(dict.fromkeys(s.object_name for s in specs)))
        plans = []
        for spec in specs:
            current = existing[spec.object_name].get(spec.name.lower())
            if current is None:
                plans.append(FieldChangePlan(spec=spec, action="create", differences=("missing",)))
                continue
            diffs = differences(spec, current)
            if diffs and diffs[0].startswith("type:"):
                raise ConfigError(f"{full_name(spec)} exists with another type ({diffs[0]}); Zoho cannot "
                                  "change a field's type: delete it or map another field")
            plans.append(FieldChangePlan(spec=spec, action="update" if diffs else "unchanged",
                                         differences=diffs))
        return plans

    def ensure(self, specs: Sequence[FieldSpec], *, dry_run: bool = False,
               overrides: Mapping[str, Mapping[str, Any]] | None = None) -> list[FieldChangePlan]:
        """`overrides`: per ``Module.Field``, keys that replace those of its create entry
        (the installer of a module gives its lookup the target's id and related list)."""
        plans = self.plan(specs)
        extra = overrides or {}
        if dry_run:
            return plans
        modules = list(dict.fromkeys(p.spec.object_name for p in plans if p.action != "unchanged"))
        created: dict[str, FieldSpec] = {}
        for module in modules:
            mine = [p for p in plans if p.spec.object_name == module]
            for chunk in chunks([p.spec for p in mine if p.action == "create"], FIELDS_BATCH):
                rows = [self._with_module_id({**definition(s), **extra.get(full_name(s), {})}) for s in chunk]
                ids = self._send("POST", module, chunk, rows)
                created.update(zip(ids, chunk, strict=True))
            current = self._existing([module])[module]
            updates = [p.spec for p in mine if p.action == "update"]
            for chunk in chunks(updates, FIELDS_BATCH):
                self._send("PATCH", module, chunk, [update_row(s, current[s.name.lower()]) for s in chunk])
        if created:
            self._check_created_names(created)
        return plans

    def _with_module_id(self, row: dict[str, Any]) -> dict[str, Any]:
        """A lookup's ``lookup.module`` with the target's ``id`` too: the OAS Minified_Module
        requires ``api_name`` and ``id`` and the docs' sample sends both (issue-14 facts §8)."""
        lookup = row.get("lookup")
        if not isinstance(lookup, Mapping):
            return row
        module = lookup.get("module")
        if not isinstance(module, Mapping) or module.get("id"):
            return row
        name = str(module.get("api_name"))
        if name not in self._module_ids:
            answer = self._transport.request("modules", "GET", f"{API}/settings/modules/{name}")
            found = (answer.body or {}).get("modules")
            module_id = found[0].get("id") if isinstance(found, list) and found and isinstance(
                found[0], Mapping) else None
            if not isinstance(module_id, str) or not module_id:
                raise FatalError(f"GET {API}/settings/modules/{name} answered without the module's id")
            self._module_ids[name] = module_id
        return {**row, "lookup": {**lookup, "module": {**module, "id": self._module_ids[name]}}}

    def _send(self, method: str, module: str, specs: list[FieldSpec],
              rows: list[dict[str, Any]]) -> list[str]:
        answer = self._transport.request("fields_write", method, f"{API}/settings/fields",
                                         params={"module": module}, json={"fields": rows}, record_errors=True)
        # Mixed and all-refused answers carry the same per-field list (207 / 400).
        entries = answer.body.get("fields") if answer.body is not None else None
        if not isinstance(entries, list) or len(entries) != len(specs):
            raise FatalError(f"{method} settings/fields answered unexpectedly for {len(specs)} fields")
        ids: list[str] = []
        failures = []
        first_code = None
        for n, (spec, entry) in enumerate(zip(specs, entries, strict=True), 1):
            if isinstance(entry, Mapping) and entry.get("status") == "success":
                details = entry.get("details")
                field_id = details.get("id") if isinstance(details, Mapping) else None
                if not isinstance(field_id, str) or not field_id:
                    raise FatalError(f"{method} {API}/settings/fields?module={module}: field #{n} "
                                     f"({full_name(spec)}) succeeded without a details.id")
                ids.append(field_id)
                continue
            code = str(entry.get("code") if isinstance(entry, Mapping) else "UNKNOWN")
            first_code = first_code or code
            message = entry.get("message") if isinstance(entry, Mapping) else None
            failures.append(f"{full_name(spec)}: ({code}, {message})")
        if failures:
            raise ConfigError("Zoho refused the plugin's fields: " + "; ".join(failures), code=first_code)
        return ids

    def _check_created_names(self, created: dict[str, FieldSpec]) -> None:
        """Zoho derives API names itself (``Name1`` on a clash): read them back and say so
        when one differs from what the mapping names."""
        modules = list(dict.fromkeys(s.object_name for s in created.values()))
        by_id = {str(f.get("id")): f for m in modules for f in self._crm.fields_metadata(m)}
        wrong = []
        for field_id, spec in created.items():
            entry = by_id.get(field_id)
            if entry is None:
                raise FatalError(f"{full_name(spec)} was created (id {field_id}) but is not listed")
            if entry["api_name"] != spec.name:
                wrong.append(f"{full_name(spec)} was created as {spec.object_name}.{entry['api_name']}")
        if wrong:
            raise ConfigError("; ".join(wrong) + ": map those API names in your mapping file")

    def remove(self, names: Sequence[str]) -> None:
        targets: list[tuple[str, str]] = []
        for name in names:
            module, dot, api_name = name.partition(".") if isinstance(name, str) else ("", "", "")
            if not dot or not _NAME.match(module) or not _NAME.match(api_name):
                raise ConfigError(f"invalid Zoho custom field {name!r}: expected Module.Api_Name")
            targets.append((module, api_name))
        existing = self._existing(list(dict.fromkeys(m for m, _ in targets)))
        for module, api_name in targets:
            field = existing[module].get(api_name.lower())
            if field is None:
                continue
            if not field.get("custom_field", True):
                raise ConfigError(f"{module}.{api_name} is a standard Zoho field; it cannot be removed")
            self._transport.request("fields_write", "DELETE", f"{API}/settings/fields/{field['id']}",
                                    params={"module": module})
