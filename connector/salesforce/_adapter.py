"""`SalesforceConnector`: the `connector.base.Connector` interface over the Salesforce REST
API (describe, SOQL query paging, sObject Collections). Every HTTP exchange goes through
`Transport.call`."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from presales_sync.connector.base import (
    ApiUsage,
    FieldChangePlan,
    FieldInfo,
    FieldSpec,
    ObjectChangePlan,
    ObjectSchema,
    ObjectSpec,
    Page,
    RecordChange,
    RecordUpsert,
    RemoteRecord,
    WriteResult,
)
from presales_sync.connector.errors import ConfigError, FatalError
from presales_sync.connector.salesforce import _records
from presales_sync.connector.salesforce._bulk import BulkClient, stamp_ordered
from presales_sync.connector.salesforce._install import FieldInstaller
from presales_sync.connector.salesforce._objects import ObjectInstaller
from presales_sync.connector.salesforce._transport import (
    RecordOutcome,
    Transport,
    record_outcome,
    record_result,
)

#: sObject Collections accept at most 200 records per request.
COLLECTION_BATCH = 200
#: Back-off before the one follow-up batch of row-locked records (seconds, plus jitter).
LOCK_RETRY_DELAY = 1.0

# Only plain API names (optionally one parent hop) can reach SOQL: no injection possible.
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_OBJECT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STAMP_FIELD = "SystemModstamp"
# A Salesforce record id: 15 or 18 alphanumerics (so it can be quoted into SOQL as is).
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
#: Ids per `Id IN (...)` query: 200 × 21 characters keeps the URL well under 16 kB.
READ_IDS_BATCH = 200


def _check_object_name(object_name: str) -> None:
    if not isinstance(object_name, str) or not _OBJECT_NAME.match(object_name):
        raise ConfigError(f"invalid Salesforce object name {object_name!r}")


def select_fields(fields: Sequence[str]) -> list[str]:
    """Id, SystemModstamp, then `fields` in order, de-duplicated case-insensitively (SOQL
    names are case-insensitive and a duplicate column is a query error)."""
    selected: list[str] = []
    seen: set[str] = set()
    for name in ("Id", _STAMP_FIELD, *fields):
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            raise ConfigError(f"invalid Salesforce field name {name!r}")
        if name.lower() not in seen:
            seen.add(name.lower())
            selected.append(name)
    return selected


def soql_datetime(value: datetime) -> str:
    """An aware datetime as a SOQL literal in UTC, millisecond precision, floored (so a
    `>=` bound never skips a record)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("since must be an aware datetime")
    utc = value.astimezone(UTC)
    # not strftime("%Y"): it does not pad years before 1000, which SOQL would refuse
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


def build_soql(object_name: str, fields: Sequence[str], since: datetime | None, *,
               ordered: bool = True) -> str:
    """The read query; `ordered` False leaves out ORDER BY (for Bulk query jobs)."""
    _check_object_name(object_name)
    soql = f"SELECT {', '.join(select_fields(fields))} FROM {object_name}"
    if since is not None:
        soql += f" WHERE {_STAMP_FIELD} >= {soql_datetime(since)}"
    return soql + (f" ORDER BY {_STAMP_FIELD}, Id" if ordered else "")


def parse_stamp(value: Any) -> datetime:
    """``2026-11-20T08:15:02.000+0000`` (or ``…Z`` / ``+00:00``) → aware UTC datetime."""
    if isinstance(value, str):
        for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
            try:
                return datetime.strptime(value, fmt).astimezone(UTC)
            except ValueError:
                continue
    raise FatalError(f"unexpected {_STAMP_FIELD} value {value!r}")


