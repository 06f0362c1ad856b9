"""The one small interface every CRM adapter implements, and the plain types it speaks.

Adapters know HTTP and their CRM's wire format; they know nothing of presales. The sync
layer talks to any CRM only through `Connector`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable


class ApiUsage(NamedTuple):
    """The org's daily API allowance as the CRM last reported it (Salesforce
    ``Sforce-Limit-Info``; Zoho credits, when the daily total is configured)."""

    used: int
    total: int


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """One CRM record as read: its id, its system modification stamp (aware, UTC) and the
    raw field values keyed by CRM API name (parent fields flattened as ``Account.Name``)."""

    id: str
    stamp: datetime
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a streamed read; `records` are in (stamp, id) order."""

    records: Sequence[RemoteRecord]
    number: int


@dataclass(frozen=True, slots=True)
class RecordChange:
    """Field values to set on one existing CRM record (None means: clear the field)."""

    id: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RecordUpsert:
    """One record to create, or update when the CRM already holds one with the same key: the
    value of the upsert's external-id field. A batch re-sent after a lost answer updates the
    records the first send created; it never duplicates them."""

    key: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What the CRM said about one record of a batched write, in request order."""

    id: str
    ok: bool
    error_code: str | None = None
    message: str | None = None
    retryable: bool = False
    gone: bool = False  # the record no longer exists in the CRM (deleted)


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """The part of a describe result the plugin relies on."""

    name: str
    type: str
    label: str = ""
    custom: bool = False
    updateable: bool = False
    nillable: bool = True
    length: int = 0
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectSchema:
    name: str
    fields: Mapping[str, FieldInfo] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """A CRM adapter. Every method may raise a `connector.errors.ConnectorError` subclass;
    no transport library exception ever leaves an adapter."""

    kind: str
    #: Records one write call carries (Salesforce collections 200, Zoho 100): what the API
    #: budget counts a write in.
    write_batch: int

    def describe(self, object_name: str) -> ObjectSchema: ...

    def read_changed(
        self, *, object_name: str, fields: Sequence[str], since: datetime | None
    ) -> Iterator[Page]:
        """Records with stamp >= `since` (all when None), ordered by (stamp, id), streamed
        page by page."""
        ...

    def read_ids(
        self, *, object_name: str, fields: Sequence[str], ids: Sequence[str]
    ) -> Iterator[Page]:
        """The records with these ids, page by page; an id the CRM no longer has (deleted)
        is simply absent from the pages."""
        ...

    def write(self, *, object_name: str, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """Update existing records, batched to the CRM's maximum; one result per change, in
        order. Record-level rejections are results, not exceptions."""
        ...

    def ensure_fields(self, specs: Sequence[FieldSpec], *, dry_run: bool = False,
                      assignees: Sequence[str] = ()) -> list[FieldChangePlan]:
        """Create or update the plugin's custom fields and make them readable and editable
        by the integration user and `assignees`; unchanged fields cost no write."""
        ...

    def remove_fields(self, names: Sequence[str]) -> None:
        """Delete custom fields by full name (``Opportunity.X__c``); missing ones are fine."""
        ...

    def ensure_objects(self, specs: Sequence[ObjectSpec], *, dry_run: bool = False,
                       assignees: Sequence[str] = ()) -> list[ObjectChangePlan]:
        """Create the custom objects (Salesforce) / modules (Zoho) the plugin needs, with their
        parent relationship and key field, and let the integration user and `assignees` read,
        create and edit their records; an existing object costs no write. Their other fields
        go through `ensure_fields` afterwards."""
        ...

    def remove_objects(self, names: Sequence[str]) -> None:
        """Delete custom objects / modules by name, with their records; missing ones are fine."""
        ...

    def upsert(self, *, object_name: str, key_field: str,
               records: Sequence[RecordUpsert]) -> list[WriteResult]:
        """Create-or-update by the external-id field `key_field`, batched to the CRM's maximum
        (Salesforce sObject Collections upsert 200, Zoho upsert 100 with
        ``duplicate_check_fields``); one result per record in order, its `id` the CRM's record
        id. Keys must be unique within the call (ConfigError otherwise)."""
        ...

    def org_setting(self, name: str, *, container: str) -> str | None:
        """An org-wide text value the plugin owns, or None when unset. Salesforce: the
        ``Value__c`` of the record named `name` of the list custom setting `container`; Zoho:
        the org variable with api_name `name` in the variable group `container`."""
        ...

    def set_org_setting(self, name: str, value: str, *, container: str) -> None:
        """Create or replace the org-wide value `name` (at most 255 characters)."""
        ...

    def current_user(self) -> str:
        """The CRM user id the integration runs as (its writes carry this id)."""
        ...

    def api_calls(self) -> dict[str, int]:
        """API calls spent by this connector so far, per endpoint family."""
        ...

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's daily API usage as last reported, or None when the CRM does not say."""
        ...


FieldType = Literal["Text", "LongText", "Number", "Checkbox", "Date", "DateTime", "Picklist", "Lookup"]


@dataclass(frozen=True)
class FieldSpec:
    """A custom field the plugin needs on a CRM object (``name`` like ``Presales_Step__c``)."""

    object_name: str
    name: str
    label: str
    type: FieldType
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    picklist_values: tuple[str, ...] = ()
    restricted: bool = True
    reference_to: str | None = None
    relationship_name: str | None = None
    default_checked: bool = False
    #: A unique, case-sensitive external id (Salesforce ``externalId``+``unique``; Zoho a
    #: unique text field): the key `Connector.upsert` matches on. Text only.
    external_id: bool = False


def check_specs(specs: Sequence[FieldSpec], check: Callable[[FieldSpec], None]) -> None:
    """Each spec passes the CRM's own `check` and names its field only once (ConfigError)."""
    from presales_sync.connector.errors import ConfigError

    seen: set[str] = set()
    for spec in specs:
        check(spec)
        name = f"{spec.object_name}.{spec.name}"
        if name.lower() in seen:
            raise ConfigError(f"duplicate field spec {name}")
        seen.add(name.lower())


@dataclass(frozen=True)
class FieldChangePlan:
    """What installing `spec` does: create it, update it (`differences` say why) or nothing."""

    spec: FieldSpec
    action: Literal["create", "update", "unchanged"]
    differences: tuple[str, ...]


@dataclass(frozen=True)
class ObjectSpec:
    """A custom object / module the plugin needs.

    ``kind="detail"``: records that belong to one `parent` record (Salesforce Master-Detail
    field `parent_field` with sharing controlled by the parent; Zoho a lookup field
    `parent_field` to the parent module, its related list labelled `relationship_label`),
    named by an auto-number (`name_format`, like ``PA-{000000}``), keyed by the external-id
    text field `key_field`. ``kind="setting"`` (Salesforce only; Zoho keeps org values as
    variables and needs no object): a list custom setting whose records are keyed by their
    ``Name`` and hold one 255-character text field ``Value__c`` (`Connector.org_setting`)."""

    name: str
    label: str
    plural_label: str
    kind: Literal["detail", "setting"]
    parent: str | None = None
    parent_field: str | None = None
    parent_label: str | None = None
    relationship_name: str | None = None
    relationship_label: str | None = None
    key_field: str | None = None
    name_format: str = "A-{000000}"


@dataclass(frozen=True)
class ObjectChangePlan:
    """What installing `spec` does: create it, or nothing (an object is never redefined)."""

    spec: ObjectSpec
    action: Literal["create", "unchanged"]
