"""`ZohoConnector`: the `connector.base.Connector` interface over Zoho CRM's v8 REST API
(field metadata, Get Records paging, bulk update, the Users API). Every HTTP exchange goes
through `Transport.request`.

Two wire conventions are settled here so the mapping stays plain data:

* a lookup (``Owner``, ``Modified_By``, ``Account_Name``, a user-lookup custom field) read
  by its plain name is its **id**, and one written by its plain name is sent as
  ``{"id": …}``; ``Account_Name.name`` reads a key of the lookup object;
* the Users API (``object_name`` ``users`` or ``User``) is written with ``PUT /users``, everything else
  is a records module (``PUT /{module}``, always with ``"trigger": []`` so no workflow,
  approval or blueprint of the org fires on our write-backs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from presales_sync.connector.zoho._install import FieldInstaller
from presales_sync.connector.zoho._metadata import checked_fields
from presales_sync.connector.zoho._objects import ObjectInstaller
from presales_sync.connector.zoho._transport import Answer, Transport
from presales_sync.connector.zoho._upsert import check_keys
from presales_sync.connector.zoho._upsert import upsert as upsert_records
from presales_sync.connector.zoho._variables import set_value, value_of

API = "/crm/v8"
#: Get Records: at most 50 fields a call, 200 records a page, and `page` reaches only the
#: first 2,000 records; past them `page_token` must be used.
FIELDS_PER_CALL = 50
PER_PAGE = 200
DISCRETE_LIMIT = 2000
#: PUT /{module} and PUT /users take at most 100 records.
WRITE_BATCH = 100
#: Get Records takes at most 100 ids a call.
READ_IDS_BATCH = 100
_RECORD_ID = re.compile(r"^\d{1,25}$")
USERS = "users"
#: Object names written through the Users API: Zoho's own and the one sync/ uses for people.
USER_OBJECTS = frozenset({"users", "user"})
STAMP_FIELD = "Modified_Time"
#: Per-record codes worth sending again next run (the record is busy, not wrong).
RETRYABLE_RECORD_CODES = frozenset({"RECORD_LOCKED", "INTERNAL_ERROR"})
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup", "userlookup"})
#: Get Records' answer to a page_token past the 100,000 records one paged read reaches.
REACH_EXCEEDED = "PAGINATION_LIMIT_EXCEEDED"

_MODULE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FIELD = re.compile(r"^[A-Za-z_$][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

#: Zoho ``data_type`` → the describe vocabulary `mappings.validate` checks types against.
DESCRIBE_TYPES: dict[str, str] = {
    "text": "string", "autonumber": "string", "website": "url", "multiselectpicklist": "multipicklist",
    "integer": "int", "bigint": "long", "lookup": "reference", "ownerlookup": "reference",
    "userlookup": "reference",
}


def check_module(name: str) -> None:
    if not isinstance(name, str) or not _MODULE.match(name):
        raise ConfigError(f"invalid Zoho module name {name!r}")


def wire_fields(fields: Sequence[str]) -> list[str]:
    """The API names to ask for: each field's first segment, de-duplicated, ``Modified_Time``
    first (``id`` always comes back)."""
    if isinstance(fields, str):
        raise TypeError("fields must be a sequence of field names, not a string")
    names: dict[str, None] = {STAMP_FIELD: None}
    for name in fields:
        if not isinstance(name, str) or not _FIELD.match(name):
            raise ConfigError(f"invalid Zoho field name {name!r}")
        if name != "id":
            names.setdefault(name.split(".", 1)[0], None)
    return list(names)


def field_batches(names: Sequence[str]) -> list[list[str]]:
    """`names` in calls of at most 50 fields; the first holds ``Modified_Time``."""
    return [list(names[i : i + FIELDS_PER_CALL]) for i in range(0, len(names), FIELDS_PER_CALL)]


def zoho_datetime(value: datetime) -> str:
    """An aware datetime as Zoho wants it: ISO 8601, whole seconds, explicit offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("since must be an aware datetime")
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


_UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


def wire_value(value: Any) -> Any:
    """A value as Zoho takes it: datetimes (objects, or UTC text like ``….000Z``) in whole
    seconds with an explicit offset, which is all Zoho accepts; everything else unchanged."""
    if isinstance(value, datetime):
        return zoho_datetime(value)
    if isinstance(value, str) and _UTC_STAMP.match(value):
        return value[:19] + "+00:00"
    return value


