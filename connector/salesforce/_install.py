"""Installing the plugin's custom fields: Metadata API (zeep, ``sf.mdapi``) for the field
definitions, then field-level security for the integration user through a permission set
(REST). Every exchange goes through `Transport.call` / `Transport.metadata`.

Idempotent: a second run with everything in place sends no write at all."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.metadata import SfdcMetadataApi

from presales_sync.connector._http import chunks
from presales_sync.connector.base import FieldChangePlan, FieldSpec, check_specs
from presales_sync.connector.errors import ConfigError, FatalError
from presales_sync.connector.salesforce._soql import soql_string
from presales_sync.connector.salesforce._transport import Transport

#: Metadata API CRUD calls accept at most 10 components.
METADATA_BATCH = 10
#: sObject Collections accept at most 200 records per request.
COLLECTION_BATCH = 200
PERMISSION_SET_NAME = "Presales_Sync"
PERMISSION_SET_LABEL = "Presales Sync"

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CUSTOM_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")
_FULL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*__c$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")


def full_name(spec: FieldSpec) -> str:
    return f"{spec.object_name}.{spec.name}"


def check_spec(spec: FieldSpec) -> None:
    """`ConfigError` for a spec Salesforce would reject (or that could reach SOQL unsafely)."""
    where = full_name(spec)
    if not _NAME.match(spec.object_name) or not _CUSTOM_FIELD.match(spec.name):
        raise ConfigError(f"invalid custom field {where!r}: expected Object.Name__c")
    if spec.type == "Text" and not (spec.length and 1 <= spec.length <= 255):
        raise ConfigError(f"{where}: Text needs a length of 1..255")
    if spec.type == "LongText" and not (spec.length and 256 <= spec.length <= 131072):
        raise ConfigError(f"{where}: LongText needs a length of 256..131072")
    if spec.external_id and spec.type != "Text":
        raise ConfigError(f"{where}: only a Text field can be an external id")
    if spec.type == "Number":
        precision = spec.precision if spec.precision is not None else 18
        scale = spec.scale if spec.scale is not None else 0
        if not (1 <= precision <= 18 and 0 <= scale <= precision):
            raise ConfigError(f"{where}: Number needs precision 1..18 and 0 <= scale <= precision")
    if spec.type == "Picklist" and not spec.picklist_values:
        raise ConfigError(f"{where}: Picklist needs picklist_values")
    if spec.type == "Lookup" and not (spec.reference_to and _NAME.match(spec.reference_to)):
        raise ConfigError(f"{where}: Lookup needs reference_to (an object name)")


def _relationship_name(spec: FieldSpec) -> str:
    return spec.relationship_name or spec.name[: -len("__c")]


#: FieldSpec types whose Metadata API FieldType has another name.
MD_TYPES = {"LongText": "LongTextArea"}
#: Lines a LongTextArea shows in the UI (required by the Metadata API).
VISIBLE_LINES = 3


def build_field(md: SfdcMetadataApi, spec: FieldSpec, *, qualified: bool = True) -> Any:
    """The zeep CustomField for `spec`: object-qualified fullName, or the bare field name
    inside a CustomObject (`qualified` False)."""
    values: dict[str, Any] = {
        "fullName": full_name(spec) if qualified else spec.name,
        "label": spec.label,
        "type": md.FieldType(MD_TYPES.get(spec.type, spec.type)),
    }
    if spec.type == "Text":
        values["length"] = spec.length
        if spec.external_id:  # a unique, case-sensitive key (issue-14-wire-facts §2)
            values.update(externalId=True, unique=True, caseSensitive=True)
    elif spec.type == "LongText":
        values["length"] = spec.length
        values["visibleLines"] = VISIBLE_LINES
    elif spec.type == "Number":
        values["precision"] = spec.precision if spec.precision is not None else 18
        values["scale"] = spec.scale if spec.scale is not None else 0
    elif spec.type == "Checkbox":
        values["defaultValue"] = "true" if spec.default_checked else "false"
    elif spec.type == "Picklist":
        values["valueSet"] = md.ValueSet(
            restricted=spec.restricted,
            valueSetDefinition=md.ValueSetValuesDefinition(
                sorted=False,
                value=[md.CustomValue(fullName=v, default=False, label=v) for v in spec.picklist_values],
            ),
        )
    elif spec.type == "Lookup":
        values["referenceTo"] = spec.reference_to
        values["relationshipName"] = _relationship_name(spec)
        values["relationshipLabel"] = spec.label
        values["deleteConstraint"] = "SetNull"
    return md.CustomField(**values)


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _picklist_values(current: Any) -> tuple[str, ...]:
    definition = _get(_get(current, "valueSet"), "valueSetDefinition")
    values = _get(definition, "value") or []
    return tuple(str(_get(v, "fullName")) for v in values if _get(v, "fullName") is not None)


def differences(spec: FieldSpec, current: Any) -> tuple[str, ...]:
    """What differs between `spec` and the field as read back (type, label, length,
    precision/scale, picklist values, referenceTo)."""
    diffs: list[str] = []
    current_type = str(_get(current, "type") or "")
    wanted_type = MD_TYPES.get(spec.type, spec.type)
    if current_type != wanted_type:
        diffs.append(f"type: {current_type or None!r} -> {wanted_type!r}")
        return tuple(diffs)
    current_label = _get(current, "label")
    if current_label != spec.label:
        diffs.append(f"label: {current_label!r} -> {spec.label!r}")
    if spec.type in ("Text", "LongText") and _int(_get(current, "length")) != spec.length:
        diffs.append(f"length: {_int(_get(current, 'length'))!r} -> {spec.length!r}")
    if spec.type == "Text" and bool(_get(current, "externalId")) != spec.external_id:
        diffs.append(f"externalId: {bool(_get(current, 'externalId'))!r} -> {spec.external_id!r}")
    if spec.type == "Number":
        for name, wanted in (
            ("precision", spec.precision if spec.precision is not None else 18),
            ("scale", spec.scale if spec.scale is not None else 0),
        ):
            have = _int(_get(current, name))
            if have != wanted:
                diffs.append(f"{name}: {have!r} -> {wanted!r}")
    if spec.type == "Picklist":
        have_values = _picklist_values(current)
        if have_values != spec.picklist_values:
            diffs.append(f"picklist values: {list(have_values)!r} -> {list(spec.picklist_values)!r}")
    if spec.type == "Lookup":
        have_ref = _get(current, "referenceTo")
        if have_ref != spec.reference_to:
            diffs.append(f"referenceTo: {have_ref!r} -> {spec.reference_to!r}")
    return tuple(diffs)


def _as_list(result: Any) -> list[Any]:
    if result is None:
        return []
    if isinstance(result, list):
        return result
    return [result]


def _soql_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _RECORD_ID.match(value):
        raise FatalError(f"unexpected {what} id {value!r}")
    return value


def _soap(md: SfdcMetadataApi, operation: str, *args: Any) -> list[Any]:
    """One Metadata API operation on the zeep service simple-salesforce built, its result
    items as a list. Not through ``md.CustomField.read/upsert/delete``: on an empty
    ``<result/>`` (a proxy, a broken org) they fail with TypeError / AttributeError, and a
    write answered with no result elements passes as a success."""
    answer = getattr(md._service, operation)(*args, _soapheaders=[md._session_header])
    return _as_list(answer)


def _empty(operation: str, detail: str = "empty result") -> FatalError:
    return FatalError(f"Metadata API {operation}(CustomField): {detail}")


def _read(md: SfdcMetadataApi, *, names: list[str]) -> list[Any]:
    """readMetadata: one record per name (an empty one for a name that does not exist)."""
    records = [r for r in _soap(md, "readMetadata", "CustomField", names) if r is not None]
    if names and not records:
        raise _empty("readMetadata")
    if len(records) > len(names):
        raise _empty("readMetadata", f"{len(records)} records for {len(names)} names")
    return records


def _check_saved(operation: str, results: list[Any], expected: int) -> None:
    """Exactly one SaveResult / DeleteResult per component, each a success; a rejected
    component is a `ConfigError` naming it and its status code."""
    if expected and not any(r is not None for r in results):
        raise _empty(operation)
    if len(results) != expected or any(r is None for r in results):
        raise _empty(operation, f"{sum(r is not None for r in results)} results for {expected} components")
    failed = [r for r in results if not _get(r, "success")]
    if failed:
        errors = [(str(_get(r, "fullName")), e) for r in failed for e in _as_list(_get(r, "errors"))]
        text = ", ".join(f"{name}: ({_get(e, 'statusCode')}, {_get(e, 'message')})" for name, e in errors)
        raise ConfigError(f"Salesforce metadata call rejected: {text or 'no error given'}",
                          code=str(_get(errors[0][1], "statusCode")) if errors else None)


def _upsert(md: SfdcMetadataApi, *, specs: list[FieldSpec]) -> None:
    results = _soap(md, "upsertMetadata", [build_field(md, spec) for spec in specs])
    _check_saved("upsertMetadata", results, len(specs))


def _delete(md: SfdcMetadataApi, *, names: list[str]) -> None:
    _check_saved("deleteMetadata", _soap(md, "deleteMetadata", "CustomField", names), len(names))


def _query_more(sf: Salesforce, *, url: str) -> Any:
    return sf.query_more(url, identifier_is_url=True)


class FieldInstaller:
    """plan / ensure / remove custom fields through one `Transport`."""

    def __init__(self, transport: Transport, current_user: Callable[[], str]) -> None:
        self._transport = transport
        self._current_user = current_user

    # -- metadata --------------------------------------------------------------------------

    def read_fields(self, names: Sequence[str]) -> dict[str, Any]:
        """Existing CustomField definitions by full name (missing names are absent)."""
        found: dict[str, Any] = {}
        for chunk in chunks(names, METADATA_BATCH):
            result = self._transport.metadata(partial(_read, names=chunk))
            for item in _as_list(result):
                name = _get(item, "fullName")
                if name:
                    found[str(name).lower()] = item
        return found

    def plan(self, specs: Sequence[FieldSpec]) -> list[FieldChangePlan]:
        check_specs(specs, check_spec)
        existing = self.read_fields([full_name(s) for s in specs])
        plans: list[FieldChangePlan] = []
        for spec in specs:
            current = existing.get(full_name(spec).lower())
            if current is None:
                plans.append(FieldChangePlan(spec=spec, action="create", differences=("missing",)))
                continue
            diffs = differences(spec, current)
            plans.append(
                FieldChangePlan(spec=spec, action="update" if diffs else "unchanged", differences=diffs)
            )
        return plans

    def ensure(self, specs: Sequence[FieldSpec], *, dry_run: bool = False,
               assignees: Sequence[str] = ()) -> list[FieldChangePlan]:
        plans = self.plan(specs)
        if dry_run:
            return plans
        changed = [p.spec for p in plans if p.action != "unchanged"]
        for chunk in chunks(changed, METADATA_BATCH):
            self._transport.metadata(partial(_upsert, specs=chunk))
        if specs:
            self.grant_field_access(specs, assignees=assignees)
        return plans

    def remove(self, names: Sequence[str]) -> None:
        for name in names:
            if not isinstance(name, str) or not _FULL_NAME.match(name):
                raise ConfigError(f"invalid custom field {name!r}: expected Object.Name__c")
        existing = self.read_fields(list(names))
        present = [n for n in names if n.lower() in existing]
        for chunk in chunks(present, METADATA_BATCH):
            self._transport.metadata(partial(_delete, names=chunk))

    # -- field-level security --------------------------------------------------------------

    def _query(self, soql: str) -> list[Mapping[str, Any]]:
        result = self._transport.call("query", lambda sf: sf.query(soql))
        out: list[Mapping[str, Any]] = []
        while True:
            records = result.get("records") if isinstance(result, Mapping) else None
            if not isinstance(records, list):
                raise FatalError("unexpected query answer: no records list")
            out.extend(r for r in records if isinstance(r, Mapping))
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not isinstance(next_url, str) or not next_url:
                return out
            result = self._transport.call("query_more", partial(_query_more, url=next_url))

    def _create(self, object_name: str, body: dict[str, Any]) -> str:
        answer = self._transport.call(
            "sobject_create", lambda sf: sf.restful(f"sobjects/{object_name}", method="POST", json=body)
        )
        new_id = answer.get("id") if isinstance(answer, Mapping) else None
        return _soql_id(new_id, object_name)

    def permission_set_id(self) -> str:
        records = self._query(f"SELECT Id FROM PermissionSet WHERE Name = {soql_string(PERMISSION_SET_NAME)}")
        if records:
            return _soql_id(records[0].get("Id"), "PermissionSet")
        return self._create(
            "PermissionSet",
            {
                "Name": PERMISSION_SET_NAME,
                "Label": PERMISSION_SET_LABEL,
                "Description": "Field access for the presales sync integration user",
            },
        )

    def grant_field_access(self, specs: Sequence[FieldSpec], *, assignees: Sequence[str] = ()) -> None:
        """Read/edit FLS on every spec field for the integration user (and `assignees`, e.g.
        the engineers who set the sign-off field), through the ``Presales_Sync`` permission
        set (created and assigned when missing; new assignments in one collection call)."""
        ps_id = self.permission_set_id()
        users = dict.fromkeys([_soql_id(self._current_user(), "User"),
                               *(_soql_id(a, "User") for a in assignees)])
        assigned = {
            str(r.get("AssigneeId"))
            for r in self._query(
                f"SELECT AssigneeId FROM PermissionSetAssignment WHERE PermissionSetId = {soql_string(ps_id)}"
            )
        }
        new = [{"attributes": {"type": "PermissionSetAssignment"}, "AssigneeId": u, "PermissionSetId": ps_id}
               for u in users if u not in assigned]
        for chunk in chunks(new, COLLECTION_BATCH):
            self._collection("POST", chunk)
        rows = self._query(
            "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
            f"WHERE ParentId = {soql_string(ps_id)}"
        )
        by_field = {str(r.get("Field", "")).lower(): r for r in rows}
        missing: list[dict[str, Any]] = []
        wrong: list[dict[str, Any]] = []
        for spec in specs:
            row = by_field.get(full_name(spec).lower())
            if row is None:
                missing.append(
                    {
                        "attributes": {"type": "FieldPermissions"},
                        "ParentId": ps_id,
                        "SobjectType": spec.object_name,
                        "Field": full_name(spec),
                        "PermissionsRead": True,
                        "PermissionsEdit": True,
                    }
                )
            elif row.get("PermissionsRead") is not True or row.get("PermissionsEdit") is not True:
                wrong.append(
                    {
                        "attributes": {"type": "FieldPermissions"},
                        "id": _soql_id(row.get("Id"), "FieldPermissions"),
                        "PermissionsRead": True,
                        "PermissionsEdit": True,
                    }
                )
        for chunk in chunks(missing, COLLECTION_BATCH):
            self._collection("POST", chunk)
        for chunk in chunks(wrong, COLLECTION_BATCH):
            self._collection("PATCH", chunk)

    def grant_object_access(self, wanted: Mapping[str, Sequence[str]]) -> None:
        """Object permissions on the ``Presales_Sync`` permission set: for each object the
        flags of `wanted` (``PermissionsRead``, ``PermissionsCreate``, …) set, missing rows
        created in one POST (in `wanted`'s order: a master before its detail, §3) and rows
        lacking a flag fixed in one PATCH composite/sobjects call."""
        ps_id = self.permission_set_id()
        rows = self._query(
            "SELECT Id, SobjectType, PermissionsRead, PermissionsCreate, PermissionsEdit, PermissionsDelete "
            f"FROM ObjectPermissions WHERE ParentId = {soql_string(ps_id)}"
        )
        by_object = {str(r.get("SobjectType", "")).lower(): r for r in rows}
        missing: list[dict[str, Any]] = []
        wrong: list[dict[str, Any]] = []
        for object_name, flags in wanted.items():
            row = by_object.get(object_name.lower())
            values = dict.fromkeys(flags, True)
            if row is None:
                missing.append({"attributes": {"type": "ObjectPermissions"}, "ParentId": ps_id,
                                "SobjectType": object_name, **values})
            elif any(row.get(flag) is not True for flag in flags):
                wrong.append({"attributes": {"type": "ObjectPermissions"},
                              "id": _soql_id(row.get("Id"), "ObjectPermissions"), **values})
        for chunk in chunks(missing, COLLECTION_BATCH):
            self._collection("POST", chunk)
        for chunk in chunks(wrong, COLLECTION_BATCH):
            self._collection("PATCH", chunk)

    def _collection(self, method: str, records: list[dict[str, Any]]) -> None:
        body = {"allOrNone": False, "records": records}
        answer = self._transport.call(
            "composite_sobjects", lambda sf: sf.restful("composite/sobjects", method=method, json=body)
        )
        if not isinstance(answer, list) or len(answer) != len(records):
            raise FatalError(f"sObject Collections answered unexpectedly for {len(records)} records")
        failures = []
        first_code: str | None = None
        for record, result in zip(records, answer, strict=True):
            if isinstance(result, Mapping) and result.get("success"):
                continue
            errors = [e for e in (_get(result, "errors") or ()) if isinstance(e, Mapping)]
            code = str(errors[0].get("statusCode") or "UNKNOWN") if errors else "UNKNOWN"
            first_code = first_code or code
            message = "; ".join(str(e.get("message", "")) for e in errors)
            what = record.get("Field") or record.get("SobjectType") or record.get("id")
            failures.append(f"{what}: ({code}, {message})")
        if failures:
            raise ConfigError("cannot grant access: " + "; ".join(failures), code=first_code)
