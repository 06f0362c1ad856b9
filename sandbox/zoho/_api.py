"""The Zoho CRM v8 subset and the Zoho Accounts token endpoint: request in, `Reply` out.

Wire facts follow ``crm-api/ZOHO.md`` and Zoho's v8 OpenAPI files; where those leave a
choice open, the choice is written down here so tests (and the connector) can rely on it:

- The accounts server lives under ``/accounts`` of the sandbox's URL (a different base than
  the ``api_domain`` the token response names, so a client that ignores ``api_domain`` fails).
- Token errors come back with HTTP 200 (``{"error": "invalid_client" | "invalid_code"}``);
  the 11th access token from one refresh token within 10 minutes gets HTTP 400 "Access Denied".
- One paged read of Get Records reaches ``ZohoLimits.page_token_records`` records (Zoho:
  100,000 through page_token): a page never runs past it and the next one is refused with
  400 ``PAGINATION_LIMIT_EXCEEDED`` (by ``page`` too, should the reach be lowered below the
  2,000 that ``page`` reaches). Ties on ``Modified_Time`` are ordered by id.
- ``If-Modified-Since`` is inclusive at second resolution (Airbyte observed ``>=``); it takes
  ISO-8601 with an offset (``Z`` too). Nothing modified since → 304; an empty page → 204.
- Unknown field names in ``fields`` or in a write are rejected (``INVALID_DATA``), read-only
  fields too; datetimes written need an offset and no fractional seconds (ZOHO.md §8).
- A record id in a write (``data[].id``, ``users[].id``) is taken as a string or as a JSON
  number (an integer: Zoho parses ids as longs), and answered as a string (``details.id``).
  A number with a fraction, a boolean or an object is "the id given seems to be invalid".
- Record writes answer 200 when every record succeeded, 400 when all failed, 207 otherwise;
  so do Users and field-creation calls. Users are written as ``PUT /crm/v8/users`` with a
  ``{"users": [...]}`` body (Zoho's OAS ``users.json``), not through a records module.
- Field creation takes an explicit ``api_name`` when given (ZOHO.md §5.2: unverified on Zoho),
  else derives it from ``field_label`` (non-alphanumerics → ``_``; a clash gets ``1``, ``2``…).
  A ``lookup`` (to a module, not Users) needs ``lookup.module`` and ``lookup.display_label``,
  the label of the related list it adds there: without it the entry is ``MANDATORY_NOT_FOUND``
  (Zoho's Create Custom Fields marks both mandatory).
- ``Owner`` is listed ``field_read_only: true`` with ``read_only: false`` and
  ``operation_type.api_update: true``, as real orgs list it; the API writes it. Only
  ``read_only`` fields refuse a write.
- Field updates (PATCH) follow the OAS ``pick_list_values`` keys: a value given with ``id``
  is renamed (with ``_delete: true`` removed); one without ``id`` is added unless present —
  so sending the full wanted list does not remove old values (Zoho's docs leave it open).
- Delete Records (``DELETE /{module}?ids=``, ≤ 100, or ``/{module}/{id}``) moves records to
  the recycle bin, listed by ``GET /{module}/deleted`` (newest first, If-Modified-Since);
  a deleted id is then "the id given seems to be invalid" to writes and absent from reads.
- Credits: 1 per call, 1 per 10 records written; ``X-API-CREDITS-REMAINING`` once half the
  rolling 24-hour allowance is used; none left → 429 ``TOO_MANY_REQUESTS`` (no Retry-After).
  ``POST /_sandbox/zoho/credits {"used": N}`` pretends others spent N (API budget tests).
- Custom modules (`_modules`): ``POST /settings/modules``, listed by ``GET /settings/modules``
  with ``generated_type: custom``; their records take ``POST /{module}`` (Insert Records; the
  standard modules keep refusing POST) and ``POST /{module}/upsert`` (`_upsert`). A lookup
  field's ``lookup.module`` needs ``api_name`` and that module's ``id`` (OAS Minified_Module).
- ``/settings/variables`` (`_variables`) and ``GET /settings/profiles``; those and the modules
  API check the token's scopes (`_scopes`: 401 ``OAUTH_SCOPE_MISMATCH``).
- Injected faults (the sandbox's shared `FaultPlan`, crm ``zoho``): ``rate_limit`` → 429
  ``TOO_MANY_REQUESTS`` (on the token endpoint: 400 "Access Denied"), ``session_expired`` →
  the presented access token is revoked, 401 ``INVALID_TOKEN``; ``server_error`` → 500
  ``INTERNAL_ERROR`` (503: a plain-text page); ``lock_row`` → per-record ``RECORD_LOCKED``.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from presales_sync.sandbox.core._clock import Clock
from presales_sync.sandbox.core._faults import FaultPlan, FaultRule
from presales_sync.sandbox.core._http import Reply, Request
from presales_sync.sandbox.zoho._accounts import TOKEN_THROTTLED, AccountsServer
from presales_sync.sandbox.zoho._fields import MODULE_IDS, changed_field, field_json, module_json, new_field
from presales_sync.sandbox.zoho._limits import ZohoLimits
from presales_sync.sandbox.zoho._modules import (
    DISPLAY_FIELDS,
    CustomModule,
    custom_module_json,
    module_fields,
    module_items,
    new_module,
    profiles_json,
    taken_names,
)
from presales_sync.sandbox.zoho._scopes import REQUIRED as SCOPED
from presales_sync.sandbox.zoho._scopes import check_scope
from presales_sync.sandbox.zoho._seed import ADMIN_PROFILE, ORG_TIME_ZONE, ZBASE
from presales_sync.sandbox.zoho._store import (
    LOOKUP_TYPES,
    RECORD_MODULES,
    USERS,
    Row,
    ZField,
    ZohoStore,
)
from presales_sync.sandbox.zoho._upsert import check_order, write_new
from presales_sync.sandbox.zoho._variables import Variables
from presales_sync.sandbox.zoho._wire import (
    EntryError,
    ZohoError,
    coerce,
    error_body,
    parse_time,
    record_id,
    render_time,
)

ACCOUNTS_PREFIX = "/accounts"
API_PREFIX = "/crm/v8/"
ADMIN_PREFIX = "/_sandbox/zoho"
TRIGGERS = frozenset({"workflow", "approval", "blueprint", "pathfinder", "orchestration"})
USER_TYPES = (
    "AllUsers",
    "ActiveUsers",
    "DeactiveUsers",
    "ConfirmedUsers",
    "NotConfirmedUsers",
    "DeletedUsers",
    "ActiveConfirmedUsers",
    "AdminUsers",
    "ActiveConfirmedAdmins",
    "CurrentUser",
)
THROTTLE_MESSAGE = (
    "Number of API requests for the 24 hour period is exceeded or the concurrency limit of the user "
    "for the app is exceeded"
)
BAD_URL = "Please check if the URL trying to access is a correct one"


@dataclass
class _PageToken:
    user_id: str
    bound: tuple[Any, ...]
    offset: int
    expires: float


def _param(name: str, value: str, message: str = "invalid data") -> ZohoError:
    return ZohoError(400, "INVALID_DATA", message, {"param_name": name, "param": value})


def _missing_param(name: str) -> ZohoError:
    return ZohoError(
        400,
        "REQUIRED_PARAM_MISSING",
        "One of the expected parameter is missing",
        {"param_name": name, "param": ""},
    )


class ZohoApi:
    """Routes one Zoho request (accounts or CRM), counts it, and renders the reply."""

    def __init__(
        self,
        store: ZohoStore,
        count: Callable[[str], None],
        limits: ZohoLimits | None = None,
        faults: FaultPlan | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or store.clock
        self.limits = limits or ZohoLimits()
        self.faults = faults if faults is not None else FaultPlan()
        self.base_url = ""  # set once the server is bound
        self._count = count
        self._lock = threading.Lock()
        #: The accounts server (``/accounts/oauth/v2/token``): grants, their limit, tokens.
        self.accounts = AccountsServer(store, self.limits, self.clock)
        self._credits: deque[tuple[float, int]] = deque()
        self._page_tokens: dict[str, _PageToken] = {}
        self._writes: list[dict[str, Any]] = []
        self._variables = Variables(store)

    @staticmethod
    def owns(path: str) -> bool:
        return path.startswith(("/crm/", ACCOUNTS_PREFIX + "/", ADMIN_PREFIX))

    # -- test controls -----------------------------------------------------------------------

    def writes(self) -> list[dict[str, Any]]:
        """Every record / user write so far: module, trigger as sent (None if absent), records."""
        with self._lock:
            return [dict(w) for w in self._writes]

    def token_for(self, user_id: str, scopes: str | None = None) -> str:
        """A live access token acting as ``user_id`` (tests: edits made by another user);
        with `scopes`, a new one holding only those."""
        return self.accounts.token_for(user_id, scopes)

    # -- entry point -------------------------------------------------------------------------

    def handle(self, req: Request) -> Reply:
        if req.path.startswith(ADMIN_PREFIX):
            return self._admin(req)
        family = self._family(req)
        self._count(family)
        injection = self.faults.take("zoho", family, _write_ids(req, family))
        if injection.delay:  # latency is real time: a client's timeout runs on the machine's clock
            time.sleep(injection.delay)
        try:
            if injection.error is not None:
                reply = self._fault_reply(req, family, injection.error)
            elif family == "zoho_token":
                reply = self.accounts.token(req, self.base_url)
            elif req.path.startswith(ACCOUNTS_PREFIX + "/"):
                raise ZohoError(404, "INVALID_URL_PATTERN", BAD_URL)
            else:
                user_id = self._authenticate(req)
                if family in SCOPED:
                    check_scope(family, self.store.token_scopes(_token(req)))
                self._check_credits()
                reply, cost = self._dispatch(replace(req, locked=injection.locked), family, user_id)
                self._charge(cost)
        except ZohoError as e:
            reply = e.reply()
        except Exception:
            reply = Reply(500, error_body("INTERNAL_ERROR", "Internal server error occurred."))
        remaining = self._credits_remaining()
        if remaining is not None and family != "zoho_token":
            reply.headers["X-API-CREDITS-REMAINING"] = str(remaining)
        reply.drop = injection.drop
        return reply

    def _fault_reply(self, req: Request, family: str, rule: FaultRule) -> Reply:
        """An injected error in Zoho's own shapes (ZOHO.md 1.2, 4.1); no Retry-After."""
        if family == "zoho_token":
            if rule.kind == "rate_limit":
                return Reply(400, {"error": "Access Denied", "error_description": TOKEN_THROTTLED})
            if rule.kind == "server_error":
                return Reply(rule.status, b"Service Unavailable", {"Content-Type": "text/plain"})
            return self.accounts.token(req, self.base_url)  # a session cannot expire before it is minted
        if rule.kind == "rate_limit":
            return Reply(429, error_body("TOO_MANY_REQUESTS", THROTTLE_MESSAGE))
        if rule.kind == "session_expired":
            _scheme, _, token = req.headers.get("authorization", "").strip().partition(" ")
            if token.strip():
                self.store.revoke_token(token.strip())
            return Reply(401, error_body("INVALID_TOKEN", "invalid oauth token"))
        if rule.status == 503:
            return Reply(503, b"Service Unavailable", {"Content-Type": "text/plain"})
        return Reply(rule.status, error_body("INTERNAL_ERROR", "Internal server error occurred."))

    @staticmethod
    def _family(req: Request) -> str:
        path = req.path.rstrip("/")
        if path == ACCOUNTS_PREFIX + "/oauth/v2/token":
            return "zoho_token"
        if not path.startswith(API_PREFIX):
            return "zoho_other"
        rest = path[len(API_PREFIX) :].split("/")
        method = req.method.lower()
        if rest == ["users"]:
            return f"zoho_users_{method}"
        if rest[:2] == ["settings", "fields"]:
            return f"zoho_fields_{method}"
        if rest[:2] == ["settings", "modules"]:
            return f"zoho_modules_{method}"
        if rest[:2] == ["settings", "profiles"]:
            return f"zoho_profiles_{method}"
        if rest[:2] == ["settings", "variables"]:
            return f"zoho_variables_{method}"
        if len(rest) == 2 and rest[1] == "upsert":
            return "zoho_upsert_post" if method == "post" else "zoho_other"
        if rest == ["org"]:
            return "zoho_org_get"
        if len(rest) == 2 and rest[1] == "deleted":
            return "zoho_deleted_get"
        if len(rest) <= 2:
            return f"zoho_records_{method}"
        return "zoho_other"

    def _admin(self, req: Request) -> Reply:
        path = req.path.rstrip("/")
        if path == ADMIN_PREFIX + "/expire-tokens" and req.method == "POST":
            return Reply(200, {"expired": self.store.expire_tokens()})
        if path == ADMIN_PREFIX + "/writes" and req.method == "GET":
            return Reply(200, {"writes": self.writes()})
        if path == ADMIN_PREFIX + "/credits" and req.method in ("GET", "POST"):
            if req.method == "POST":
                try:
                    used = json.loads(req.body or b"{}")["used"]
                    self.set_credits_used(used)
                except (ValueError, KeyError, TypeError):
                    return Reply(400, error_body("INVALID_DATA", 'expected {"used": N}'))
            return Reply(200, self.credits())
        return Reply(404, error_body("INVALID_URL_PATTERN", BAD_URL))

    def credits(self) -> dict[str, int]:
        """The rolling 24-hour credits: used and the allowance."""
        with self._lock:
            return {"used": self._used(self.clock.now()), "total": self.limits.daily_credits}

    def set_credits_used(self, used: Any) -> None:
        """Pretend other integrations already spent ``used`` credits (API budget tests)."""
        if not isinstance(used, int) or isinstance(used, bool) or used < 0:
            raise ValueError(used)
        with self._lock:
            self._credits.clear()
            self._credits.append((self.clock.now(), used))

    def _authenticate(self, req: Request) -> str:
        scheme, _, token = req.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "zoho-oauthtoken" or not token.strip():
            raise ZohoError(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        user_id = self.store.token_user(token.strip())
        if user_id is None:
            raise ZohoError(401, "INVALID_TOKEN", "invalid oauth token")
        return user_id

    # -- credits ------------------------------------------------------------------

    def _used(self, now: float) -> int:
        while self._credits and self._credits[0][0] <= now - 86_400:
            self._credits.popleft()
        return sum(c for _t, c in self._credits)

    def _check_credits(self) -> None:
        with self._lock:
            if self._used(self.clock.now()) >= self.limits.daily_credits:
                raise ZohoError(429, "TOO_MANY_REQUESTS", THROTTLE_MESSAGE)

    def _charge(self, cost: int) -> None:
        with self._lock:
            self._credits.append((self.clock.now(), cost))

    def _credits_remaining(self) -> int | None:
        with self._lock:
            used = self._used(self.clock.now())
        if used * 2 < self.limits.daily_credits:
            return None
        return max(0, self.limits.daily_credits - used)

    # -- routing -----------------------------------------------------------------------------

    def _dispatch(self, req: Request, family: str, user_id: str) -> tuple[Reply, int]:
        rest = req.path.rstrip("/")[len(API_PREFIX) :].split("/")
        q = {k: v[0] for k, v in req.query.items()}

        def only(*methods: str) -> None:
            if req.method not in methods:
                raise ZohoError(
                    400, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
                )

        if family.startswith("zoho_users_"):
            only("GET", "PUT")
            if req.method == "GET":
                return self._get_users(q, user_id), 1
            return self._put_users(req, user_id)
        if family.startswith("zoho_fields_"):
            return self._fields_call(req, rest[2:], q, user_id), 1
        if family.startswith("zoho_modules_"):
            if req.method == "POST" and len(rest) == 2:
                return self._create_module(req, user_id), 1
            only("GET")
            return self._modules(rest[2:]), 1
        if family.startswith("zoho_profiles_"):
            only("GET")
            if len(rest) != 2:
                raise ZohoError(404, "INVALID_URL_PATTERN", BAD_URL)
            return Reply(200, profiles_json()), 1
        if family.startswith("zoho_variables_"):
            return self._variables.handle(req, rest[2:], q), 1
        if family == "zoho_upsert_post":
            return self._write_new(req, self._module(rest[0]), user_id, upsert=True)
        if family == "zoho_org_get":
            only("GET")
            return self._org(), 1
        if family == "zoho_deleted_get":
            only("GET")
            return self._get_deleted(req, self._module(rest[0]), q), 1
        if family.startswith("zoho_records_"):
            module = self._module(rest[0])
            if len(rest) == 2:
                only("GET", "DELETE")
                if req.method == "DELETE":
                    return self._delete_records(module, [rest[1]], user_id)
                return self._get_one(module, rest[1], q), 1
            only("GET", "PUT", "DELETE", "POST")
            if req.method == "POST":
                if module in RECORD_MODULES:  # the sandbox inserts into custom modules only
                    raise ZohoError(
                        400, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
                    )
                return self._write_new(req, module, user_id, upsert=False)
            if req.method == "GET":
                return self._get_records(req, module, q, user_id), 1
            if req.method == "DELETE":
                return self._delete_records(module, self._ids_param(q, required=True) or [], user_id)
            return self._put_records(req, module, user_id)
        raise ZohoError(404, "INVALID_URL_PATTERN", BAD_URL)

    def _custom_modules(self) -> list[CustomModule]:
        return [CustomModule.from_document(d) for d in self.store.module_documents()]

    def _record_modules(self) -> tuple[str, ...]:
        return RECORD_MODULES + tuple(m.api_name for m in self._custom_modules())

    def _module(self, name: str) -> str:
        for m in self._record_modules():
            if m.lower() == name.lower():
                return m
        raise ZohoError(
            400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 0}
        )

    def _settings_module(self, q: dict[str, str]) -> str:
        name = q.get("module")
        if not name:
            raise _missing_param("module")
        if name.lower() == USERS:
            return USERS
        try:
            return self._module(name)
        except ZohoError:
            raise _param("module", name, "the module name given seems to be invalid") from None

    # -- rendering ---------------------------------------------------------------------------

    def _users(self) -> dict[str, Row]:
        return {r.id: r for r in self.store.all_rows(USERS)}

    def _value(self, f: ZField, row: Row, users: dict[str, Row], related: dict[str, dict[str, Row]]) -> Any:
        if f.api_name == "Created_Time":
            return render_time(row.created)
        if f.api_name == "Modified_Time":
            return render_time(row.modified)
        raw = row.data.get(f.api_name)
        if f.data_type == "boolean":
            return bool(raw)
        if raw is None:
            return None
        if f.data_type in LOOKUP_TYPES:
            if f.lookup_module not in (None, USERS):
                target = related.get(f.lookup_module, {}).get(raw)
                shown = DISPLAY_FIELDS.get(f.lookup_module, "Name")
                return {"name": target.data.get(shown) if target else None, "id": raw}
            user = users.get(raw)
            out = {"name": user.data.get("full_name") if user else None, "id": raw}
            if f.data_type == "ownerlookup":
                out["email"] = user.data.get("email") if user else None
            return out
        if f.data_type == "datetime":
            return render_time(int(raw))
        if f.data_type in ("double", "currency", "percent"):
            return float(raw)
        return raw

    def _render(self, module: str, rows: list[Row], names: list[str] | None) -> list[dict[str, Any]]:
        fields = self.store.fields(module)
        wanted = fields if names is None else [f for f in fields if f.api_name in names]
        users = self._users()
        related: dict[str, dict[str, Row]] = {}
        with self.store.reader() as db:
            for f in wanted:
                if f.data_type in LOOKUP_TYPES and f.lookup_module not in (None, USERS):
                    ids = [str(r.data[f.api_name]) for r in rows if r.data.get(f.api_name)]
                    related.setdefault(f.lookup_module, {}).update(self.store.rows(db, f.lookup_module, ids))
        out = []
        for row in rows:
            rec: dict[str, Any] = {f.api_name: self._value(f, row, users, related) for f in wanted}
            rec["id"] = row.id
            out.append(rec)
        return out

    # -- Get Records ---------------------------------------------------------------------------

    @staticmethod
    def _int_param(q: dict[str, str], name: str, default: int) -> int:
        text = q.get(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise _param(name, text) from None
        if value < 1:
            raise _param(name, text)
        return value

    def _ids_param(self, q: dict[str, str], *, required: bool = False) -> list[str] | None:
        """``ids=a,b,…``: at most 100 (the Records API's limit per call)."""
        if not q.get("ids", "").strip():
            if required:
                raise _missing_param("ids")
            return None
        ids = list(dict.fromkeys(i.strip() for i in q["ids"].split(",") if i.strip()))
        if len(ids) > self.limits.max_write:
            raise ZohoError(
                400,
                "LIMIT_EXCEEDED",
                f"at most {self.limits.max_write} ids can be given",
                {"param_name": "ids", "param": q["ids"], "limit": self.limits.max_write},
            )
        return ids

    def _delete_records(self, module: str, ids: list[str], user_id: str) -> tuple[Reply, int]:
        """Delete Records (to the recycle bin): one entry per id, in order."""
        results: list[dict[str, Any]] = []
        stamp = int(self.clock.now())
        with self.store.transaction() as db:
            rows = self.store.rows(db, module, ids)
            for rid in ids:
                row = rows.get(rid)
                if row is None:
                    results.append(
                        error_body("INVALID_DATA", "the id given seems to be invalid", {"id": rid})
                    )
                    continue
                name = row.data.get(DISPLAY_FIELDS.get(module, "Name"))
                self.store.delete_record(db, module, row, str(name or ""), user_id, stamp)
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": {"id": rid},
                        "message": "record deleted",
                        "status": "success",
                    }
                )
        self._record_write(module, None, len(ids), user_id)
        return Reply(self._multi_status(results, 200), {"data": results}), max(1, math.ceil(len(ids) / 10))

    def _get_deleted(self, req: Request, module: str, q: dict[str, str]) -> Reply:
        """``GET /{module}/deleted?type=all|recycle|permanent`` (ZOHO.md 2.3): 204 when none."""
        kind = q.get("type", "all")
        if kind not in ("all", "recycle", "permanent"):
            raise ZohoError(
                400,
                "PATTERN_NOT_MATCHED",
                "Please check whether the input values are correct",
                {"param_name": "type", "param": kind},
            )
        per_page = min(self._int_param(q, "per_page", 200), 200)
        page = self._int_param(q, "page", 1)
        since = _time_header(req, "If-Modified-Since")
        rows = (
            []
            if kind == "permanent"
            else self.store.deleted(module, since, (page - 1) * per_page, per_page + 1)
        )
        if not rows:
            return Reply(204)
        users = self._users()

        def who(user_id: str) -> dict[str, Any]:
            user = users.get(user_id)
            return {"name": user.data.get("full_name") if user else None, "id": user_id}

        data = [
            {
                "deleted_by": who(d.deleted_by),
                "id": d.id,
                "display_name": d.display_name,
                "type": "recycle",
                "created_by": who(d.created_by),
                "deleted_time": render_time(d.deleted),
            }
            for d in rows[:per_page]
        ]
        info = {"per_page": per_page, "count": len(data), "page": page, "more_records": len(rows) > per_page}
        return Reply(200, {"data": data, "info": info})

    def _get_one(self, module: str, record_id: str, q: dict[str, str]) -> Reply:
        with self.store.reader() as db:
            row = self.store.rows(db, module, [record_id]).get(record_id)
        if row is None:
            return Reply(204)
        names = [n.strip() for n in q["fields"].split(",")] if q.get("fields") else None
        return Reply(200, {"data": self._render(module, [row], names)})

    def _get_records(self, req: Request, module: str, q: dict[str, str], user_id: str) -> Reply:
        lim = self.limits
        if not q.get("fields", "").strip():
            raise _missing_param("fields")
        names = list(dict.fromkeys(n.strip() for n in q["fields"].split(",") if n.strip()))
        if len(names) > lim.max_fields:
            raise ZohoError(
                400,
                "LIMIT_EXCEEDED",
                "Fields limit exceeded",
                {"param_name": "fields", "param": q["fields"], "limit": lim.max_fields},
            )
        known = {f.api_name for f in self.store.fields(module)} | {"id"}
        for n in names:
            if n not in known:
                raise _param("fields", n, f"invalid field name: {n}")
        per_page = min(self._int_param(q, "per_page", lim.max_per_page), lim.max_per_page)
        sort_by = q.get("sort_by", "id")
        if sort_by not in ("id", "Created_Time", "Modified_Time"):
            raise ZohoError(
                400,
                "INVALID_DATA",
                "invalid data",
                {
                    "param_name": "sort_by",
                    "param": sort_by,
                    "supported_values": ["id", "Created_Time", "Modified_Time"],
                },
            )
        sort_order = q.get("sort_order", "desc")
        if sort_order not in ("asc", "desc"):
            raise ZohoError(
                400,
                "INVALID_DATA",
                "invalid data",
                {"param_name": "sort_order", "param": sort_order, "supported_values": ["asc", "desc"]},
            )
        ids = self._ids_param(q)
        since = _time_header(req, "If-Modified-Since")
        bound = (module, tuple(names), sort_by, sort_order, per_page, since, tuple(ids or ()))
        if "page_token" in q:
            if "page" in q:
                raise ZohoError(
                    400,
                    "AMBIGUITY_DURING_PROCESSING",
                    "page and page_token cannot be given together",
                    {"ambiguity_due_to": [{"param_name": "page"}, {"param_name": "page_token"}]},
                )
            offset = self._resume(q["page_token"], user_id, bound)
        else:
            page = self._int_param(q, "page", 1)
            if page * per_page > lim.discrete_records:
                raise ZohoError(
                    400,
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    f"cannot fetch more than {lim.discrete_records} records with page; use page_token",
                    {"limit": lim.discrete_records},
                )
            offset = (page - 1) * per_page
            if offset >= lim.page_token_records:
                raise self._beyond_reach()
        take = min(per_page, lim.page_token_records - offset)  # nothing past the reach
        rows = self.store.page(
            module,
            since=since,
            ids=ids,
            sort_by=sort_by,
            descending=sort_order == "desc",
            offset=offset,
            limit=take + 1,
        )
        more = len(rows) > take
        rows = rows[:take]
        if not rows:
            return Reply(304 if since is not None and offset == 0 else 204)
        next_token: str | None = None
        expiry: str | None = None
        if more:
            next_token, expires = self._issue(user_id, bound, offset + take)
            expiry = render_time(int(expires))
        info = {
            "call": False,
            "per_page": per_page,
            "next_page_token": next_token,
            "count": len(rows),
            "page": offset // per_page + 1,
            "previous_page_token": None,
            "page_token_expiry": expiry,
            "email": False,
            "more_records": more,
            "sort_by": sort_by,
            "sort_order": sort_order,
        }
        return Reply(200, {"data": self._render(module, rows, names), "info": info})

    def _issue(self, user_id: str, bound: tuple[Any, ...], offset: int) -> tuple[str, float]:
        token = secrets.token_hex(24)
        expires = self.clock.now() + self.limits.page_token_ttl
        with self._lock:
            now = self.clock.now()
            # an expired token is still known for a while, to be told apart from a wrong one
            gone = now - self.limits.page_token_ttl
            for key in [k for k, t in self._page_tokens.items() if t.expires <= gone]:
                del self._page_tokens[key]
            while len(self._page_tokens) >= 10_000:
                del self._page_tokens[next(iter(self._page_tokens))]
            self._page_tokens[token] = _PageToken(user_id, bound, offset, expires)
        return token, expires

    def _resume(self, token: str, user_id: str, bound: tuple[Any, ...]) -> int:
        with self._lock:
            state = self._page_tokens.get(token)
        if state is None or state.user_id != user_id:
            raise _param("page_token", token, "The token given seems to be invalid")
        if state.expires <= self.clock.now():
            raise ZohoError(
                400,
                "EXPIRED_VALUE",
                "The token given has expired",
                {"param_name": "page_token", "param": token},
            )
        if state.bound != bound:
            raise ZohoError(
                400,
                "TOKEN_BOUND_DATA_MISMATCH",
                "The parameters given do not match the page token",
                {"param_name": "page_token", "param": token},
            )
        if state.offset >= self.limits.page_token_records:
            raise self._beyond_reach()
        return state.offset

    def _beyond_reach(self) -> ZohoError:
        return ZohoError(
            400,
            "PAGINATION_LIMIT_EXCEEDED",
            "pagination limit exceeded",
            {"limit": self.limits.page_token_records},
        )

    # -- writes ------------------------------------------------------------------------------

    @staticmethod
    def _body(req: Request, key: str, limit: int) -> tuple[dict[str, Any], list[Any]]:
        try:
            body = json.loads(req.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ZohoError(400, "INVALID_DATA", "body", {}) from None
        if not isinstance(body, dict):
            raise ZohoError(400, "INVALID_DATA", "body", {})
        items = body.get(key)
        if not isinstance(items, list) or not items:
            raise ZohoError(
                400,
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": key, "json_path": f"$.{key}"},
            )
        if len(items) > limit:
            raise ZohoError(
                400,
                "LIMIT_EXCEEDED",
                f"the number of records given exceeds the limit of {limit}",
                {"limit": limit, "api_name": key, "json_path": f"$.{key}"},
            )
        return body, items

    @staticmethod
    def _multi_status(results: list[dict[str, Any]], ok: int) -> int:
        if all(r["status"] == "success" for r in results):
            return ok
        if all(r["status"] == "error" for r in results):
            return 400
        return 207

    def _record_write(self, module: str, trigger: Any, count: int, user_id: str) -> None:
        with self._lock:
            self._writes.append({"module": module, "trigger": trigger, "records": count, "user_id": user_id})
            del self._writes[:-1000]

    def _put_records(self, req: Request, module: str, user_id: str) -> tuple[Reply, int]:
        body, items = self._body(req, "data", self.limits.max_write)
        trigger = body.get("trigger")
        if "trigger" in body and (
            not isinstance(trigger, list) or any(not isinstance(t, str) or t not in TRIGGERS for t in trigger)
        ):
            raise ZohoError(
                400, "INVALID_DATA", "invalid data", {"api_name": "trigger", "json_path": "$.trigger"}
            )
        unmodified = _time_header(req, "If-Unmodified-Since")
        self._record_write(module, trigger, len(items), user_id)
        results = self._apply(module, "data", items, user_id, "record updated", unmodified, req.locked)
        status = self._multi_status(results, 200)
        if status == 400 and all(r["code"] == "ALREADY_MODIFIED" for r in results):
            status = 412
        return Reply(status, {"data": results}), max(1, math.ceil(len(items) / 10))

    def _put_users(self, req: Request, user_id: str) -> tuple[Reply, int]:
        _body, items = self._body(req, USERS, self.limits.max_write)
        if not self._is_admin(user_id):
            raise ZohoError(
                403, "NO_PERMISSION", "permission denied", {"permissions": ["Crm_Implied_Manage_Users"]}
            )
        self._record_write(USERS, None, len(items), user_id)
        results = self._apply(USERS, USERS, items, user_id, "User updated", locked=req.locked)
        for r in results:  # the Users API answers with the id only
            if r["status"] == "success":
                r["details"] = {"id": r["details"]["id"]}
        return Reply(self._multi_status(results, 200), {USERS: results}), max(1, math.ceil(len(items) / 10))

    def _apply(
        self,
        module: str,
        key: str,
        items: list[Any],
        user_id: str,
        message: str,
        unmodified: int | None = None,
        locked: frozenset[str] = frozenset(),
    ) -> list[dict[str, Any]]:
        """Validate and store each entry; one result per entry, in order. With ``unmodified``
        (If-Unmodified-Since), a record modified after it is refused (``ALREADY_MODIFIED``);
        a record in ``locked`` (an injected fault) fails with ``RECORD_LOCKED``."""
        fields = {f.api_name: f for f in self.store.fields(module)}
        results: list[dict[str, Any]] = []
        with self.store.transaction() as db:
            wanted = [rid for rid in (record_id(i.get("id")) for i in items if isinstance(i, dict)) if rid]
            rows = self.store.rows(db, module, wanted)
            targets = {f.lookup_module for f in fields.values() if f.lookup_module} | {USERS}
            known = {
                target: set(self.store.rows(db, target, self._lookup_ids(items, fields, target)))
                for target in targets
            }
            stamp = int(self.clock.now())
            users = {r.id: r for r in self.store.all_rows_in(db, USERS)}
            for i, item in enumerate(items):
                path = f"$.{key}[{i}]"
                try:
                    if not isinstance(item, dict):
                        raise EntryError("INVALID_DATA", "invalid data", {"json_path": path})
                    rid = item.get("id")
                    if rid is None:
                        raise EntryError(
                            "MANDATORY_NOT_FOUND",
                            "required field not found",
                            {"api_name": "id", "json_path": f"{path}.id"},
                        )
                    given = record_id(rid)
                    row = rows.get(given) if given is not None else None
                    if row is None:
                        raise EntryError(
                            "INVALID_DATA",
                            "the id given seems to be invalid",
                            {"api_name": "id", "json_path": f"{path}.id"},
                        )
                    if unmodified is not None and row.modified > unmodified:
                        raise EntryError(
                            "ALREADY_MODIFIED",
                            "Record updated time has already passed if-unmodified-since time",
                            {"id": row.id, "Modified_Time": render_time(row.modified)},
                        )
                    data = dict(row.data)
                    for name, value in item.items():
                        if name == "id" or name.startswith("$"):
                            continue
                        f = fields.get(name)
                        if f is None or f.read_only:
                            raise EntryError(
                                "INVALID_DATA",
                                "invalid data",
                                {"api_name": name, "json_path": f"{path}.{name}"},
                            )
                        data[name] = coerce(f, value, f"{path}.{name}", known)
                    if row.id in locked:
                        raise EntryError("RECORD_LOCKED", "the record is locked", {"id": row.id})
                except EntryError as e:
                    results.append(e.body)
                    continue
                data["Modified_By"] = user_id
                new = Row(row.id, row.created, max(stamp, row.modified), data)
                self.store.update_record(db, module, new)
                rows[row.id] = new
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": {
                            "Modified_Time": render_time(new.modified),
                            "Modified_By": _minified(users, user_id),
                            "Created_Time": render_time(new.created),
                            "id": row.id,
                            "Created_By": _minified(users, str(data.get("Created_By") or "")),
                        },
                        "message": message,
                        "status": "success",
                    }
                )
        return results

    @staticmethod
    def _lookup_ids(items: list[Any], fields: dict[str, ZField], target: str) -> list[str]:
        out: list[str] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            for name, value in item.items():
                f = fields.get(name)
                if f is not None and f.lookup_module == target and isinstance(value, dict):
                    out.extend(v for v in [value.get("id")] if isinstance(v, str))
        return out

    def _is_admin(self, user_id: str) -> bool:
        with self.store.reader() as db:
            row = self.store.rows(db, USERS, [user_id]).get(user_id)
        return row is not None and row.data.get("profile", {}).get("id") == ADMIN_PROFILE["id"]

    # -- users -------------------------------------------------------------------------------

    def _get_users(self, q: dict[str, str], user_id: str) -> Reply:
        kind = q.get("type", "AllUsers")
        if kind not in USER_TYPES:
            raise ZohoError(
                400,
                "INVALID_DATA",
                "invalid data",
                {"param_name": "type", "param": kind, "supported_values": list(USER_TYPES)},
            )
        per_page = min(self._int_param(q, "per_page", 200), 200)
        page = self._int_param(q, "page", 1)
        rows = self.store.all_rows(USERS)
        ids = {i.strip() for i in q["ids"].split(",")} if q.get("ids") else None

        def keep(r: Row) -> bool:
            active = r.data.get("status") == "active"
            admin = r.data.get("profile", {}).get("id") == ADMIN_PROFILE["id"]
            return {
                "AllUsers": True,
                "ActiveUsers": active,
                "DeactiveUsers": not active,
                "ConfirmedUsers": bool(r.data.get("confirm")),
                "NotConfirmedUsers": not r.data.get("confirm"),
                "DeletedUsers": False,
                "ActiveConfirmedUsers": active and bool(r.data.get("confirm")),
                "AdminUsers": admin,
                "ActiveConfirmedAdmins": admin and active,
                "CurrentUser": r.id == user_id,
            }[kind] and (ids is None or r.id in ids)

        chosen = [r for r in rows if keep(r)]
        window = chosen[(page - 1) * per_page : page * per_page]
        if not window:
            return Reply(204)
        fields = self.store.fields(USERS)
        users = {r.id: r for r in rows}
        out = []
        for r in window:
            rec = {k: v for k, v in r.data.items() if k not in ("Reporting_To", "Created_By", "Modified_By")}
            for f in fields:
                if f.custom_field:
                    rec[f.api_name] = self._value(f, r, users, {})
            rec.update(
                id=r.id,
                Reporting_To=self._value(_REPORTING_TO, r, users, {}),
                created_by=self._value(_CREATED_BY, r, users, {}),
                Modified_By=self._value(_MODIFIED_BY, r, users, {}),
                created_time=render_time(r.created),
                Modified_Time=render_time(r.modified),
            )
            out.append(rec)
        info = {
            "per_page": per_page,
            "count": len(out),
            "page": page,
            "more_records": page * per_page < len(chosen),
        }
        return Reply(200, {"users": out, "info": info})

    # -- settings: fields, modules, org ------------------------------------------------------

    def _fields_call(self, req: Request, rest: list[str], q: dict[str, str], user_id: str) -> Reply:
        """``/settings/fields[/{id}]?module=``: GET (all or one), POST (create), PATCH (update,
        by ``id`` in the body or the path), DELETE ``/{id}``."""
        allowed = ("GET", "PATCH", "DELETE") if rest else ("GET", "POST", "PATCH")
        if len(rest) > 1:
            raise ZohoError(404, "INVALID_URL_PATTERN", BAD_URL)
        if req.method not in allowed:
            raise ZohoError(400, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one")
        module = self._settings_module(q)
        fields = self.store.fields(module)
        if rest and not any(f.id == rest[0] for f in fields):
            raise ZohoError(
                400, "INVALID_DATA", "the id given seems to be invalid", {"resource_path_index": 3}
            )
        if req.method == "GET":
            return Reply(200, {"fields": [field_json(f) for f in fields if not rest or f.id == rest[0]]})
        if not self._is_admin(user_id):
            raise ZohoError(
                403, "NO_PERMISSION", "permission denied", {"permissions": ["Crm_Implied_Customize_Zoho_CRM"]}
            )
        if req.method == "POST":
            return self._create_fields(req, module)
        if req.method == "DELETE":
            return self._delete_field(module, next(f for f in fields if f.id == rest[0]))
        return self._update_fields(req, module, rest[0] if rest else None)

    def _too_many_fields(self) -> Reply:
        return Reply(
            400,
            {
                "fields": [
                    error_body(
                        "LIMIT_EXCEEDED",
                        f"at most {self.limits.max_field_create} fields can be sent in one call",
                        {
                            "limit": self.limits.max_field_create,
                            "limit_due_to": [{"api_name": "fields", "json_path": "$.fields"}],
                        },
                    )
                ]
            },
        )

    def _delete_field(self, module: str, f: ZField) -> Reply:
        if not f.custom_field:
            raise ZohoError(400, "NOT_ALLOWED", "standard fields cannot be deleted", {"id": f.id})
        with self.store.transaction() as db:
            self.store.drop_field(db, module, f.api_name)
        return Reply(
            200,
            {
                "fields": [
                    {
                        "code": "SUCCESS",
                        "details": {"id": f.id},
                        "message": "field deleted",
                        "status": "success",
                    }
                ]
            },
        )

    def _update_fields(self, req: Request, module: str, path_id: str | None) -> Reply:
        _body, items = self._body(req, "fields", 10**6)
        if len(items) > self.limits.max_field_create:
            return self._too_many_fields()
        results: list[dict[str, Any]] = []
        with self.store.transaction() as db:
            current = {f.id: f for f in self.store.fields(module)}
            for i, item in enumerate(items):
                try:
                    f = changed_field(item, f"$.fields[{i}]", current, path_id)
                except EntryError as e:
                    results.append(e.body)
                    continue
                current[f.id] = f
                self.store.replace_field(db, module, f)
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": {"id": f.id},
                        "message": "field updated",
                        "status": "success",
                    }
                )
        return Reply(self._multi_status(results, 200), {"fields": results})

    def _create_fields(self, req: Request, module: str) -> Reply:
        _body, items = self._body(req, "fields", 10**6)
        if len(items) > self.limits.max_field_create:
            return self._too_many_fields()
        results: list[dict[str, Any]] = []
        with self.store.transaction() as db:
            existing = self.store.fields(module)
            labels = {f.field_label.lower() for f in existing}
            names = {f.api_name.lower() for f in existing}
            unique = sum(f.unique for f in existing)
            targets = {m: MODULE_IDS[m] for m in RECORD_MODULES}
            targets.update({m.api_name: m.id for m in self._custom_modules()})
            next_id = int(self.store.meta("next_id") or ZBASE + 9_000_000_000)
            for i, item in enumerate(items):
                try:
                    f = new_field(item, f"$.fields[{i}]", labels, names, str(next_id + 1), targets, unique)
                except EntryError as e:
                    results.append(e.body)
                    continue
                next_id += 1
                unique += f.unique
                labels.add(f.field_label.lower())
                names.add(f.api_name.lower())
                self.store.add_field(db, module, f)
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": {"id": f.id},
                        "message": "field created",
                        "status": "success",
                    }
                )
            self.store.set_meta(db, "next_id", str(next_id))
        return Reply(self._multi_status(results, 201), {"fields": results})

    def _create_module(self, req: Request, user_id: str) -> Reply:
        """``POST /settings/modules``: one custom module, with its starting fields (`_modules`)."""
        body, _items = self._body(req, "modules", 10**6)
        item = module_items(body)
        if not self._is_admin(user_id):
            raise ZohoError(
                403, "NO_PERMISSION", "permission denied", {"permissions": ["Crm_Implied_Customize_Zoho_CRM"]}
            )
        with self.store.transaction() as db:
            try:
                module = new_module(item, taken_names(self._custom_modules()), self.store.next_id(db))
            except EntryError as e:
                return Reply(400, {"modules": [e.body]})
            self.store.add_module(db, module.api_name, module.document())
            for f in module_fields(module, [self.store.next_id(db) for _ in range(6)]):
                self.store.add_field(db, module.api_name, f)
            self.store.set_meta(db, f"autonumber:{module.api_name}", str(module.start_number))
        return Reply(200, {"modules": [{"code": "SUCCESS", "details": {"id": module.id},
                                        "message": "module created successfully", "status": "success"}]})

    def _write_new(self, req: Request, module: str, user_id: str, *, upsert: bool) -> tuple[Reply, int]:
        """Insert Records / Upsert Records (`_upsert`): 201 when every record is done and
        one was inserted, 200 when all were updates, 207 mixed, 400 all refused."""
        body, items = self._body(req, "data", self.limits.max_write)
        trigger = body.get("trigger")
        if "trigger" in body and (
            not isinstance(trigger, list) or any(not isinstance(t, str) or t not in TRIGGERS for t in trigger)
        ):
            raise ZohoError(
                400, "INVALID_DATA", "invalid data", {"api_name": "trigger", "json_path": "$.trigger"}
            )
        fields = {f.api_name: f for f in self.store.fields(module)}
        order = (
            check_order(module, fields, body.get("duplicate_check_fields"), req.headers.get("x-external"))
            if upsert
            else None
        )
        self._record_write(module, trigger, len(items), user_id)
        results = write_new(self.store, module, items, user_id, int(self.clock.now()), order, req.locked)
        inserted = any(r["status"] == "success" and r.get("action", "insert") == "insert" for r in results)
        status = self._multi_status(results, 201 if inserted else 200)
        return Reply(status, {"data": results}), max(1, math.ceil(len(items) / 10))

    def _modules(self, rest: list[str]) -> Reply:
        modules = [module_json(m, n) for n, m in enumerate(RECORD_MODULES)]
        modules += [custom_module_json(m, len(modules) + n) for n, m in enumerate(self._custom_modules())]
        if not rest:
            return Reply(200, {"modules": modules})
        chosen = [m for m in modules if m["api_name"].lower() == rest[0].lower() or m["id"] == rest[0]]
        if len(rest) != 1 or not chosen:
            raise ZohoError(
                400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 3}
            )
        return Reply(200, {"modules": chosen})

    def _org(self) -> Reply:
        return Reply(
            200,
            {
                "org": [
                    {
                        "id": str(ZBASE + 5_000_000_001),
                        "company_name": self.store.meta("company") or "Sandbox Inc.",
                        "time_zone": ORG_TIME_ZONE,
                        "iso_code": "USD",
                        "currency_symbol": "$",
                        "country_code": "CN",
                        "zgid": "70000001",
                        # the org's identity, for binding an org marker (OAS org.json Org)
                        "primary_zuid": "70000000",
                        "domain_name": "org70000001",
                        "type": "production",
                        "license_details": {
                            "paid_type": "enterprise",
                            "paid": True,
                            "trial_type": None,
                            "users_license_purchased": 25,
                            "paid_expiry": None,
                        },
                    }
                ]
            },
        )

    # -- OAuth (the accounts server) ---------------------------------------------------------


