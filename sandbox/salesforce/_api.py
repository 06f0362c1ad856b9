"""The Salesforce REST subset, independent of the HTTP server: request in, `Reply` out.

Keeping the API logic apart from `http.server` keeps each piece small and lets the
routing, auth, call accounting and error bodies be read in one place. Error bodies follow
SALESFORCE.md 2.5 (REST errors are JSON *lists*; OAuth errors are JSON objects), because
simple-salesforce and our connector branch on exactly those shapes.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt

from presales_sync.sandbox.core._clock import Clock, SystemClock, now_ms
from presales_sync.sandbox.core._faults import (
    FaultPlan,
    FaultRule,
    FaultSpecError,
    Injection,
    parse_spec,
    rules_from_json,
)
from presales_sync.sandbox.core._http import Reply, Request
from presales_sync.sandbox.core._stats import CallStats
from presales_sync.sandbox.salesforce import _bulk, _metadata, _upsert
from presales_sync.sandbox.salesforce._catalog import FieldDef, ObjectDef
from presales_sync.sandbox.salesforce._metadata_objects import ObjectMetadata
from presales_sync.sandbox.salesforce._objects import auto_name, child_relationships, ensure_organization
from presales_sync.sandbox.salesforce._query import compile_select
from presales_sync.sandbox.salesforce._security import (
    SECURITY_TYPES,
    ensure_installed,
    object_access,
    objects_for,
    security_errors,
)
from presales_sync.sandbox.salesforce._soql import SoqlError, parse
from presales_sync.sandbox.salesforce._store import Cursor, Store
from presales_sync.sandbox.salesforce._values import (
    WriteValueError,
    make_id,
    normalize_id,
    to_json,
    to_storage,
)

MIN_VERSION, MAX_VERSION = 31, 68
DAILY_LIMIT = 15000
MAX_COLLECTION = 200
DEFAULT_BATCH, MIN_BATCH = 2000, 200
#: Children a nested QueryResult holds before it pages: "roughly 200+" ([secondary] qiita
#: comefigo; the threshold is not documented, issue-14-wire-facts §4).
DEFAULT_CHILD_BATCH = 200
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: The audiences a real org accepts in a JWT bearer assertion (production, sandbox), even when
#: the assertion is posted to its My Domain URL; anything else is "audience is invalid".
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
_SOAP_PATH = re.compile(r"^/services/Soap/m/(\d+)\.(\d)/?$")
_VERSION_PATH = re.compile(r"^/services/data/v(\d+)\.(\d)(/.*)?$")
_LOCATOR = re.compile(r"^(01g[A-Za-z0-9]+)-(\d+)$")
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
ROW_LOCK = {
    "statusCode": "UNABLE_TO_LOCK_ROW",
    "message": "unable to obtain exclusive access to this record",
    "fields": [],
}
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
    "fields": [],
}


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.reply = Reply(status, body)


def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> ApiError:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return ApiError(status, [item])


def release_label(major: int) -> str:
    """Salesforce's release name for an API version (66 → "Spring '26")."""
    d = major - 66
    season = ("Spring", "Summer", "Winter")[d % 3]
    year = 26 + d // 3 + (1 if season == "Winter" else 0)
    return f"{season} '{year:02d}"


@dataclass(frozen=True)
class Identity:
    """What the token endpoint and userinfo need to know about the org and its OAuth client."""

    org_id: str
    consumer_key: str
    public_key_pem: bytes