def _lookup(record: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """(present, value) for `name` in a JSON record, case-insensitively."""
    if name in record:
        return True, record[name]
    lowered = name.lower()
    for key, value in record.items():
        if key.lower() == lowered:
            return True, value
    return False, None


def flatten_record(record: Mapping[str, Any], selected: Sequence[str]) -> dict[str, Any]:
    """The selected columns of one query record, parent fields as dotted keys.

    Raw JSON values are kept. A null parent gives None for each requested ``Parent.X``; a
    column absent from the answer stays absent (missing is not the same as None)."""
    flat: dict[str, Any] = {}
    for name in selected:
        parent_name, dot, child_name = name.partition(".")
        present, value = _lookup(record, parent_name)
        if not present:
            continue
        if not dot:
            flat[name] = value
        elif value is None:
            flat[name] = None
        elif isinstance(value, Mapping):
            child_present, child = _lookup(value, child_name)
            if child_present:
                flat[name] = child
        else:
            raise FatalError(f"expected a parent object for {parent_name!r}, got {value!r}")
    return flat


def _field_info(raw: Mapping[str, Any]) -> FieldInfo:
    return FieldInfo(
        name=str(raw["name"]),
        type=str(raw.get("type", "")),
        label=str(raw.get("label") or ""),
        custom=bool(raw.get("custom", False)),
        updateable=bool(raw.get("updateable", False)),
        nillable=bool(raw.get("nillable", True)),
        length=int(raw.get("length") or 0),
        picklist_values=tuple(
            str(entry["value"])
            for entry in raw.get("picklistValues") or ()
            if entry.get("active", True) and entry.get("value") is not None
        ),
        restricted_picklist=bool(raw.get("restrictedPicklist", False)),
        reference_to=tuple(str(name) for name in raw.get("referenceTo") or ()),
    )


def _write_result(change: RecordChange, raw: Any) -> WriteResult:
    if not isinstance(raw, Mapping):
        raise FatalError(f"unexpected sObject Collections result item {raw!r}")
    if raw.get("success"):
        return record_result(change.id, ok=True)
    errors = [e for e in raw.get("errors") or () if isinstance(e, Mapping)]
    first = errors[0] if errors else {}
    message = "; ".join(str(e.get("message", "")) for e in errors) or None
    fields = [str(f) for f in first.get("fields") or () if isinstance(f, str)]
    return record_result(change.id, ok=False, code=str(first.get("statusCode") or "UNKNOWN"),
                         message=message, fields=fields)


def _record_body(object_name: str, change: RecordChange) -> dict[str, Any]:
    # `attributes` and `id` come from us, never from the change's field map.
    values = {k: v for k, v in change.fields.items() if k.lower() not in ("id", "attributes")}
    return {"attributes": {"type": object_name}, "id": change.id, **values}


class SalesforceConnector:
    """The Salesforce adapter. Build it with `connector.salesforce.connect`."""

    kind = "salesforce"
    write_batch = COLLECTION_BATCH

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._settings = transport.settings
        self._user_id: str | None = None

    def __repr__(self) -> str:
        return f"SalesforceConnector(instance_url={self._settings.instance_url!r})"

    # -- schema ------------------------------------------------------------------------

    def describe(self, object_name: str) -> ObjectSchema:
        _check_object_name(object_name)
        # sf.restful, not sf.<Object>.describe(): SFType methods recurse forever on an
        # invalid session (simple-salesforce #804) and bypass our call wrapper.
        body = self._transport.call("describe", lambda sf: sf.restful(f"sobjects/{object_name}/describe"))
        if not isinstance(body, Mapping) or not isinstance(body.get("fields"), list):
            raise FatalError(f"unexpected describe answer for {object_name}")
        infos = [_field_info(raw) for raw in body["fields"]]
        return ObjectSchema(name=str(body.get("name") or object_name), fields={f.name: f for f in infos})

    # -- reading -----------------------------------------------------------------------

    def read_changed(
        self, *, object_name: str, fields: Sequence[str], since: datetime | None
    ) -> Iterator[Page]:
        """Records with ``SystemModstamp >= since`` (all when None), ordered by
        (SystemModstamp, Id), streamed lazily: a page is requested only when the previous
        one has been consumed. Arguments are validated now, before any call. A full read
        (`since` None) of more than ``bulk_read_threshold`` records continues after its
        first page through a Bulk API 2.0 query job."""
        if isinstance(fields, str):
            raise TypeError("fields must be a sequence of field names, not a string")
        selected = select_fields(fields)
        soql = build_soql(object_name, fields, since)
        return self._pages(object_name, soql, selected, full=since is None)

    def read_ids(
        self, *, object_name: str, fields: Sequence[str], ids: Sequence[str]
    ) -> Iterator[Page]:
        """The records with these ids (``WHERE Id IN (...)``, 200 ids a query); deleted ones
        are absent. Ids are checked to be record ids before any call."""
        if isinstance(fields, str):
            raise TypeError("fields must be a sequence of field names, not a string")
        _check_object_name(object_name)
        selected = select_fields(fields)
        bad = [i for i in ids if not isinstance(i, str) or not _RECORD_ID.match(i)]
        if bad:
            raise ConfigError(f"not Salesforce record ids: {bad[:3]!r}")
        return self._id_pages(object_name, selected, list(dict.fromkeys(ids)))

    def _id_pages(self, object_name: str, selected: list[str], ids: list[str]) -> Iterator[Page]:
        for start in range(0, len(ids), READ_IDS_BATCH):
            quoted = ", ".join(f"'{i}'" for i in ids[start : start + READ_IDS_BATCH])
            yield from self._pages(
                object_name,
                f"SELECT {', '.join(selected)} FROM {object_name} WHERE Id IN ({quoted}) ORDER BY Id",
                selected, full=False)

    def _pages(self, object_name: str, soql: str, selected: list[str], *, full: bool) -> Iterator[Page]:
        headers = {"Sforce-Query-Options": f"batchSize={self._settings.page_size}"}
        result = self._transport.call("query", lambda sf: sf.query(soql, headers=headers))
        seen_urls: set[str] = set()
        number = 1
        while True:
            records = self._records(result, selected)
            yield Page(records=records, number=number)
            if result.get("done", True):
                return
            if (number == 1 and full and records
                    and int(result.get("totalSize") or 0) > self._settings.bulk_read_threshold):
                yield from self._bulk_rest(object_name, selected, records, number)
                return
            next_url = result.get("nextRecordsUrl")
            if not isinstance(next_url, str) or not next_url:
                raise FatalError("query answer says not done but has no nextRecordsUrl")
            if next_url in seen_urls:
                raise FatalError(f"query paging loops: nextRecordsUrl {next_url} repeated")
            seen_urls.add(next_url)
            number += 1
            result = self._query_more(next_url, headers)

    def _bulk_rest(self, object_name: str, selected: list[str], first: list[RemoteRecord],
                   number: int) -> Iterator[Page]:
        """The rest of a large full read (after its first REST page) as a Bulk 2.0 query
        job from the page's last stamp on. The job is sent without ORDER BY (it would turn
        PK chunking off: large jobs time out), so its records are put in (stamp, Id) order
        and de-duplicated locally before the first page is yielded; records the REST page
        already gave (same Id and stamp) are skipped."""
        last = first[-1].stamp
        given = {r.id for r in first if r.stamp == last}
        fields = [f for f in selected if f not in ("Id", _STAMP_FIELD)]
        soql = build_soql(object_name, fields, last, ordered=False)
        types = self._field_types(object_name, selected)
        batches = BulkClient(self._transport).query(object_name, soql, selected, types,
                                                    self._settings.page_size)
        for records in stamp_ordered(batches, self._settings.page_size):
            fresh = [r for r in records if not (r.stamp == last and r.id in given)]
            if fresh:
                number += 1
                yield Page(records=fresh, number=number)

    def _field_types(self, object_name: str, selected: Sequence[str]) -> dict[str, FieldInfo | None]:
        """Describe info per selected column (parent fields through their reference field),
        to turn Bulk CSV text into the JSON values the REST path gives."""
        schema = self.describe(object_name)
        by_lower = {name.lower(): info for name, info in schema.fields.items()}
        parents: dict[str, dict[str, FieldInfo]] = {}
        types: dict[str, FieldInfo | None] = {}
        for name in selected:
            rel, dot, child = name.partition(".")
            if not dot:
                types[name] = by_lower.get(name.lower())
                continue
            ref_name = rel[:-3] + "__c" if rel.lower().endswith("__r") else rel + "Id"
            ref = by_lower.get(ref_name.lower())
            target = ref.reference_to[0] if ref is not None and ref.reference_to else None
            if target is None:
                types[name] = None
                continue
            if target not in parents:
                parents[target] = {k.lower(): v for k, v in self.describe(target).fields.items()}
            types[name] = parents[target].get(child.lower())
        return types

    def _query_more(self, url: str, headers: dict[str, str]) -> Any:
        return self._transport.call(
            "query_more", lambda sf: sf.query_more(url, identifier_is_url=True, headers=headers)
        )

    @staticmethod
    def _records(result: Any, selected: list[str]) -> list[RemoteRecord]:
        if not isinstance(result, Mapping) or not isinstance(result.get("records"), list):
            raise FatalError("unexpected query answer: no records list")
        records = []
        for raw in result["records"]:
            if not isinstance(raw, Mapping):
                raise FatalError("unexpected query record (not an object)")
            flat = flatten_record(raw, selected)
            if flat.get("Id") is None or _STAMP_FIELD not in flat:
                raise FatalError(f"query record without Id or {_STAMP_FIELD}")
            records.append(
                RemoteRecord(id=str(flat["Id"]), stamp=parse_stamp(flat[_STAMP_FIELD]), fields=flat)
            )
        return records

    # -- writing -----------------------------------------------------------------------

    def write(self, *, object_name: str, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """Update existing records through sObject Collections (PATCH composite/sobjects,
        ``allOrNone: false``), at most 200 per call, or through Bulk API 2.0 ingest jobs
        when there are more than ``bulk_write_threshold``; one result per change, in order.
        Records rejected with UNABLE_TO_LOCK_ROW get one follow-up batch after a short
        back-off before they are reported (``retryable=True``). A record deleted in the CRM
        is reported ``gone`` on both paths: ENTITY_IS_DELETED (recycle bin), or
        INVALID_CROSS_REFERENCE_KEY naming no field (hard-deleted) once a read by id finds
        no such record. Every result is classified by `record_result`."""
        _check_object_name(object_name)
        if len(changes) > self._settings.bulk_write_threshold:
            results = self._bulk_write(object_name, changes)
        else:
            results = self._rest_write(object_name, changes)
        return self._confirm_missing(object_name, results)

    def _confirm_missing(self, object_name: str, results: list[WriteResult]) -> list[WriteResult]:
        """INVALID_CROSS_REFERENCE_KEY naming no field says no record has the id (hard-deleted)
        — or, from some triggers and lookups, that a referenced id is bad. Read those ids back
        (``Id IN``, 200 a query): one still there is a rejected write, not a deleted record."""
        missing = [r.id for r in results if r.gone and record_outcome(r.error_code) is RecordOutcome.MISSING]
        if not missing:
            return results
        found = {rec.id for page in self.read_ids(object_name=object_name, fields=[], ids=missing)
                 for rec in page.records}
        return [replace(r, gone=False) if r.gone and r.id in found else r for r in results]

    def _bulk_write(self, object_name: str, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """Bulk 2.0 ingest; rows the job rejected with UNABLE_TO_LOCK_ROW get one more try
        through sObject Collections after a short back-off."""
        results = BulkClient(self._transport).update(object_name, changes)
        # The one more try is plain sObject Collections batches: going through `_rest_write`
        # would give a row still locked a second follow-up of its own (three tries, not two).
        return self._retry_locked(changes, results, lambda again: self._patch_all(object_name, again))

    def _rest_write(self, object_name: str, changes: Sequence[RecordChange]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for start in range(0, len(changes), COLLECTION_BATCH):
            batch = list(changes[start : start + COLLECTION_BATCH])
            batch_results = self._patch(object_name, batch)
            results.extend(self._retry_locked(batch, batch_results,
                                              lambda again: self._patch(object_name, again)))
        return results

    def _patch_all(self, object_name: str, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """sObject Collections in batches of 200, with no follow-up batch of their own."""
        results: list[WriteResult] = []
        for start in range(0, len(changes), COLLECTION_BATCH):
            results.extend(self._patch(object_name, list(changes[start : start + COLLECTION_BATCH])))
        return results

    def _retry_locked(self, changes: Sequence[RecordChange], results: list[WriteResult],
                      again: Callable[[list[RecordChange]], list[WriteResult]]) -> list[WriteResult]:
        """Send the UNABLE_TO_LOCK_ROW rejects once more through `again` after a short back-off."""
        locked = [i for i, r in enumerate(results)
                  if not r.ok and record_outcome(r.error_code) is RecordOutcome.RETRY]
        if locked:
            self._transport.sleep(LOCK_RETRY_DELAY + random.uniform(0, LOCK_RETRY_DELAY))
            retried = again([changes[i] for i in locked])
            for i, result in zip(locked, retried, strict=True):
                results[i] = result
        return results

    def _patch(self, object_name: str, batch: list[RecordChange]) -> list[WriteResult]:
        body = {"allOrNone": False, "records": [_record_body(object_name, c) for c in batch]}
        answer = self._transport.call(
            "composite_sobjects",
            lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body),
        )
        if not isinstance(answer, list) or len(answer) != len(batch):
            raise FatalError(
                f"sObject Collections answered {len(answer) if isinstance(answer, list) else 0}"
                f" results for {len(batch)} records"
            )
        return [_write_result(change, raw) for change, raw in zip(batch, answer, strict=True)]

    # -- installing custom fields ------------------------------------------------------------

    def plan_fields(self, specs: Sequence[FieldSpec]) -> list[FieldChangePlan]:
        """Compare `specs` with the org's CustomField definitions (Metadata API
        ``readMetadata``, at most 10 names a call): one plan per spec, in order, with action
        create / update / unchanged. Compared: type, label, length (Text), precision/scale
        (Number), picklist values (Picklist), referenceTo (Lookup). Reads only."""
        return FieldInstaller(self._transport, self.current_user).plan(specs)

    def ensure_fields(self, specs: Sequence[FieldSpec], *, dry_run: bool = False,
                      assignees: Sequence[str] = ()) -> list[FieldChangePlan]:
        """Plan, then ``upsertMetadata`` the create/update ones (at most 10 per call; none
        when all are unchanged), then grant read/edit FLS on every spec field to the
        integration user through the ``Presales_Sync`` permission set (found or created,
        assigned to `current_user()`, FieldPermissions created in one POST and fixed in one
        PATCH composite/sobjects call, at most 200 each). Nothing is written when all is in
        place; `dry_run` only plans. Returns the plans.

        Raises `ConfigError` for an invalid spec or a rejected component / FieldPermissions
        record (naming the field and the status code)."""
        return FieldInstaller(self._transport, self.current_user).ensure(
            specs, dry_run=dry_run, assignees=assignees)

    def remove_fields(self, names: Sequence[str]) -> None:
        """Delete custom fields given as full names (``Opportunity.Presales_Step__c``),
        ``deleteMetadata`` at most 10 per call; names that do not exist are skipped."""
        FieldInstaller(self._transport, self.current_user).remove(names)

    # -- custom objects, upserts, the org setting ---------------------------------------------

    def ensure_objects(self, specs: Sequence[ObjectSpec], *, dry_run: bool = False,
                       assignees: Sequence[str] = ()) -> list[ObjectChangePlan]:
        """``readMetadata`` the objects (10 a call), ``createMetadata`` the missing ones (10 a
        call: a detail object with its Master-Detail field and external-id key inside, a list
        custom setting with ``Value__c``), then through the ``Presales_Sync`` permission set
        (assigned to `current_user()` and `assignees`) FLS on each key field and object
        permissions Read/Create/Edit on each detail object, Read/Edit on its master. An
        object that exists is left as it is; nothing is written when all is in place;
        `dry_run` only plans. Raises `ConfigError` for an invalid spec or a refused component."""
        return ObjectInstaller(self._transport, self.current_user).ensure(
            specs, dry_run=dry_run, assignees=assignees)

    def remove_objects(self, names: Sequence[str]) -> None:
        """``deleteMetadata`` the custom objects (with their records) that exist."""
        ObjectInstaller(self._transport, self.current_user).remove(names)

    def upsert(self, *, object_name: str, key_field: str,
               records: Sequence[RecordUpsert]) -> list[WriteResult]:
        """sObject Collections upsert by the external id `key_field`, 200 records a call,
        ``allOrNone: false``; one result per record in order, its `id` the record id (the key
        for a refused create). A key given twice is a `ConfigError` before any call."""
        return _records.upsert(self._transport, object_name, key_field, records)

    def org_setting(self, name: str, *, container: str) -> str | None:
        """``Value__c`` of the record named `name` of the list custom setting `container`."""
        return _records.org_setting(self._transport, name, container)

    def set_org_setting(self, name: str, value: str, *, container: str) -> None:
        """Create or update the record named `name` of the list custom setting `container`."""
        _records.set_org_setting(self._transport, name, value, container)

    # -- identity and accounting -----------------------------------------------------------

    def current_user(self) -> str:
        """The id of the user the integration runs as.

        JWT: the last path segment of the token response's ``id`` URL
        (``…/id/<org id>/<user id>``), no extra call. Session auth (or a token response
        without ``id``): one ``GET /services/oauth2/userinfo`` (Salesforce's OpenID Connect
        UserInfo endpoint), reading ``user_id``. Cached after the first success."""
        if self._user_id is None:
            user_id = self._transport.token_user_id
            if not user_id:
                info = self._transport.call("userinfo", lambda sf: sf.oauth2("userinfo"))
                user_id = info.get("user_id") if isinstance(info, Mapping) else None
                if not isinstance(user_id, str) or not user_id:
                    raise FatalError("userinfo answer has no user_id")
            self._user_id = user_id
        return self._user_id

    def api_calls(self) -> dict[str, int]:
        """HTTP exchanges made so far per endpoint family (every retry attempt counts)."""
        return self._transport.calls

    @property
    def api_usage(self) -> ApiUsage | None:
        """The org's daily API usage from the last ``Sforce-Limit-Info`` header seen."""
        return self._transport.api_usage
