"""The org's schema as data: objects and their field definitions.

The catalogue is kept as plain rows (``FieldDef``) rather than code so that the store can
persist it in SQLite and a later Metadata endpoint can add fields at run time; describe, the
SOQL compiler and the write validator all read the same rows, so a new field becomes
queryable, describable and writable in one step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from presales_sync.sandbox.core._seed import CustomField

#: REST ``type`` values the sandbox stores, with the SQLite column type used for each.
SQL_TYPES: dict[str, str] = {
    "id": "TEXT",
    "reference": "TEXT",
    "string": "TEXT",
    "textarea": "TEXT",
    "picklist": "TEXT",
    "email": "TEXT",
    "phone": "TEXT",
    "url": "TEXT",
    "boolean": "INTEGER",
    "int": "INTEGER",
    "double": "REAL",
    "currency": "REAL",
    "percent": "REAL",
    "date": "TEXT",  # ISO YYYY-MM-DD sorts and compares correctly as text
    "datetime": "INTEGER",  # UTC milliseconds since the epoch: exact ms comparisons, indexable
}

#: Types whose values compare and sort case-insensitively in SOQL.
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "url"})


@dataclass(frozen=True)
class FieldDef:
    """One field as describe shows it; ``name`` is also the SQLite column name."""

    name: str
    label: str
    type: str
    custom: bool = False
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    length: int = 0
    precision: int = 0
    scale: int = 0
    restricted_picklist: bool = False
    picklist_values: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    filterable: bool = True
    sortable: bool = True
    calculated: bool = False
    # Added with custom objects (issue 14): an external-id key, a unique index, a Master-Detail
    # field (its child relationship cascades deletes), an auto-numbered Name.
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    cascade_delete: bool = False
    auto_number: bool = False
    display_format: str | None = None
    # The relationship's name on the parent's side (Master-Detail ``relationshipName`` + __r,
    # ``Line_Items__r``); ``relationship_name`` is the child's side (``Opportunity__r``).
    child_relationship: str | None = None
    track_history: bool = False  # changes are kept in the object's field history

    def describe(self) -> dict[str, Any]:
        """The REST describe shape of SALESFORCE.md 2.9."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "custom": self.custom,
            "updateable": self.updateable,
            "createable": self.createable,
            "nillable": self.nillable,
            "length": self.length,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 0,
            "calculated": self.calculated,
            "externalId": self.external_id,
            "unique": self.unique,
            "caseSensitive": self.case_sensitive,
            "autoNumber": self.auto_number,
            "cascadeDelete": self.cascade_delete,
            "idLookup": self.type == "id" or self.external_id or self.auto_number,
            "defaultedOnCreate": self.type in ("id", "boolean") or not self.updateable,
            "filterable": self.filterable,
            "sortable": self.sortable,
            "restrictedPicklist": self.restricted_picklist,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in self.picklist_values
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
        }

    def to_row(self) -> dict[str, Any]:
        """A flat row for the ``_fields`` table (tuples as JSON)."""
        row = asdict(self)
        row["picklist_values"] = json.dumps(list(self.picklist_values))
        row["reference_to"] = json.dumps(list(self.reference_to))
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FieldDef:
        data = dict(row)
        data["picklist_values"] = tuple(json.loads(data["picklist_values"]))
        data["reference_to"] = tuple(json.loads(data["reference_to"]))
        for flag in (
            "custom",
            "updateable",
            "createable",
            "nillable",
            "restricted_picklist",
            "filterable",
            "sortable",
            "calculated",
            "external_id",
            "unique",
            "case_sensitive",
            "cascade_delete",
            "auto_number",
            "track_history",
        ):
            data[flag] = bool(data.get(flag))
        return cls(**data)


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