def parse_stamp(value: Any) -> datetime:
    """``2026-11-21T15:12:13+05:30`` → aware UTC datetime."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    raise FatalError(f"unexpected {STAMP_FIELD} value {value!r}")


def flatten(record: Mapping[str, Any], requested: Sequence[str]) -> dict[str, Any]:
    """The requested values of one record: a lookup object by its plain name gives its id,
    ``Lookup.key`` one of its keys (None when the lookup is empty). Absent stays absent."""
    flat: dict[str, Any] = {}
    for name in requested:
        head, dot, key = name.partition(".")
        if head not in record:
            continue
        value = record[head]
        if not dot:
            flat[name] = value.get("id") if isinstance(value, Mapping) and "id" in value else value
        elif value is None:
            flat[name] = None
        elif isinstance(value, Mapping):
            if key in value:
                flat[name] = value[key]
        else:
            raise FatalError(f"expected a lookup object for {head!r}, got {type(value).__name__}")
    return flat


class _ReachExceededError(Exception):
    """Get Records refused to page further (``PAGINATION_LIMIT_EXCEEDED``); never leaves
    the adapter: the read continues from the newest stamp handed out."""


@dataclass
class Continuation:
    """Where a read stands, so that it can start again past Get Records' reach.

    Each paged read asks for ``Modified_Time >= since`` sorted ascending, so when one runs out
    of reach every record older than the newest stamp handed out (`stamp`) has been handed
    out, and so have `ids` of those at that stamp. The next read starts at `stamp` (a closed
    bound: Zoho stamps whole seconds, and many records can share one) and skips `ids`."""

    module: str
    since: datetime | None
    stamp: datetime | None = None
    ids: set[str] = field(default_factory=set)
    progressed: bool = False

    def headers(self) -> dict[str, str]:
        """``If-Modified-Since`` a second before `since`, right whether Zoho's filter is
        inclusive or not; the exact bound is applied to what comes back."""
        if self.since is None:
            return {}
        return {"If-Modified-Since": zoho_datetime(self.since - timedelta(seconds=1))}

    def fresh(self, records: list[RemoteRecord]) -> list[RemoteRecord]:
        """`records` less those already handed out; remembers the ones at the newest stamp."""
        out = []
        for record in records:
            if record.stamp == self.stamp and record.id in self.ids:
                continue
            if self.stamp is None or record.stamp > self.stamp:
                self.stamp, self.ids = record.stamp, set()
            if record.stamp == self.stamp:
                self.ids.add(record.id)
            out.append(record)
        self.progressed = self.progressed or bool(out)
        return out

    def restart(self) -> None:
        """Continue from the newest stamp handed out. A paged read that handed out nothing new
        would be repeated for ever: more records share one second than Zoho pages through."""
        if not self.progressed or self.stamp is None:
            at = self.stamp or self.since
            raise FatalError(
                f"{self.module}: more records share Modified_Time {at.isoformat() if at else '(one second)'} "
                "than one Get Records read reaches (100,000 records): the read cannot go past them",
                code=REACH_EXCEEDED)
        self.since, self.progressed = self.stamp, False


def updateable(raw: Mapping[str, Any]) -> bool:
    """Whether the API may write the field: ``operation_type.api_update`` (when Zoho gives
    it) and not ``read_only``. ``field_read_only`` is not asked: Zoho sets it on fields such
    as ``Owner`` that the API does update (real answers: field_read_only true, read_only
    false, api_update true)."""
    operations = raw.get("operation_type")
    api_update = operations.get("api_update") if isinstance(operations, Mapping) else None
    return (api_update is not False) and not raw.get("read_only")


def _field_info(raw: Mapping[str, Any]) -> FieldInfo:
    data_type = str(raw.get("data_type") or "")
    lookup = raw.get("lookup")
    reference: tuple[str, ...] = ()
    if data_type in ("ownerlookup", "userlookup"):
        reference = (USERS,)
    elif data_type == "lookup" and isinstance(lookup, Mapping) and isinstance(lookup.get("module"), Mapping):
        reference = (str(lookup["module"].get("api_name") or ""),)
    return FieldInfo(
        name=str(raw["api_name"]),
        type=DESCRIBE_TYPES.get(data_type, data_type),
        label=str(raw.get("field_label") or raw.get("display_label") or ""),
        custom=bool(raw.get("custom_field", False)),
        updateable=updateable(raw) and data_type not in ("autonumber", "formula", "rollup_summary"),
        nillable=not raw.get("system_mandatory", False),
        length=int(raw.get("length") or 0),
        picklist_values=tuple(str(v.get("actual_value")) for v in raw.get("pick_list_values") or ()
                              if isinstance(v, Mapping) and v.get("actual_value") is not None),
        # Zoho accepts only a picklist's own values over the API.
        restricted_picklist=data_type == "picklist",
        reference_to=reference,
    )


def _record_result(change: RecordChange, raw: Any) -> WriteResult:
    if not isinstance(raw, Mapping):
        raise FatalError(f"unexpected write result entry {raw!r}")
    if raw.get("status") == "success":
        return WriteResult(id=change.id, ok=True)
    code = str(raw.get("code") or "UNKNOWN")
    message = str(raw.get("message") or "")
    details = raw.get("details")
    if isinstance(details, Mapping) and details.get("api_name"):
        message = f"{details['api_name']}: {message}"
        if details.get("expected_data_type"):
            message += f" (expected {details['expected_data_type']})"
    # An unknown id (the record was deleted) is INVALID_DATA on the id itself.
    gone = code == "INVALID_DATA" and isinstance(details, Mapping) and details.get("api_name") == "id"
    return WriteResult(id=change.id, ok=False, error_code=code, message=message or None,
                       retryable=code in RETRYABLE_RECORD_CODES, gone=gone)


class ZohoConnector:
    """The Zoho CRM adapter. Build it with `connector.zoho.connect`."""

    kind = "zoho"
    write_batch = WRITE_BATCH

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._user_id: str | None = None
        self._schemas: dict[str, ObjectSchema] = {}
        # Which fields are lookups, learnt from describe or from values read (a lookup reads
        # as an object): a write then needs no metadata call to know to send {"id": …}.
        self._lookups: dict[str, dict[str, bool]] = {}

    def __repr__(self) -> str:
        return f"ZohoConnector(data_center={self._transport.settings.data_center!r})"

    # -- schema ------------------------------------------------------------------------

    def describe(self, object_name: str) -> ObjectSchema:
        """``GET /settings/fields?module=…`` as an `ObjectSchema` (types in the describe
        vocabulary: text → string, integer → int, lookups → reference, …)."""
        check_module(object_name)
        raw = self.fields_metadata(object_name)
        schema = ObjectSchema(name=object_name, fields={f.name: f for f in map(_field_info, raw)})
        self._schemas[object_name] = schema
        kinds = self._lookups.setdefault(object_name, {})
        for entry in raw:
            kinds[str(entry["api_name"])] = entry.get("data_type") in LOOKUP_TYPES
        return schema

    def fields_metadata(self, module: str) -> list[Mapping[str, Any]]:
        """The raw field entries of `module` (one call), each with the keys the adapter
        relies on (`checked_fields`: a `FatalError` naming the call and the field otherwise)."""
        answer = self._transport.request("fields", "GET", f"{API}/settings/fields", params={"module": module})
        return checked_fields(f"GET {API}/settings/fields?module={module}", answer.body)

    # -- reading -----------------------------------------------------------------------

    def read_changed(
        self, *, object_name: str, fields: Sequence[str], since: datetime | None
    ) -> Iterator[Page]:
        """Records with ``Modified_Time >= since`` (all when None), in (stamp, id) order
        within each page, streamed lazily; each record once, however large the module.

        ``GET /{module}`` with ``sort_by=Modified_Time&sort_order=asc``, ``per_page=200``,
        ``page`` for the first 2,000 records and ``page_token`` after them, and
        ``If-Modified-Since`` one second before `since` (Zoho's filter is at whole seconds and
        its inclusiveness undocumented; the exact bound is applied here). 204 and 304 mean
        nothing changed. Wider than 50 fields: one call per 50 for each page, merged by id.

        One paged read reaches 100,000 records (``PAGINATION_LIMIT_EXCEEDED`` past them): the
        read then starts again from the newest ``Modified_Time`` handed out, skipping the
        records already handed out at that second (`Continuation`)."""
        check_module(object_name)
        requested = ["id", STAMP_FIELD, *fields]
        batches = field_batches(wire_fields(fields))
        return self._pages(object_name, requested, batches, Continuation(object_name, since))

    def _pages(self, module: str, requested: list[str], batches: list[list[str]],
               cont: Continuation) -> Iterator[Page]:
        number = 0
        while True:
            try:
                for answers in self._paged_read(module, batches, cont.headers()):
                    number += 1
                    yield Page(records=cont.fresh(self._merge(module, answers, requested, cont.since)),
                               number=number)
                return
            except _ReachExceededError:
                cont.restart()

    def _paged_read(self, module: str, batches: list[list[str]],
                    headers: dict[str, str]) -> Iterator[list[dict[str, Any] | None]]:
        """One paged read: each page's answers (one per field batch), until no more records.
        Raises `_ReachExceededError` when Zoho refuses to page further."""
        page = 1
        tokens: list[str | None] = [None] * len(batches)
        seen_tokens: set[str] = set()
        while True:
            answers = [self._get_page(module, batch, page, tokens[i], headers)
                       for i, batch in enumerate(batches)]
            primary = answers[0]
            if primary is None:
                return
            yield answers
            info = primary.get("info")
            info = info if isinstance(info, Mapping) else {}
            if not info.get("more_records"):
                return
            if page * PER_PAGE >= DISCRETE_LIMIT or tokens[0] is not None:
                for i, answer in enumerate(answers):
                    token = (answer or {}).get("info", {}).get("next_page_token")
                    if not isinstance(token, str) or not token:
                        raise FatalError(
                            f"{module}: more records past {page * PER_PAGE} but no next_page_token")
                    if token in seen_tokens:
                        raise FatalError(f"{module}: paging loops (next_page_token repeated)")
                    seen_tokens.add(token)
                    tokens[i] = token
            page += 1

    def read_ids(
        self, *, object_name: str, fields: Sequence[str], ids: Sequence[str]
    ) -> Iterator[Page]:
        """The records with these ids (``GET /{module}?ids=``, at most 100 a call; wider than
        50 fields: one call per 50, merged by id). Deleted ones are absent."""
        check_module(object_name)
        bad = [i for i in ids if not isinstance(i, str) or not _RECORD_ID.match(i)]
        if bad:
            raise ConfigError(f"not Zoho record ids: {bad[:3]!r}")
        requested = ["id", STAMP_FIELD, *fields]
        return self._id_pages(object_name, requested, field_batches(wire_fields(fields)),
                              list(dict.fromkeys(ids)))

    def _id_pages(self, module: str, requested: list[str], batches: list[list[str]],
                  ids: list[str]) -> Iterator[Page]:
        for number, start in enumerate(range(0, len(ids), READ_IDS_BATCH), 1):
            chunk = ",".join(ids[start : start + READ_IDS_BATCH])
            answers = []
            for batch in batches:
                answer: Answer = self._transport.request(
                    "get_records", "GET", f"{API}/{module}", params={"fields": ",".join(batch), "ids": chunk})
                answers.append(answer.body)
            if answers[0] is not None:
                yield Page(records=self._merge(module, answers, requested, None), number=number)

    def _get_page(self, module: str, batch: list[str], page: int, token: str | None,
                  headers: dict[str, str]) -> dict[str, Any] | None:
        params: dict[str, Any] = {"fields": ",".join(batch), "per_page": PER_PAGE,
                                  "sort_by": STAMP_FIELD, "sort_order": "asc"}
        if token is not None:
            params["page_token"] = token  # `page` and `page_token` together are refused
        else:
            params["page"] = page
        try:
            answer: Answer = self._transport.request("get_records", "GET", f"{API}/{module}",
                                                     params=params, headers=headers)
        except FatalError as err:
            if err.code == REACH_EXCEEDED:
                raise _ReachExceededError(str(err)) from err
            raise
        if answer.body is None:  # 204 no records / 304 none modified since
            return None
        if not isinstance(answer.body.get("data"), list):
            raise FatalError(f"unexpected Get Records answer for {module}: no data list")
        return answer.body

    def _merge(self, module: str, answers: list[dict[str, Any] | None], requested: list[str],
               since: datetime | None) -> list[RemoteRecord]:
        """One page's records, the field batches joined by id. A record missing from a
        batch, or whose Modified_Time differs between batches, changed while the page was
        read: it is left out here and comes back, newer, in the next run."""
        rows: dict[str, dict[str, Any]] = {}
        stamps: dict[str, Any] = {}
        dropped: set[str] = set()
        for n, answer in enumerate(answers):
            data = (answer or {}).get("data") or []
            ids = set()
            for raw in data:
                if not isinstance(raw, Mapping) or not raw.get("id"):
                    raise FatalError(f"unexpected {module} record (no id)")
                rid = str(raw["id"])
                ids.add(rid)
                if n == 0:
                    rows[rid] = dict(raw)
                    stamps[rid] = raw.get(STAMP_FIELD)
                elif rid in rows:
                    if STAMP_FIELD in raw and raw[STAMP_FIELD] != stamps[rid]:
                        dropped.add(rid)
                    rows[rid].update(raw)
            if n > 0:
                dropped |= set(rows) - ids
        kinds = self._lookups.setdefault(module, {})
        records = []
        for rid, raw in rows.items():
            if rid in dropped:
                continue
            for key, value in raw.items():
                if value is not None:
                    kinds.setdefault(key, isinstance(value, Mapping) and "id" in value)
            stamp = parse_stamp(raw.get(STAMP_FIELD))
            if since is not None and stamp < since:
                continue
            flat = flatten(raw, requested)
            flat["id"] = rid
            records.append(RemoteRecord(id=rid, stamp=stamp, fields=flat))
        records.sort(key=lambda r: (r.stamp, r.id))
        return records

    # -- writing -----------------------------------------------------------------------

    def write(self, *, object_name: str, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """Update existing records, at most 100 per call: ``PUT /{module}`` with
        ``"trigger": []``, or ``PUT /users`` for ``object_name`` ``users`` / ``User``. Every entry of the
        answer is read (200 all done, 207 mixed, 400 all refused); one result per change, in
        order. Lookup fields are sent as ``{"id": …}``."""
        check_module(object_name)
        users = object_name.lower() in USER_OBJECTS
        module = USERS if users else object_name
        lookups = self._lookup_fields(module, {k for c in changes for k in c.fields})
        results: list[WriteResult] = []
        for start in range(0, len(changes), WRITE_BATCH):
            batch = list(changes[start : start + WRITE_BATCH])
            rows = [self._row(c, lookups) for c in batch]
            key = "users" if users else "data"
            body: dict[str, Any] = {key: rows} if users else {key: rows, "trigger": []}
            answer = self._transport.request("update_users" if users else "update_records", "PUT",
                                             f"{API}/{module}", json=body, record_errors=True)
            entries = answer.body.get(key) if answer.body is not None else None
            if not isinstance(entries, list) or len(entries) != len(batch):
                raise FatalError(f"PUT {module} answered {len(entries) if isinstance(entries, list) else 0}"
                                 f" results for {len(batch)} records")
            results.extend(_record_result(c, raw) for c, raw in zip(batch, entries, strict=True))
        return results

    def _lookup_fields(self, module: str, names: set[str]) -> set[str]:
        kinds = self._lookups.get(module, {})
        if any(n not in kinds for n in names if n != "id"):
            self.describe(module)
            kinds = self._lookups.get(module, {})
        return {n for n in names if kinds.get(n)}

    @staticmethod
    def _row(change: RecordChange, lookups: set[str]) -> dict[str, Any]:
        row: dict[str, Any] = {"id": change.id}
        for name, value in change.fields.items():
            if name == "id":
                continue  # the id comes from the change, never from its field map
            row[name] = {"id": value} if name in lookups and value is not None else wire_value(value)
        return row

    # -- installing custom fields --------------------------------------------------------

    def plan_fields(self, specs: Sequence[FieldSpec]) -> list[FieldChangePlan]:
        """Compare `specs` with the modules' fields (one metadata read per module)."""
        return FieldInstaller(self).plan(specs)

    def ensure_fields(self, specs: Sequence[FieldSpec], *, dry_run: bool = False,
                      assignees: Sequence[str] = ()) -> list[FieldChangePlan]:
        """Create missing fields (``POST /settings/fields``, at most 5 a call), update
        changed ones (``PATCH``), then re-read the fields to learn the API names Zoho gave
        them; a name other than the spec's is a `ConfigError` telling the admin what to map.
        Zoho grants field access per profile, not per user: `assignees` need nothing."""
        return FieldInstaller(self).ensure(specs, dry_run=dry_run)

    def remove_fields(self, names: Sequence[str]) -> None:
        """Delete custom fields given as ``Module.Api_Name``; missing ones are skipped."""
        FieldInstaller(self).remove(names)

    # -- custom modules, upsert, org values --------------------------------------------------

    def ensure_objects(self, specs: Sequence[ObjectSpec], *, dry_run: bool = False,
                       assignees: Sequence[str] = ()) -> list[ObjectChangePlan]:
        """Create the missing detail modules (``POST /settings/modules`` for every profile:
        Zoho grants module access per profile, so `assignees` need nothing more), then their
        lookup to the parent and their unique key field (`_objects`). ``kind="setting"``
        needs nothing in Zoho (org variables). An installed module costs reads only."""
        return ObjectInstaller(self).ensure(specs, dry_run=dry_run)

    def remove_objects(self, names: Sequence[str]) -> None:
        """Zoho has no API to delete a module: missing ones are fine, an existing one is a
        `ConfigError` naming the step in Zoho's setup."""
        ObjectInstaller(self).remove(names)

    def upsert(self, *, object_name: str, key_field: str,
               records: Sequence[RecordUpsert]) -> list[WriteResult]:
        """``POST /{module}/upsert`` with ``duplicate_check_fields: [key_field]``, 100 a call;
        lookups sent as ``{"id": …}``; one result per record in order, its id the record's
        (a refused record's result carries its key). Keys repeated in the call are a
        `ConfigError` before anything is sent."""
        check_module(object_name)
        if not isinstance(key_field, str) or not _MODULE.match(key_field):
            raise ConfigError(f"invalid Zoho key field {key_field!r}")
        check_keys(key_field, records)
        if not records:
            return []
        lookups = self._lookup_fields(object_name, {k for r in records for k in r.fields})
        return upsert_records(self, object_name, key_field, records, lookups)

    def org_setting(self, name: str, *, container: str) -> str | None:
        """The org variable `name` of the variable group `container` (None when absent)."""
        return value_of(self._transport, name, container)

    def set_org_setting(self, name: str, value: str, *, container: str) -> None:
        """Create the text variable `name` in group `container`, or replace its value."""
        set_value(self._transport, name, value, container)

    @property
    def transport(self) -> Transport:
        return self._transport

    # -- identity and accounting -----------------------------------------------------------

    def current_user(self) -> str:
        """The integration user's id (``GET /users?type=CurrentUser``), kept with the token
        (and in the token cache, so later runs need no call): its writes carry this id in
        ``Modified_By``, which is how the sync recognises its own echo."""
        if self._user_id is None:
            self._user_id = self._transport.user_id
        if self._user_id is None:
            answer = self._transport.request("users", "GET", f"{API}/users", params={"type": "CurrentUser"})
            users = answer.body.get("users") if answer.body is not None else None
            user_id = users[0].get("id") if isinstance(users, list) and users and isinstance(
                users[0], Mapping) else None
            if not isinstance(user_id, str) or not user_id:
                raise FatalError("GET /users?type=CurrentUser answered without a user id")
            self._user_id = user_id
            self._transport.remember_user(user_id)
        return self._user_id

    def api_calls(self) -> dict[str, int]:
        """HTTP exchanges made so far per endpoint family (every retry attempt and token
        grant counts)."""
        return self._transport.calls

    @property
    def api_usage(self) -> ApiUsage | None:
        """Credits used out of the configured daily allowance. Zoho sends
        ``X-API-CREDITS-REMAINING`` only once half the credits are gone; before that, and
        without ``daily_credits`` in the settings, the usage is unknown (None) or taken as 0."""
        total = self._transport.settings.daily_credits
        if total is None:
            return None
        remaining = self._transport.credits_remaining
        return ApiUsage(0 if remaining is None else max(0, total - remaining), total)

    @property
    def credits_remaining(self) -> int | None:
        """``X-API-CREDITS-REMAINING`` as last reported (Zoho sends it past half the day's use)."""
        return self._transport.credits_remaining