class Api:
    """Routes one request, counts it, and renders the reply."""

    def __init__(self, store: Store, identity: Identity, faults: FaultPlan | None = None, *,
                 stats: CallStats | None = None, clock: Clock | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.identity = identity
        self.faults = faults if faults is not None else FaultPlan()
        self.base_url = ""  # set once the server is bound
        #: Whether a JWT ``aud`` of this org's own URL (its My Domain) is accepted. A real org
        #: accepts only its authorization server's URL, so by default neither do we.
        self.accept_my_domain_audience = False
        #: Child records per page of a parent-to-child subquery's QueryResult (tests lower it).
        self.child_batch = DEFAULT_CHILD_BATCH
        self.calls = stats if stats is not None else CallStats()
        self._usage = 0
        self._lock = threading.Lock()
        ensure_installed(store)
        ensure_organization(store)
        self._metadata = _metadata.MetadataService(store, ObjectMetadata(store))
        self.bulk = _bulk.BulkService(self)

    # -- accounting ------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self.calls.snapshot()

    def reset_stats(self) -> None:
        self.calls.reset()

    def record_call(self, family: str) -> None:
        """Count a call served elsewhere (the Zoho half) in the same stats."""
        self._count(family, api=False)

    def _count(self, family: str, *, api: bool = True) -> int:
        self.calls.count(family)
        with self._lock:
            if api:
                self._usage += 1
            return self._usage

    # -- entry point -----------------------------------------------------------------------

    def handle(self, req: Request) -> Reply:
        family = self._family(req)
        if family == "sandbox_admin":
            return self._sandbox(req)
        usage = self._count(family, api=family != "versions")
        injection = self.faults.take("salesforce", family, _write_ids(req, family))
        if injection.delay:  # latency is real time: a client's timeout runs on the machine's clock
            time.sleep(injection.delay)
        try:
            if injection.error is not None:
                reply = self._fault_reply(req, family, injection.error)
            else:
                reply = self._dispatch(_with_locks(req, injection), family)
        except ApiError as e:
            reply = e.reply
        except SoqlError as e:
            reply = Reply(400, [{"message": e.message, "errorCode": e.code}])
        if family != "versions":
            reply.headers["Sforce-Limit-Info"] = f"api-usage={usage}/{DAILY_LIMIT}"
        reply.drop = injection.drop
        return reply

    def _fault_reply(self, req: Request, family: str, rule: FaultRule) -> Reply:
        """An injected error in Salesforce's own shapes (SALESFORCE.md 2.5)."""
        soap = family == "metadata"
        xml = {"Content-Type": _metadata.XML_TYPE}
        if rule.kind == "rate_limit":
            text = "TotalRequests Limit exceeded."
            if soap:
                return Reply(500, _metadata.fault("REQUEST_LIMIT_EXCEEDED", text), xml)
            return Reply(403, [{"message": text, "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
        if rule.kind == "session_expired":
            token = _metadata.parse_request(req.body)[0] if soap else _bearer(req)
            if token:
                self.store.revoke_session(token)
            if soap:
                return Reply(500, _metadata.fault("INVALID_SESSION_ID", "Invalid Session ID found in "
                                                  "SessionHeader: Illegal Session"), xml)
            return Reply(401, INVALID_SESSION)
        if rule.status == 503:
            return Reply(503, b"Service Unavailable", {"Content-Type": "text/plain"})
        return Reply(rule.status, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error "
                                    "occurred. Please include this ErrorId if you contact support: fault"}])

    @staticmethod
    def _family(req: Request) -> str:
        path = req.path
        if path.startswith("/_sandbox/"):
            return "sandbox_admin"
        if path.rstrip("/") == "/services/data":
            return "versions"
        if path == "/services/oauth2/token":
            return "oauth_token"
        if path == "/services/oauth2/userinfo":
            return "userinfo"
        if _SOAP_PATH.match(path):
            return "metadata"
        m = _VERSION_PATH.match(path)
        if not m:
            return "other"
        rest = (m.group(3) or "/").strip("/").split("/")
        if rest[0] == "query":
            return "query_more" if len(rest) > 1 and rest[1] else "query"
        if rest[0] == "jobs":
            return _bulk.family(req.method, rest)
        if rest == ["composite", "sobjects"]:
            return "composite_create" if req.method == "POST" else "composite_sobjects"
        if rest[:2] == ["composite", "sobjects"] and len(rest) == 4:
            return "composite_sobjects"  # upsert by external id: a record write like the update
        if rest[0] == "sobjects" and len(rest) == 2 and req.method == "POST":
            return "sobject_create"
        if rest[0] == "sobjects" and len(rest) == 3 and req.method == "DELETE":
            return "sobject_delete"
        if rest[0] == "sobjects" and len(rest) == 3:
            if rest[2] == "describe":
                return "describe"
            return {"PATCH": "sobject_patch", "GET": "sobject_get"}.get(req.method, "sobject_other")
        return "other"

    def _sandbox(self, req: Request) -> Reply:
        if req.path.rstrip("/") == "/_sandbox/stats" and req.method == "GET":
            return Reply(200, self.stats())
        if req.path.rstrip("/") == "/_sandbox/stats/reset" and req.method == "POST":
            self.reset_stats()
            return Reply(200, self.stats())
        if req.path.rstrip("/") in ("/_sandbox/stats", "/_sandbox/stats/reset"):
            return _method_not_allowed(req.method, "GET" if req.path.endswith("stats") else "POST")
        if req.path.rstrip("/") == "/_sandbox/faults":
            return self._faults_admin(req)
        if req.path.rstrip("/") == "/_sandbox/usage":
            return self._usage_admin(req)
        return Reply(404, NOT_FOUND)

    def _usage_admin(self, req: Request) -> Reply:
        """GET the org's daily API usage; POST {"used": N} to pretend other integrations
        already spent N of the allowance (for budget tests)."""
        if req.method == "POST":
            try:
                used = json.loads(req.body or b"{}")["used"]
                if not isinstance(used, int) or used < 0:
                    raise ValueError(used)
            except (ValueError, KeyError, TypeError):
                return Reply(400, [{"errorCode": "JSON_PARSER_ERROR", "message": 'expected {"used": N}'}])
            with self._lock:
                self._usage = used
        elif req.method != "GET":
            return _method_not_allowed(req.method, "GET, POST")
        with self._lock:
            return Reply(200, {"used": self._usage, "total": DAILY_LIMIT})

    def _faults_admin(self, req: Request) -> Reply:
        """GET the plan (with how often each rule fired), POST a new one, DELETE it."""
        if req.method == "DELETE":
            self.faults.clear()
        elif req.method == "POST":
            text = req.body.decode("utf-8", "replace").strip()
            try:
                rules = rules_from_json(json.loads(text)) if text.startswith(("[", "{")) else parse_spec(text)
            except (FaultSpecError, json.JSONDecodeError) as e:
                return Reply(400, [{"errorCode": "INVALID_FAULT_PLAN", "message": str(e)}])
            self.faults.set(rules)
        elif req.method != "GET":
            return _method_not_allowed(req.method, "GET,POST,DELETE")
        return Reply(200, {"faults": self.faults.describe()})

    def _dispatch(self, req: Request, family: str) -> Reply:
        if family == "versions":
            if req.method not in ("GET", "HEAD"):
                return _method_not_allowed(req.method, "GET,HEAD")
            return Reply(
                200,
                [
                    {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                    for v in range(MIN_VERSION, MAX_VERSION + 1)
                ],
            )
        if family == "oauth_token":
            if req.method != "POST":
                return _method_not_allowed(req.method, "POST")
            return self._token(req)
        if family == "userinfo":
            user_id = self._authenticate(req)
            if req.method not in ("GET", "POST"):
                return _method_not_allowed(req.method, "GET,POST")
            return self._userinfo(user_id)
        if family == "metadata":
            return self._soap(req)
        m = _VERSION_PATH.match(req.path)
        if not m:
            return Reply(404, NOT_FOUND)
        major, minor = int(m.group(1)), int(m.group(2))
        if not (MIN_VERSION <= major <= MAX_VERSION) or minor != 0:
            return Reply(404, NOT_FOUND)
        version = f"{major}.{minor}"
        user_id = self._authenticate(req)
        rest = (m.group(3) or "/").strip("/").split("/")
        if rest[0] == "jobs":
            return self.bulk.handle(req, version, user_id, rest)
        if family == "query":
            return self._only(req, "GET") or self._query(req, version, user_id)
        if family == "query_more":
            return self._only(req, "GET") or self._query_more(req, version, rest[1])
        if family == "composite_create":
            return self._create_many(req, user_id)
        if family == "composite_sobjects" and len(rest) == 4:
            return self._only(req, "PATCH") or _upsert.upsert(self, req, rest[2], rest[3], user_id)
        if family == "composite_sobjects":
            return self._only(req, "PATCH") or self._composite(req, user_id)
        if family == "describe":
            return self._only(req, "GET") or self._describe(rest[1], version, user_id)
        if family == "sobject_create":
            return self._create_one(req, rest[1], user_id)
        if family == "sobject_delete" and (rest[1].lower() in _DELETABLE or self._is_custom(rest[1])):
            return self._delete_record(rest[1], rest[2], user_id)
        if rest[0] == "sobjects" and len(rest) == 3:
            if req.method == "GET":
                return self._get_record(rest[1], rest[2], version, user_id)
            if req.method == "PATCH":
                return self._patch_record(req, rest[1], rest[2], user_id)
            return _method_not_allowed(req.method, "GET,PATCH,HEAD")
        return Reply(404, NOT_FOUND)

    @staticmethod
    def _only(req: Request, method: str) -> Reply | None:
        return None if req.method == method else _method_not_allowed(req.method, method)

    def _authenticate(self, req: Request) -> str:
        header = req.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            raise ApiError(401, INVALID_SESSION)
        user_id = self.store.session_user(token.strip())
        if user_id is None:
            raise ApiError(401, INVALID_SESSION)
        return user_id

    def _object(self, name: str, user_id: str | None = None) -> ObjectDef:
        objects = self.store.objects if user_id is None else objects_for(self.store, user_id)
        obj = objects.get(name.lower())
        if obj is None:
            raise ApiError(404, NOT_FOUND)
        return obj

    # -- describe / get --------------------------------------------------------------------

    def _describe(self, name: str, version: str, user_id: str) -> Reply:
        view = objects_for(self.store, user_id)
        obj = self._object(name, user_id)
        with self.store.reader() as db:
            row = db.execute("SELECT kind FROM _md_objects WHERE name = ?", (obj.name,)).fetchone()
        return Reply(200, obj.describe(version, children=child_relationships(view.values(), obj),
                                       access=object_access(self.store, user_id, obj.name),
                                       custom_setting=row is not None and row[0] == "setting"))

    def _is_custom(self, name: str) -> bool:
        obj = self.store.objects.get(name.lower())
        return obj is not None and obj.custom

    def check_access(self, obj: ObjectDef, user_id: str, access: str) -> None:
        """400 CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY when the user's object permissions lack
        `access` (create / edit / delete) on `obj` ([secondary] "entity type cannot be
        inserted: Contact", find_string 68715336371)."""
        if access in object_access(self.store, user_id, obj.name):
            return
        verb = {"create": "inserted", "edit": "updated", "delete": "deleted"}[access]
        raise _error(400, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                     f"entity type cannot be {verb}: {obj.label}", [])

    def _get_record(self, type_name: str, record_id: str, version: str, user_id: str) -> Reply:
        obj = self._object(type_name, user_id)
        norm = normalize_id(record_id)
        row = self.store.get_row(obj, norm) if norm else None
        if row is None:
            raise ApiError(404, NOT_FOUND)
        rec: dict[str, Any] = {
            "attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{norm}"}
        }
        for f in obj.fields:
            rec[f.name] = to_json(f, row.get(f.name))
        return Reply(200, rec)

    # -- query -----------------------------------------------------------------------------

    @staticmethod
    def _batch_size(req: Request) -> int:
        m = _BATCH.search(req.headers.get("sforce-query-options", ""))
        if not m:
            return DEFAULT_BATCH
        return max(MIN_BATCH, min(DEFAULT_BATCH, int(m.group(1))))

    def _query(self, req: Request, version: str, user_id: str) -> Reply:
        q = (req.query.get("q") or [""])[0]
        if not q.strip():
            raise _error(400, "MALFORMED_QUERY", "A query string has to be specified")
        compiled = compile_select(parse(q), objects_for(self.store, user_id))
        cur = self.store.open_query(compiled)
        if compiled.count_only:
            cur.close()
            return Reply(200, {"totalSize": cur.total, "done": True, "records": []})
        with cur.lock:
            return self._page(cur, self._batch_size(req), version, first=True)

    def _query_more(self, req: Request, version: str, ident: str) -> Reply:
        m = _LOCATOR.match(ident)
        cur = self.store.cursor(m.group(1)) if m else None
        if cur is None or m is None:
            raise _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        position = int(m.group(2))
        with cur.lock:
            if position == cur.last_page_start and cur.last_page and position != cur.delivered:
                return self._render(cur, cur.last_page, cur.last_page_start, version)  # a retried page
            if position != cur.delivered or cur.delivered >= cur.total:
                raise _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(cur, self._batch_size(req), version, first=False)

    def _page(self, cur: Cursor, batch: int, version: str, *, first: bool) -> Reply:
        """The next ``batch`` rows of ``cur``; an exhausted cursor ends its read transaction
        but stays registered (with its last page) so a retried request is still answered."""
        rows = cur.rows.fetchmany(batch) if cur.delivered < cur.total else []
        cur.last_page_start, cur.last_page = cur.delivered, rows
        cur.delivered += len(rows)
        if len(rows) < batch or cur.delivered >= cur.total:
            cur.total = cur.delivered
            cur.close()
        elif first:
            self.store.keep_cursor(cur)
        return self._render(cur, rows, cur.last_page_start, version)

    def _render(self, cur: Cursor, rows: list[tuple[Any, ...]], start: int, version: str) -> Reply:
        end = start + len(rows)
        done = end >= cur.total
        body: dict[str, Any] = {"totalSize": cur.total, "done": done}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{cur.locator}-{end}"
        body["records"] = [self._with_children(cur.compiled, r, version) for r in rows]
        return Reply(200, body)

    def _with_children(self, compiled: Any, row: tuple[Any, ...], version: str) -> dict[str, Any]:
        """One record with its parent-to-child subqueries: each a QueryResult of its own
        (paged by `child_batch`, its ``nextRecordsUrl`` served like any query's), or null when
        the record has no such children (issue-14-wire-facts §4)."""
        rec = compiled.shape(row, version)
        for relationship, child in compiled.children:
            cur = self.store.open_query(child.bind(str(row[0])))
            if cur.total == 0:
                cur.close()
                rec[relationship] = None
                continue
            with cur.lock:
                rec[relationship] = self._page(cur, self.child_batch, version, first=True).body
        return rec

    # -- writes ----------------------------------------------------------------------------

    def _json_body(self, req: Request) -> Any:
        try:
            return json.loads(req.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _error(400, "JSON_PARSER_ERROR", f"Unexpected character: {e}") from None

    def _validate(
        self, db: Any, obj: ObjectDef, record_id: Any, data: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any], list[dict[str, Any]]]:
        """(normalised id, values to store, errors) for one update of ``obj``."""
        if not isinstance(record_id, str) or not record_id:
            return (
                None,
                {},
                [
                    {
                        "statusCode": "MISSING_ARGUMENT",
                        "message": "Id not specified in an update call",
                        "fields": [],
                    }
                ],
            )
        norm = normalize_id(record_id)
        if norm is None or not norm.startswith(obj.key_prefix):
            return (
                None,
                {},
                [
                    {
                        "statusCode": "MALFORMED_ID",
                        "message": f"{obj.label} ID: id value of incorrect type: {record_id}",
                        "fields": ["Id"],
                    }
                ],
            )
        if not self.store.existing_ids(db, obj, [norm]):
            gone = self.store.is_deleted(db, norm)
            return (
                norm,
                {},
                [
                    {
                        "statusCode": "ENTITY_IS_DELETED" if gone else "INVALID_CROSS_REFERENCE_KEY",
                        "message": "entity is deleted" if gone else "invalid cross reference id",
                        "fields": [],
                    }
                ],
            )
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for key, value in data.items():
            if key in ("attributes", "id", "Id"):
                continue
            f = obj.field(key)
            hidden = self._hidden(obj, key) if f is None else None
            if hidden is not None:
                errors.append(_not_writable(hidden))
                continue
            checked = self._field_value(db, obj, key, value, allowed=lambda f: f.updateable)
            if isinstance(checked, dict):
                errors.append(checked)
            else:
                values[checked[0]] = checked[1]
        if not errors and obj.name in SECURITY_TYPES:
            current = self.store.get_row(obj, norm) or {}
            errors = security_errors(db, self.store, obj, {**current, **values}, norm)
        if not errors:
            errors = self._unique_errors(db, obj, values, norm)
        return norm, values, errors

    @staticmethod
    def _unique_errors(
        db: Any, obj: ObjectDef, values: dict[str, Any], record_id: str | None
    ) -> list[dict[str, Any]]:
        """DUPLICATE_VALUE for a value a unique field (an external id) already holds elsewhere."""
        for f in obj.fields:
            value = values.get(f.name)
            if not f.unique or value is None:
                continue
            collate = "" if f.case_sensitive else " COLLATE NOCASE"
            row = db.execute(f'SELECT "Id" FROM "{obj.name}" WHERE "{f.name}" = ?{collate} AND "Id" != ?',
                             (value, record_id or "")).fetchone()
            if row is not None:
                message = f"duplicate value found: {f.name} duplicates value on record with id: {row[0]}"
                return [{"statusCode": "DUPLICATE_VALUE", "message": message, "fields": [f.name]}]
        return []

    def _hidden(self, obj: ObjectDef, name: str) -> FieldDef | None:
        """The field ``name`` if it exists but the user's field-level security hides it."""
        full = self.store.objects.get(obj.name.lower())
        return None if full is None else full.field(name)

    def _check_reference(self, db: Any, f: FieldDef, stored: str, raw: Any) -> None:
        targets = [self.store.objects[t.lower()] for t in f.reference_to]
        target = next((t for t in targets if stored.startswith(t.key_prefix)), None)
        if target is None:
            raise WriteValueError(
                "INVALID_CROSS_REFERENCE_KEY", f"{f.label}: id value of incorrect type: {raw}"
            )
        if not self.store.existing_ids(db, target, [stored]):
            raise WriteValueError("INVALID_CROSS_REFERENCE_KEY", f"{f.label}: invalid cross reference id")

    @staticmethod
    def _derived(obj: ObjectDef, values: dict[str, Any]) -> None:
        """Keep IsClosed/IsWon consistent with a new StageName, as Salesforce does."""
        if obj.name == "Opportunity" and "StageName" in values:
            values["IsClosed"] = int(values["StageName"] in ("Closed Won", "Closed Lost"))
            values["IsWon"] = int(values["StageName"] == "Closed Won")

    def _stamp(self, values: dict[str, Any], user_id: str, stamp: int) -> dict[str, Any]:
        return {**values, "LastModifiedDate": stamp, "SystemModstamp": stamp, "LastModifiedById": user_id}

    def _collection_body(self, req: Request) -> tuple[list[Any], bool]:
        """(records, allOrNone) of an sObject Collections request, checked as Salesforce does."""
        body = self._json_body(req)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise _error(400, "JSON_PARSER_ERROR", "The request body must be an object with a records list")
        records: list[Any] = body["records"]
        if len(records) > MAX_COLLECTION:
            raise _error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
            )
        return records, body.get("allOrNone") is True

    def _composite(self, req: Request, user_id: str) -> Reply:
        records, all_or_none = self._collection_body(req)
        results: list[dict[str, Any]] = []
        planned: list[tuple[int, ObjectDef, str, dict[str, Any]]] = []
        view = objects_for(self.store, user_id)
        with self.store.transaction() as db:
            for i, rec in enumerate(records):
                if not isinstance(rec, dict):
                    results.append(
                        {
                            "success": False,
                            "errors": [
                                {
                                    "statusCode": "JSON_PARSER_ERROR",
                                    "message": "record is not an object",
                                    "fields": [],
                                }
                            ],
                        }
                    )
                    continue
                attrs = rec.get("attributes")
                type_name = attrs.get("type") if isinstance(attrs, dict) else None
                obj = view.get(type_name.lower()) if isinstance(type_name, str) else None
                if obj is None:
                    results.append(
                        {
                            "success": False,
                            "errors": [
                                {
                                    "statusCode": "INVALID_TYPE",
                                    "message": f"sObject type '{type_name}' is not supported.",
                                    "fields": [],
                                }
                            ],
                        }
                    )
                    continue
                norm, values, errors = self._validate(db, obj, rec.get("id", rec.get("Id")), rec)
                if not errors and "edit" not in object_access(self.store, user_id, obj.name):
                    errors = [{"statusCode": "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                               "message": f"entity type cannot be updated: {obj.label}", "fields": []}]
                if not errors and norm in req.locked:
                    errors = [dict(ROW_LOCK)]
                if errors:
                    result: dict[str, Any] = {"success": False, "errors": errors}
                    if norm:
                        result = {"id": norm, **result}
                    results.append(result)
                    continue
                assert norm is not None
                results.append({"id": norm, "success": True, "errors": []})
                planned.append((i, obj, norm, values))
            failed = len(planned) != len(records)
            if all_or_none and failed:
                for i, _obj, norm, _values in planned:
                    results[i] = {"id": norm, "success": False, "errors": [dict(ROLLED_BACK)]}
            elif planned:
                stamp = self.store.next_stamp()
                for _i, obj, norm, values in planned:
                    self._derived(obj, values)
                    self.store.update_row(db, obj, norm, self._stamp(values, user_id, stamp))
        return Reply(200, results)

    def _patch_record(self, req: Request, type_name: str, record_id: str, user_id: str) -> Reply:
        obj = self._object(type_name, user_id)
        self.check_access(obj, user_id, "edit")
        body = self._json_body(req)
        if not isinstance(body, dict):
            raise _error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        with self.store.transaction() as db:
            norm = normalize_id(record_id)
            if (
                norm is None
                or not norm.startswith(obj.key_prefix)
                or not self.store.existing_ids(db, obj, [norm])
            ):
                raise ApiError(404, NOT_FOUND)
            _norm, values, errors = self._validate(db, obj, norm, body)
            if not errors and norm in req.locked:
                errors = [dict(ROW_LOCK)]
            if errors:
                raise ApiError(
                    400,
                    [
                        {"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
                        for e in errors
                    ],
                )
            self._derived(obj, values)
            self.store.update_row(db, obj, norm, self._stamp(values, user_id, self.store.next_stamp()))
        return Reply(204)

    # -- creates and deletes (the security objects) -------------------------------------------

    def _field_value(
        self, db: Any, obj: ObjectDef, key: str, value: Any, *, allowed: Callable[[FieldDef], bool]
    ) -> tuple[str, Any] | dict[str, Any]:
        """(API name, stored value) for one written field, or the per-record error."""
        f = obj.field(key)
        if f is None:
            return {
                "statusCode": "INVALID_FIELD",
                "message": f"No such column '{key}' on sobject of type {obj.name}",
                "fields": [key],
            }
        if not allowed(f):
            return _not_writable(f)
        try:
            stored = to_storage(f, value)
            if f.type == "reference" and stored is not None:
                self._check_reference(db, f, stored, value)
        except WriteValueError as e:
            return {"statusCode": e.code, "message": e.message, "fields": [f.name]}
        return f.name, stored

    def _new_values(
        self, db: Any, obj: ObjectDef, data: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(values to store, errors) for one new record of ``obj``."""
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for key, value in data.items():
            if key == "attributes":
                continue
            checked = self._field_value(db, obj, key, value, allowed=lambda f: f.createable)
            if isinstance(checked, dict):
                errors.append(checked)
            else:
                values[checked[0]] = checked[1]
        if errors:
            return values, errors
        for f in obj.fields:
            if f.name in values or not f.createable:
                continue
            if f.type == "boolean":
                values[f.name] = 0
            elif obj.custom and f.name == "OwnerId":
                continue  # defaulted to the caller by `_insert`
            elif not f.nillable:
                errors.append(
                    {
                        "statusCode": "REQUIRED_FIELD_MISSING",
                        "message": f"Required fields are missing: [{f.name}]",
                        "fields": [f.name],
                    }
                )
        if not errors:
            errors = security_errors(db, self.store, obj, values, None)
        if not errors:
            errors = self._unique_errors(db, obj, values, None)
        return values, errors

    def _insert(self, db: Any, obj: ObjectDef, values: dict[str, Any], user_id: str, stamp: int) -> str:
        new_id = make_id(obj.key_prefix, secrets.randbelow(62**9))
        row = {"Id": new_id, **values, "CreatedDate": stamp, "CreatedById": user_id}
        if obj.field("IsOwnedByProfile") is not None:
            row["IsOwnedByProfile"] = 0
        if obj.custom:
            row["IsDeleted"] = 0
            if obj.field("OwnerId") is not None and "OwnerId" not in row:
                row["OwnerId"] = user_id
            name = obj.field("Name")
            if name is not None and name.auto_number:
                key = f"autonumber:{obj.name}"
                found = db.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
                number = int(found[0]) + 1 if found else 1
                self.store.set_meta(db, key, str(number))
                row["Name"] = auto_name(name.display_format, number)
        self.store.insert_row(db, obj.name, self._stamp(row, user_id, stamp))
        return new_id

    def _security_object(self, type_name: str) -> ObjectDef:
        if type_name.lower() not in _SECURITY_LOWER:
            raise ApiError(
                400,
                [
                    {
                        "errorCode": "NOT_SUPPORTED",
                        "message": f"The sandbox creates and deletes only {', '.join(SECURITY_TYPES)}",
                    }
                ],
            )
        return self._object(type_name)

    def _create_one(self, req: Request, type_name: str, user_id: str) -> Reply:
        if self._is_custom(type_name):  # records of a custom object, as the caller
            obj = self._object(type_name, user_id)
            self.check_access(obj, user_id, "create")
        else:
            obj = self._security_object(type_name)
        body = self._json_body(req)
        if not isinstance(body, dict):
            raise _error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        with self.store.transaction() as db:
            values, errors = self._new_values(db, obj, body)
            if errors:
                raise ApiError(
                    400,
                    [
                        {"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
                        for e in errors
                    ],
                )
            new_id = self._insert(db, obj, values, user_id, self.store.next_stamp())
        return Reply(201, {"id": new_id, "success": True, "errors": []})

    def _create_many(self, req: Request, user_id: str) -> Reply:
        records, all_or_none = self._collection_body(req)
        results: list[dict[str, Any]] = []
        created: list[int] = []
        view = objects_for(self.store, user_id)
        with self.store.transaction() as db:
            db.execute("SAVEPOINT creates")
            stamp = self.store.next_stamp()
            for i, rec in enumerate(records):
                attrs = rec.get("attributes") if isinstance(rec, dict) else None
                type_name = attrs.get("type") if isinstance(attrs, dict) else None
                if not isinstance(rec, dict) or not isinstance(type_name, str) or "id" in rec or "Id" in rec:
                    results.append(_failure("INVALID_FIELD", "each record needs attributes.type and no id"))
                    continue
                custom = self._is_custom(type_name) and type_name.lower() in view
                if type_name.lower() not in _SECURITY_LOWER and not custom:
                    results.append(_failure("INVALID_TYPE", f"sObject type '{type_name}' is not supported."))
                    continue
                obj = view[type_name.lower()] if custom else self.store.objects[type_name.lower()]
                if custom and "create" not in object_access(self.store, user_id, obj.name):
                    results.append(_failure("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                                            f"entity type cannot be inserted: {obj.label}"))
                    continue
                values, errors = self._new_values(db, obj, rec)
                if errors:
                    results.append({"success": False, "errors": errors})
                    continue
                results.append(
                    {"id": self._insert(db, obj, values, user_id, stamp), "success": True, "errors": []}
                )
                created.append(i)
            if all_or_none and len(created) != len(records):
                db.execute("ROLLBACK TO creates")
                for i in created:
                    results[i] = {"success": False, "errors": [dict(ROLLED_BACK)]}
            db.execute("RELEASE creates")
        return Reply(200, results)

    def _delete_record(self, type_name: str, record_id: str, user_id: str) -> Reply:
        """Delete one record: the security objects install needs, and opportunities (a
        deleted record then answers updates with ENTITY_IS_DELETED)."""
        is_security = type_name.lower() in _SECURITY_LOWER
        obj = self._security_object(type_name) if is_security else self._object(type_name, user_id)
        if obj.custom:
            self.check_access(obj, user_id, "delete")
        norm = normalize_id(record_id)
        with self.store.transaction() as db:
            if (
                norm is None
                or not norm.startswith(obj.key_prefix)
                or not self.store.existing_ids(db, obj, [norm])
            ):
                raise ApiError(404, NOT_FOUND)
            if obj.name == "PermissionSet":
                for child in ("PermissionSetAssignment", "FieldPermissions", "ObjectPermissions"):
                    column = "PermissionSetId" if child == "PermissionSetAssignment" else "ParentId"
                    db.execute(f'DELETE FROM "{child}" WHERE "{column}" = ?', (norm,))
            self._cascade(db, obj, norm)
            self.store.delete_row(db, obj.name, norm)
        return Reply(204)

    def _cascade(self, db: Any, master: ObjectDef, record_id: str) -> None:
        """Deleting a master record deletes its detail records (Master-Detail cascadeDelete)."""
        for child in list(self.store.objects.values()):
            for f in child.fields:
                if f.cascade_delete and master.name in f.reference_to:
                    ids = [r[0] for r in db.execute(f'SELECT "Id" FROM "{child.name}" WHERE "{f.name}" = ?',
                                                   (record_id,))]
                    for detail_id in ids:
                        self._cascade(db, child, detail_id)
                        self.store.delete_row(db, child.name, detail_id)

    # -- Metadata API (SOAP) -----------------------------------------------------------------

    def _soap(self, req: Request) -> Reply:
        m = _SOAP_PATH.match(req.path)
        assert m is not None
        headers = {"Content-Type": _metadata.XML_TYPE}
        if req.method != "POST":
            return Reply(405, _metadata.fault("METHOD_NOT_ALLOWED", "use POST"), {**headers, "Allow": "POST"})
        if not (MIN_VERSION <= int(m.group(1)) <= MAX_VERSION) or m.group(2) != "0":
            unsupported = _metadata.fault("UNSUPPORTED_API_VERSION", "Invalid Api version specified")
            return Reply(500, unsupported, headers)
        try:
            session_id, op = _metadata.parse_request(req.body)
            if session_id is None or self.store.session_user(session_id) is None:
                raise _metadata.SoapFault(
                    "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
                )
            return Reply(200, self._metadata.call(op), headers)
        except _metadata.SoapFault as e:
            return Reply(500, _metadata.fault(e.code, e.message), headers)

    # -- OAuth -----------------------------------------------------------------------------

    def _token(self, req: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != JWT_GRANT:
            return Reply(
                400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
            )

        def grant_error(text: str) -> Reply:
            return Reply(400, {"error": "invalid_grant", "error_description": text})

        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.identity.public_key_pem,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return grant_error("invalid assertion")
        if claims.get("iss") != self.identity.consumer_key:
            return Reply(
                400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
            )
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        allowed = set(JWT_AUDIENCES) | ({self.base_url} if self.accept_my_domain_audience else set())
        if not any(isinstance(a, str) and a.rstrip("/") in allowed for a in audiences):
            return grant_error("audience is invalid")
        try:
            exp = float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            return grant_error("invalid assertion")
        if exp <= self.clock.now():
            return grant_error("expired authorization code")
        user = self._user_by_username(str(claims.get("sub", "")))
        if user is None or not user["IsActive"]:
            return grant_error("user hasn't approved this consumer")
        user_id = user["Id"]
        return Reply(
            200,
            {
                "access_token": self.store.session_for(user_id, self.identity.org_id),
                "instance_url": self.base_url,
                "id": f"{self.base_url}/id/{self.identity.org_id}/{user_id}",
                "token_type": "Bearer",
                "issued_at": str(now_ms(self.clock)),
                "scope": "api",
            },
        )

    def _user_by_username(self, username: str) -> dict[str, Any] | None:
        with self.store.reader() as db:
            row = db.execute(
                'SELECT "Id", "IsActive" FROM "User" WHERE "Username" = ? COLLATE NOCASE', (username,)
            ).fetchone()
        return {"Id": row[0], "IsActive": bool(row[1])} if row else None

    def _userinfo(self, user_id: str) -> Reply:
        row = self.store.get_row(self.store.objects["user"], user_id) or {}
        return Reply(
            200,
            {
                "sub": f"{self.base_url}/id/{self.identity.org_id}/{user_id}",
                "user_id": user_id,
                "organization_id": self.identity.org_id,
                "preferred_username": row.get("Username"),
                "name": row.get("Name"),
                "email": row.get("Email"),
                "active": bool(row.get("IsActive")),
            },
        )


_SECURITY_LOWER = frozenset(t.lower() for t in SECURITY_TYPES)
_DELETABLE = _SECURITY_LOWER | {"opportunity"}


def _not_writable(f: FieldDef) -> dict[str, Any]:
    return {
        "statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
        "message": f"Unable to create/update fields: {f.name}. Please check the security "
        "settings of this field and verify that it is read/write for your "
        "profile or permission set.",
        "fields": [f.name],
    }


def _bearer(req: Request) -> str | None:
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() in ("bearer", "oauth") else None


def _write_ids(req: Request, family: str) -> list[str]:
    """The (normalised) record ids a write request touches, for row-lock faults."""
    if family == "bulk_ingest_upload":
        return _bulk.upload_ids(req.body)
    if family == "sobject_patch":
        norm = normalize_id(req.path.rstrip("/").rsplit("/", 1)[-1])
        return [norm] if norm else []
    if family != "composite_sobjects":
        return []
    try:
        body = json.loads(req.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    records = body.get("records") if isinstance(body, dict) else None
    ids = [r.get("id", r.get("Id")) for r in records or () if isinstance(r, dict)]
    return [n for n in (normalize_id(i) for i in ids if isinstance(i, str)) if n]


def _with_locks(req: Request, injection: Injection) -> Request:
    if not injection.locked:
        return req
    from dataclasses import replace

    return replace(req, locked=injection.locked)


def _failure(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": []}]}


def _method_not_allowed(method: str, allowed: str) -> Reply:
    return Reply(
        405,
        [
            {
                "errorCode": "METHOD_NOT_ALLOWED",
                "message": f"HTTP Method '{method}' not allowed. Allowed are {allowed}",
            }
        ],
        {"Allow": allowed},
    )