@dataclass(frozen=True)
class ObjectDef:
    """One sObject type: its describe header and its fields in describe order."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    custom: bool = False
    fields: tuple[FieldDef, ...] = ()

    def field(self, name: str) -> FieldDef | None:
        """Case-insensitive lookup, as Salesforce resolves API names."""
        lowered = name.lower()
        for f in self.fields:
            if f.name.lower() == lowered:
                return f
        return None

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is ``name`` (case-insensitive)."""
        lowered = name.lower()
        for f in self.fields:
            if f.relationship_name and f.relationship_name.lower() == lowered:
                return f
        return None

    def describe(self, version: str, *, children: Sequence[dict[str, Any]] = (),
                 access: Sequence[str] = ("read", "create", "edit", "delete"),
                 custom_setting: bool = False) -> dict[str, Any]:
        """The describe header; `children` are the child relationships pointing here,
        `access` what the caller may do with its records (read, create, edit, delete)."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "custom": self.custom,
            "customSetting": custom_setting,
            "createable": "create" in access,
            "updateable": "edit" in access,
            "deletable": "delete" in access,
            "queryable": True,
            "searchable": True,
            "retrieveable": True,
            "keyPrefix": self.key_prefix,
            "fields": [f.describe() for f in self.fields],
            "recordTypeInfos": [],
            "childRelationships": list(children),
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }


# -- the default catalogue ----------------------------------------------------------------

STAGES: tuple[str, ...] = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
INDUSTRIES: tuple[str, ...] = (
    "Finance",
    "Government",
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Energy",
    "Telecom",
    "Education",
)


def _ro(name: str, label: str, type_: str, **kw: Any) -> FieldDef:
    """A system (read-only) field: Salesforce shows these as updateable/createable false."""
    kw.setdefault("nillable", False)
    return FieldDef(name, label, type_, updateable=False, createable=False, **kw)


def _ref(name: str, label: str, target: str, rel: str, *, system: bool = False, **kw: Any) -> FieldDef:
    if system:
        return _ro(name, label, "reference", length=18, reference_to=(target,), relationship_name=rel, **kw)
    return FieldDef(name, label, "reference", length=18, reference_to=(target,), relationship_name=rel, **kw)


def _picklist(
    name: str,
    label: str,
    values: tuple[str, ...],
    *,
    custom: bool = False,
    restricted: bool = False,
    **kw: Any,
) -> FieldDef:
    return FieldDef(
        name,
        label,
        "picklist",
        custom=custom,
        length=255,
        picklist_values=values,
        restricted_picklist=restricted,
        **kw,
    )


def _system_fields() -> list[FieldDef]:
    return [
        _ro("CreatedDate", "Created Date", "datetime"),
        _ref("CreatedById", "Created By ID", "User", "CreatedBy", system=True),
        _ro("LastModifiedDate", "Last Modified Date", "datetime"),
        _ref("LastModifiedById", "Last Modified By ID", "User", "LastModifiedBy", system=True),
        _ro("SystemModstamp", "System Modstamp", "datetime"),
    ]


def default_objects(custom: Sequence[CustomField] = ()) -> list[ObjectDef]:
    """The seeded org's schema: the standard objects, each with the seed's `custom` fields
    of that object appended (describe lists custom fields after the standard ones)."""
    def extra(o: ObjectDef) -> tuple[FieldDef, ...]:
        return tuple(field_def(f) for f in custom if f.object.lower() == o.name.lower())

    return [replace(o, fields=(*o.fields, *extra(o)))
            for o in _default_objects()]


def field_def(f: CustomField) -> FieldDef:
    """A seed's custom field as this catalogue's row, as the Metadata API would create it."""
    common: dict[str, Any] = {"custom": True}
    if f.type == "Text" and f.external_id:
        return FieldDef(f.name, f.label, "string", length=f.length or 255, external_id=True, unique=True,
                        case_sensitive=True, **common)
    if f.type == "Text":
        return FieldDef(f.name, f.label, "string", length=f.length or 255, **common)
    if f.type == "LongText":
        return FieldDef(f.name, f.label, "textarea", length=f.length or 32768, filterable=False,
                        sortable=False, **common)
    if f.type == "Number":
        return FieldDef(f.name, f.label, "double", precision=f.precision or 18, scale=f.scale or 0, **common)
    if f.type == "Checkbox":
        return FieldDef(f.name, f.label, "boolean", nillable=False, **common)
    if f.type == "Date":
        return FieldDef(f.name, f.label, "date", **common)
    if f.type == "DateTime":
        return FieldDef(f.name, f.label, "datetime", **common)
    if f.type == "Picklist":
        return _picklist(f.name, f.label, f.values, restricted=f.restricted, **common)
    if f.type == "Lookup":
        return _ref(f.name, f.label, f.reference_to or "User", f"{f.relationship_name or f.name[:-3]}__r",
                    **common)
    raise ValueError(f"unsupported custom field type {f.type!r}")


def _default_objects() -> list[ObjectDef]:
    account = ObjectDef(
        "Account",
        "Account",
        "Accounts",
        "001",
        fields=(
            _ro("Id", "Account ID", "id", length=18),
            _ro("IsDeleted", "Deleted", "boolean"),
            FieldDef("Name", "Account Name", "string", length=255, nillable=False),
            _picklist("Industry", "Industry", INDUSTRIES),
            _ref("OwnerId", "Owner ID", "User", "Owner", nillable=False),
            *_system_fields(),
        ),
    )
    user = ObjectDef(
        "User",
        "User",
        "Users",
        "005",
        fields=(
            _ro("Id", "User ID", "id", length=18),
            FieldDef("Username", "Username", "string", length=80, nillable=False),
            FieldDef(
                "Name", "Full Name", "string", length=121, updateable=False, createable=False, nillable=False
            ),
            FieldDef("FirstName", "First Name", "string", length=40),
            FieldDef("LastName", "Last Name", "string", length=80, nillable=False),
            FieldDef("Email", "Email", "email", length=128, nillable=False),
            FieldDef("Title", "Title", "string", length=80),
            FieldDef("Department", "Department", "string", length=80),
            FieldDef("IsActive", "Active", "boolean", nillable=False),
            _ref("ManagerId", "Manager ID", "User", "Manager"),
            *_system_fields(),
        ),
    )
    opportunity = ObjectDef(
        "Opportunity",
        "Opportunity",
        "Opportunities",
        "006",
        fields=(
            _ro("Id", "Opportunity ID", "id", length=18),
            _ro("IsDeleted", "Deleted", "boolean"),
            _ref("AccountId", "Account ID", "Account", "Account"),
            FieldDef("Name", "Name", "string", length=120, nillable=False),
            _picklist("StageName", "Stage", STAGES, nillable=False),
            FieldDef("Amount", "Amount", "currency", precision=18, scale=2),
            FieldDef("Probability", "Probability (%)", "percent", precision=3, scale=0),
            FieldDef("CloseDate", "Close Date", "date", nillable=False),
            _ro("IsClosed", "Closed", "boolean"),
            _ro("IsWon", "Won", "boolean"),
            _ref("OwnerId", "Owner ID", "User", "Owner", nillable=False),
            *_system_fields(),
        ),
    )
    return [opportunity, account, user]