def _minified(users: dict[str, Row], user_id: str) -> dict[str, Any]:
    """OAS Minified_User of ``user_id`` (name, id, email)."""
    row = users.get(user_id)
    return {
        "name": row.data.get("full_name") if row else None,
        "id": user_id,
        "email": row.data.get("email") if row else None,
    }


def _token(req: Request) -> str:
    return req.headers.get("authorization", "").strip().partition(" ")[2].strip()


def _time_header(req: Request, name: str) -> int | None:
    """An ``If-Modified-Since`` / ``If-Unmodified-Since`` header as UTC seconds (None if absent)."""
    header = req.headers.get(name.lower())
    if header is None:
        return None
    seconds = parse_time(header)
    if seconds is None:
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"header_name": name})
    return seconds


def _write_ids(req: Request, family: str) -> list[str]:
    """The record ids a write touches (``data[].id`` / ``users[].id``), for row-lock faults."""
    if family not in ("zoho_records_put", "zoho_users_put"):
        return []
    try:
        body = json.loads(req.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    items = body.get("users" if family == "zoho_users_put" else "data") if isinstance(body, dict) else None
    return [rid for rid in (record_id(i.get("id")) for i in items or () if isinstance(i, dict)) if rid]


_REPORTING_TO = ZField("Reporting_To", "Reporting To", "userlookup", "0", lookup_module=USERS)
_CREATED_BY = ZField("Created_By", "Created By", "userlookup", "0", lookup_module=USERS)
_MODIFIED_BY = ZField("Modified_By", "Modified By", "userlookup", "0", lookup_module=USERS)
