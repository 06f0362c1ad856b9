"""Installing the plugin's custom objects: the Metadata API (zeep, ``sf.mdapi``) creates a
detail object with its Master-Detail field and external-id key inside the one CustomObject
(a bare fullName there), or a list custom setting; object permissions then come through the
``Presales_Sync`` permission set (REST ObjectPermissions, with the master's permission the
detail depends on), as field permissions do in `_install`.

Sources: docs/design/issue-14-wire-facts.md §1 (the CustomObject shape, ControlledByParent
needs the Master-Detail field in the same call, 10 components per call), §3 (object
permission flags and dependencies). Idempotent: a second run with everything in place reads
(one readMetadata, the permission queries) and writes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from simple_salesforce.metadata import SfdcMetadataApi

from presales_sync.connector._http import chunks
from presales_sync.connector.base import FieldSpec, ObjectChangePlan, ObjectSpec
from presales_sync.connector.errors import ConfigError, FatalError
from presales_sync.connector.salesforce._install import (
    METADATA_BATCH,
    FieldInstaller,
    _check_saved,
    _get,
    _soap,
    build_field,
)
from presales_sync.connector.salesforce._transport import Transport

_OBJECT = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*__c$")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*__c$")
_RELATIONSHIP = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$")
_DISPLAY_FORMAT = re.compile(r"\{0+\}")
#: The key field every detail object gets: a unique, case-sensitive external id.
KEY_LENGTH = 80
#: What the plugin's permission set grants: on the detail object, and on its master (a detail
#: object's permission depends on the master's; Edit on it because writeRequiresMasterRead is
#: false, so creating a detail needs Read/Write on the master record, §3).
DETAIL_FLAGS = ("PermissionsRead", "PermissionsCreate", "PermissionsEdit")
MASTER_FLAGS = ("PermissionsRead", "PermissionsEdit")


def check_object(spec: ObjectSpec) -> None:
    """`ConfigError` for a spec Salesforce would reject (or that could reach SOQL unsafely)."""
    if not _OBJECT.match(spec.name):
        raise ConfigError(f"invalid custom object name {spec.name!r}: expected Name__c")
    if not spec.label or not spec.plural_label:
        raise ConfigError(f"{spec.name}: label and plural_label are required")
    if spec.kind == "setting":
        return
    if spec.kind != "detail":
        raise ConfigError(f"{spec.name}: kind must be 'detail' or 'setting', not {spec.kind!r}")
    if not (spec.parent and re.match(r"^[A-Za-z][A-Za-z0-9_]*$", spec.parent)):
        raise ConfigError(f"{spec.name}: a detail object needs its parent object")
    for what, value in (("parent_field", spec.parent_field), ("key_field", spec.key_field)):
        if not (value and _FIELD.match(value)):
            raise ConfigError(f"{spec.name}: {what} must be a custom field name (Name__c), not {value!r}")
    if not (spec.relationship_name and _RELATIONSHIP.match(spec.relationship_name)):
        raise ConfigError(f"{spec.name}: relationship_name must be an API name without __r")
    if not _DISPLAY_FORMAT.search(spec.name_format):
        raise ConfigError(f"{spec.name}: name_format needs a number like {{000000}}")


def key_spec(spec: ObjectSpec) -> FieldSpec:
    """The detail object's external-id key as a field spec (its FLS is granted like a field's)."""
    assert spec.key_field is not None
    label = spec.key_field.removesuffix("__c").replace("_", " ")
    return FieldSpec(spec.name, spec.key_field, label, "Text", length=KEY_LENGTH, external_id=True)


def build_object(md: SfdcMetadataApi, spec: ObjectSpec) -> Any:
    """The zeep CustomObject for `spec` (the shape of issue-14-wire-facts §1)."""
    if spec.kind == "setting":
        value = FieldSpec(spec.name, "Value__c", "Value", "Text", length=255)
        return md.CustomObject(
            fullName=spec.name, label=spec.label, pluralLabel=spec.plural_label,
            customSettingsType=md.CustomSettingsType("List"), visibility=md.SetupObjectVisibility("Public"),
            nameField=md.CustomField(label="Name", type=md.FieldType("Text")),
            fields=[build_field(md, value, qualified=False)])
    master = md.CustomField(
        fullName=spec.parent_field, label=spec.parent_label or spec.parent, type=md.FieldType("MasterDetail"),
        referenceTo=spec.parent, relationshipName=spec.relationship_name,
        relationshipLabel=spec.relationship_label or spec.plural_label, relationshipOrder=0,
        reparentableMasterDetail=False, writeRequiresMasterRead=False)
    return md.CustomObject(
        fullName=spec.name, label=spec.label, pluralLabel=spec.plural_label,
        nameField=md.CustomField(label=f"{spec.label} Number", type=md.FieldType("AutoNumber"),
                                 displayFormat=spec.name_format),
        deploymentStatus=md.DeploymentStatus("Deployed"), sharingModel=md.SharingModel("ControlledByParent"),
        enableHistory=False, fields=[master, build_field(md, key_spec(spec), qualified=False)])


def _read(md: SfdcMetadataApi, *, names: list[str]) -> list[Any]:
    """readMetadata: one record per name; a missing object is a record without fullName."""
    records = [r for r in _soap(md, "readMetadata", "CustomObject", names) if r is not None]
    if names and not records:
        raise FatalError("Metadata API readMetadata(CustomObject): empty result")
    return records


def _create(md: SfdcMetadataApi, *, specs: list[ObjectSpec]) -> None:
    results = _soap(md, "createMetadata", [build_object(md, spec) for spec in specs])
    _check_saved("createMetadata", results, len(specs))


def _delete(md: SfdcMetadataApi, *, names: list[str]) -> None:
    _check_saved("deleteMetadata", _soap(md, "deleteMetadata", "CustomObject", names), len(names))


class ObjectInstaller:
    """plan / ensure / remove custom objects through one `Transport`."""

    def __init__(self, transport: Transport, current_user: Callable[[], str]) -> None:
        self._transport = transport
        self._fields = FieldInstaller(transport, current_user)

    def existing(self, names: Sequence[str]) -> set[str]:
        """The lower-cased names among `names` the org has (readMetadata, 10 a call)."""
        found: set[str] = set()
        for chunk in chunks(names, METADATA_BATCH):
            for record in self._transport.metadata(partial(_read, names=chunk)):
                name = _get(record, "fullName")
                if name:
                    found.add(str(name).lower())
        return found

    def plan(self, specs: Sequence[ObjectSpec]) -> list[ObjectChangePlan]:
        seen: set[str] = set()
        for spec in specs:
            check_object(spec)
            if spec.name.lower() in seen:
                raise ConfigError(f"duplicate object spec {spec.name}")
            seen.add(spec.name.lower())
        have = self.existing([s.name for s in specs])
        return [ObjectChangePlan(spec=s, action="unchanged" if s.name.lower() in have else "create")
                for s in specs]

    def ensure(self, specs: Sequence[ObjectSpec], *, dry_run: bool = False,
               assignees: Sequence[str] = ()) -> list[ObjectChangePlan]:
        plans = self.plan(specs)
        if dry_run:
            return plans
        missing = [p.spec for p in plans if p.action == "create"]
        for chunk in chunks(missing, METADATA_BATCH):
            self._transport.metadata(partial(_create, specs=chunk))
        details = [s for s in specs if s.kind == "detail"]
        if details:
            # FLS on each key field (and the permission set assigned to the users), then
            # the object permissions: every master before the details that depend on it.
            self._fields.grant_field_access([key_spec(s) for s in details], assignees=assignees)
            wanted: dict[str, Sequence[str]] = {}
            for s in details:
                assert s.parent is not None
                wanted.setdefault(s.parent, MASTER_FLAGS)
            for s in details:
                wanted[s.name] = DETAIL_FLAGS
            self._fields.grant_object_access(wanted)
        return plans

    def remove(self, names: Sequence[str]) -> None:
        for name in names:
            if not isinstance(name, str) or not _OBJECT.match(name):
                raise ConfigError(f"invalid custom object name {name!r}: expected Name__c")
        have = self.existing(list(names))
        present = [n for n in names if n.lower() in have]
        for chunk in chunks(present, METADATA_BATCH):
            self._transport.metadata(partial(_delete, names=chunk))
