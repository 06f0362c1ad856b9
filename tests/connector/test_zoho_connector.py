"""The Zoho adapter against `responses` stubs: the refresh-token grant and the token's life,
error bodies (HTTP-200 ones too) to error kinds, paging, field splitting and batched writes.
Nothing here sleeps: the clock and the sleep are seams."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from zoho_schema import errors, validate

from presales_sync import connector
from presales_sync.connector import (
    AuthError,
    ConfigError,
    FatalError,
    LimitExceededError,
    RecordChange,
    RetryableError,
)
from presales_sync.connector.base import Connector
from presales_sync.connector.zoho import DATA_CENTERS, ZohoConnector, ZohoSettings, connect
from presales_sync.connector.zoho._auth import MintLimiter

ACCOUNTS = "https://accounts.zoho.com"
TOKEN_URL = f"{ACCOUNTS}/oauth/v2/token"
API_DOMAIN = "https://www.zohoapis.com"
API = f"{API_DOMAIN}/crm/v8"
CLIENT_ID = "1000.CLIENTIDVALUE"
CLIENT_SECRET = "client-secret-value-xyz"
REFRESH = "1000.refresh-token-secret.abc"
ENV = {"PRESALES_ZOHO_CLIENT_ID": CLIENT_ID, "PRESALES_ZOHO_CLIENT_SECRET": CLIENT_SECRET,
       "PRESALES_ZOHO_REFRESH_TOKEN": REFRESH}
TOKENS = [f"1000.access-token-{i}.secret" for i in range(12)]
INVALID_TOKEN = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
TOO_MANY = {"code": "TOO_MANY_REQUESTS", "details": {}, "message": "too many requests", "status": "error"}


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def token_answer(i: int = 0, *, domain: str = API_DOMAIN, expires_in: int = 3600) -> dict[str, Any]:
    return {"access_token": TOKENS[i], "api_domain": domain, "token_type": "Bearer", "expires_in": expires_in}


def add_tokens(rsps: responses.RequestsMock, count: int = 1, url: str = TOKEN_URL, **kw: Any) -> None:
    for i in range(count):
        rsps.post(url, json=token_answer(i, **kw))


def make(clock: Clock, **settings: Any) -> ZohoConnector:
    return connect(ZohoSettings(**settings), ENV, sleep=clock.sleep, clock=clock)


def deal(i: int, stamp: str = "2026-11-20T10:00:00+08:00", **fields: Any) -> dict[str, Any]:
    return {"id": f"55400000000{i:05d}", "Modified_Time": stamp, **fields}


def listed(*fields: dict[str, Any]) -> dict[str, Any]:
    """A GET /settings/fields answer: each field with the keys Zoho always lists (an id,
    read_only and operation_type, writable unless `fields` say otherwise)."""
    out = []
    for n, f in enumerate(fields):
        api_update = not f.get("read_only", False)
        out.append({"id": f"57257670000000{n:05d}", "read_only": False,
                    "operation_type": {"web_update": api_update, "api_create": api_update,
                                       "web_create": api_update, "api_update": api_update}, **f})
    return {"fields": out}


def calls_to(rsps: responses.RequestsMock, prefix: str) -> list[Any]:
    return [c for c in rsps.calls if c.request.url.startswith(prefix)]


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(call.request.url).query)


def test_protocol_and_export() -> None:
    assert connector.connect_zoho is connect
    crm = connect(ZohoSettings(), ENV)
    assert isinstance(crm, Connector) and crm.kind == "zoho"


# -- settings and auth ------------------------------------------------------------------


@pytest.mark.parametrize("dc, accounts", [
    ("com", "https://accounts.zoho.com"), ("US", "https://accounts.zoho.com"),
    ("eu", "https://accounts.zoho.eu"), ("in", "https://accounts.zoho.in"),
    ("com.au", "https://accounts.zoho.com.au"), ("jp", "https://accounts.zoho.jp"),
    ("com.cn", "https://accounts.zoho.com.cn"), ("CN", "https://accounts.zoho.com.cn"),
    ("ca", "https://accounts.zohocloud.ca"), ("sa", "https://accounts.zoho.sa")])
def test_data_centres(dc: str, accounts: str) -> None:
    settings = ZohoSettings(data_center=dc)
    assert settings.token_url == accounts + "/oauth/v2/token"
    assert settings.default_api_domain == DATA_CENTERS[settings.data_center][1]


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="data_center"):
        ZohoSettings(data_center="moon")
    with pytest.raises(ConfigError, match="https"):
        ZohoSettings(accounts_url="http://accounts.zoho.com")
    with pytest.raises(ConfigError, match="https"):
        ZohoSettings(api_domain="https://www.zohoapis.com/?x=1")
    assert ZohoSettings(accounts_url="https://127.0.0.1:8443/accounts/").token_url == (
        "https://127.0.0.1:8443/accounts/oauth/v2/token")
    assert ZohoSettings(accounts_url="https://127.0.0.1:8443/").token_url == "https://127.0.0.1:8443/oauth/v2/token"


def test_missing_secret_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="PRESALES_ZOHO_REFRESH_TOKEN"):
        connect(ZohoSettings(), {k: v for k, v in ENV.items() if "REFRESH" not in k})


def test_china_dc_refresh_grant_and_api_domain_from_the_answer(rsps: responses.RequestsMock,
                                                               clock: Clock) -> None:
    rsps.post("https://accounts.zoho.com.cn/oauth/v2/token",
              json=token_answer(domain="https://www.zohoapis.com.cn"))
    rsps.get("https://www.zohoapis.com.cn/crm/v8/users", json={"users": [{"id": "9001"}]})
    crm = make(clock, data_center="com.cn")
    assert crm.current_user() == "9001"
    grant = rsps.calls[0].request
    form = parse_qs(grant.body)
    assert form == {"grant_type": ["refresh_token"], "client_id": [CLIENT_ID],
                    "client_secret": [CLIENT_SECRET], "refresh_token": [REFRESH]}
    api = rsps.calls[1].request
    assert api.headers["Authorization"] == f"Zoho-oauthtoken {TOKENS[0]}"
    assert query(rsps.calls[1]) == {"type": ["CurrentUser"]}
    assert crm.current_user() == "9001" and len(rsps.calls) == 2  # cached


@pytest.mark.parametrize("error, hint", [("invalid_code", "PRESALES_ZOHO_REFRESH_TOKEN"),
                                         ("invalid_client", "PRESALES_ZOHO_CLIENT_ID")])
def test_http_200_error_body_is_a_failure(rsps: responses.RequestsMock, clock: Clock, error: str,
                                          hint: str) -> None:
    rsps.post(TOKEN_URL, json={"error": error}, status=200)
    with pytest.raises(AuthError) as info:
        make(clock).current_user()
    assert info.value.code == error and hint in str(info.value)
    assert REFRESH not in str(info.value) and CLIENT_SECRET not in str(info.value)
    assert len(rsps.calls) == 1  # a refused grant is not retried


def test_token_endpoint_throttling_is_retried(rsps: responses.RequestsMock, clock: Clock) -> None:
    rsps.post(TOKEN_URL, status=400, json={"error": "Access Denied", "error_description":
                                           "You have made too many requests continuously."})
    add_tokens(rsps)
    rsps.get(f"{API}/users", json={"users": [{"id": "1"}]})
    assert make(clock).current_user() == "1"
    assert len(calls_to(rsps, TOKEN_URL)) == 2 and len(clock.slept) == 1


def test_token_is_cached_and_refreshed_before_its_hour(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps, 2)
    rsps.get(f"{API}/settings/fields", json={"fields": []})
    crm = make(clock, refresh_margin=300)
    crm.describe("Deals")
    clock.now += 3600 - 301
    crm.describe("Deals")
    assert len(calls_to(rsps, TOKEN_URL)) == 1  # still 301 s left: reused
    clock.now += 2
    crm.describe("Deals")
    assert len(calls_to(rsps, TOKEN_URL)) == 2  # under 5 minutes left: refreshed first
    headers = [c.request.headers["Authorization"] for c in calls_to(rsps, API)]
    assert headers == [f"Zoho-oauthtoken {TOKENS[0]}"] * 2 + [f"Zoho-oauthtoken {TOKENS[1]}"]
    assert crm.api_calls() == {"oauth_token": 2, "fields": 3}


def test_invalid_token_refreshes_once_and_retries(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps, 2)
    rsps.get(f"{API}/users", status=401, json=INVALID_TOKEN)
    rsps.get(f"{API}/users", json={"users": [{"id": "7"}]})
    crm = make(clock)
    assert crm.current_user() == "7"
    assert len(calls_to(rsps, TOKEN_URL)) == 2
    assert calls_to(rsps, API)[1].request.headers["Authorization"] == f"Zoho-oauthtoken {TOKENS[1]}"


def test_invalid_token_twice_is_an_auth_error(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps, 3)
    rsps.get(f"{API}/users", status=401, json=INVALID_TOKEN)
    with pytest.raises(AuthError) as info:
        make(clock).current_user()
    assert info.value.code == "INVALID_TOKEN"
    assert len(calls_to(rsps, TOKEN_URL)) == 2  # one refresh for the one failure, no more
    assert len(calls_to(rsps, API)) == 2
    assert all(t not in str(info.value) for t in TOKENS)


def test_mint_limiter_allows_ten_per_ten_minutes() -> None:
    limiter = MintLimiter()
    for i in range(10):
        assert limiter.wait_needed(1000.0 + i) == 0
        limiter.record(1000.0 + i)
    assert limiter.wait_needed(1010.0) == pytest.approx(590.0)
    assert limiter.wait_needed(1600.0) == 0  # the first mint left the window


def test_eleventh_token_within_ten_minutes_is_not_minted(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps, 11)
    rsps.get(f"{API}/users", status=401, json=INVALID_TOKEN)
    crm = make(clock)
    for _ in range(5):  # each failure costs the first mint plus one refresh
        with pytest.raises(AuthError):
            crm.current_user()
        crm._transport._token = None  # force a new mint for the next attempt
    assert len(calls_to(rsps, TOKEN_URL)) == 10
    with pytest.raises(RetryableError, match="10 access tokens per 10 minutes") as info:
        crm.current_user()
    assert info.value.retry_after is not None and info.value.retry_after > 60
    assert len(calls_to(rsps, TOKEN_URL)) == 10


def test_token_cache_carries_the_token_and_mints_across_runs(rsps: responses.RequestsMock, clock: Clock,
                                                             tmp_path: Path) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/users", json={"users": [{"id": "1"}]})
    cache = tmp_path / "zoho-token.json"
    make(clock, token_cache=cache).current_user()
    assert os.stat(cache).st_mode & 0o777 == 0o600
    assert REFRESH not in cache.read_text() and CLIENT_SECRET not in cache.read_text()
    second = make(clock, token_cache=cache)  # a new process a minute later
    clock.now += 60
    assert second.current_user() == "1"
    assert len(calls_to(rsps, TOKEN_URL)) == 1
    assert len(calls_to(rsps, f"{API}/users")) == 1  # the user id was kept with the token
    rsps.get(f"{API}/settings/fields", json={"fields": []})
    second.describe("Deals")
    reused = calls_to(rsps, f"{API}/settings")[0].request.headers["Authorization"]
    assert reused == f"Zoho-oauthtoken {TOKENS[0]}"
    # another refresh token does not reuse it
    other = connect(ZohoSettings(token_cache=cache), {**ENV, "PRESALES_ZOHO_REFRESH_TOKEN": "other"},
                    sleep=clock.sleep, clock=clock)
    rsps.post(TOKEN_URL, json=token_answer(1))
    other.current_user()
    assert len(calls_to(rsps, TOKEN_URL)) == 2


# -- errors ---------------------------------------------------------------------------------


def test_429_backs_off_without_retry_after(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/users", status=429, json=TOO_MANY)
    rsps.get(f"{API}/users", status=429, json=TOO_MANY)
    rsps.get(f"{API}/users", json={"users": [{"id": "5"}]})
    assert make(clock).current_user() == "5"
    assert len(clock.slept) == 2 and all(0 < s <= 60 for s in clock.slept)


def test_429_until_retries_are_spent_keeps_zohos_code(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/users", status=429, json=TOO_MANY)
    with pytest.raises(RetryableError) as info:
        make(clock, max_retries=3).current_user()
    assert info.value.code == "TOO_MANY_REQUESTS" and info.value.status == 429
    assert len(calls_to(rsps, API)) == 3


def test_429_with_no_credits_left_stops_at_once(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/users", status=429, json=TOO_MANY, headers={"X-API-CREDITS-REMAINING": "0"})
    with pytest.raises(LimitExceededError):
        make(clock).current_user()
    assert len(calls_to(rsps, API)) == 1


def test_credit_reserve_is_honoured(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/settings/fields", json={"fields": []}, headers={"X-API-CREDITS-REMAINING": "40"})
    crm = make(clock, credit_reserve=50)
    crm.describe("Deals")
    assert crm.credits_remaining == 40
    with pytest.raises(LimitExceededError, match="40 API credits left"):
        crm.describe("Deals")
    assert len(calls_to(rsps, API)) == 1


@pytest.mark.parametrize("status, body, kind", [
    (401, {"code": "OAUTH_SCOPE_MISMATCH", "details": {}, "message": "Unauthorized", "status": "error"},
     ConfigError),
    (401, {"code": "AUTHENTICATION_FAILURE", "details": {}, "message": "Authentication failed",
           "status": "error"}, AuthError),
    (400, {"code": "INVALID_MODULE", "details": {"resource_path_index": 0},
           "message": "the module name given seems to be invalid", "status": "error"}, ConfigError),
    (403, {"code": "NO_PERMISSION", "details": {}, "message": "permission denied", "status": "error"},
     ConfigError),
    (404, {"code": "INVALID_URL_PATTERN", "details": {}, "message": "Please check the URL",
           "status": "error"}, ConfigError),
    (400, {"code": "AMBIGUITY_DURING_PROCESSING", "details": {}, "message": "ambiguous", "status": "error"},
     FatalError),
])
def test_error_table_keeps_zohos_code(rsps: responses.RequestsMock, clock: Clock, status: int,
                                      body: dict[str, Any], kind: type) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/settings/fields", status=status, json=body)
    with pytest.raises(kind) as info:
        make(clock).describe("Deals")
    assert type(info.value) is kind and info.value.code == body["code"] and info.value.status == status
    assert body["code"] in str(info.value)


def test_5xx_is_retried_then_raised(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/settings/fields", status=500, json={
        "code": "INTERNAL_ERROR", "details": {}, "message": "Internal Server Error", "status": "error"})
    with pytest.raises(RetryableError) as info:
        make(clock, max_retries=2).describe("Deals")
    assert info.value.code == "INTERNAL_ERROR" and len(calls_to(rsps, API)) == 2


# -- reading --------------------------------------------------------------------------------


def add_page(rsps: responses.RequestsMock, records: list[dict[str, Any]], *, more: bool,
             token: str | None = None, status: int = 200) -> None:
    info = {"per_page": 200, "count": len(records), "more_records": more, "next_page_token": token,
            "sort_by": "Modified_Time", "sort_order": "asc"}
    rsps.get(f"{API}/Deals", json={"data": records, "info": info}, status=status)


def test_read_request_shape_lookups_and_stamps(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    add_page(rsps, [
        deal(2, "2026-11-20T10:00:05+08:00", Deal_Name="B", Owner={"name": "Li", "id": "u1", "email": "l@x"},
             Account_Name=None, Amount=0),
        deal(1, "2026-11-20T02:00:01+00:00", Deal_Name="A", Owner={"name": "Wu", "id": "u2"},
             Account_Name={"name": "Acme", "id": "a1"}, Amount=None),
    ], more=False)
    crm = make(clock)
    since = datetime(2026, 11, 20, 1, 0, 0, 500000, tzinfo=UTC)
    fields = ["Deal_Name", "Owner", "Account_Name", "Account_Name.name", "Amount"]
    pages = list(crm.read_changed(object_name="Deals", since=since, fields=fields))
    assert len(pages) == 1
    first, second = pages[0].records
    assert (first.id, second.id) == ("5540000000000001", "5540000000000002")  # (stamp, id) order
    assert first.stamp == datetime(2026, 11, 20, 2, 0, 1, tzinfo=UTC)
    assert first.fields["Owner"] == "u2" and first.fields["Account_Name"] == "a1"
    assert first.fields["Account_Name.name"] == "Acme" and first.fields["Amount"] is None
    assert second.fields["Account_Name"] is None and second.fields["Account_Name.name"] is None
    assert second.fields["Amount"] == 0
    call = calls_to(rsps, API)[0]
    q = query(call)
    assert q["fields"] == ["Modified_Time,Deal_Name,Owner,Account_Name,Amount"]
    assert q["per_page"] == ["200"] and q["page"] == ["1"] and "page_token" not in q
    assert q["sort_by"] == ["Modified_Time"] and q["sort_order"] == ["asc"]
    # a second before `since` (floored to whole seconds), explicit offset: inclusive whatever Zoho does
    assert call.request.headers["If-Modified-Since"] == "2026-11-20T00:59:59+00:00"


def test_records_before_since_are_dropped(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    add_page(rsps, [deal(1, "2026-11-20T00:59:59+00:00"), deal(2, "2026-11-20T01:00:00+00:00")], more=False)
    pages = list(make(clock).read_changed(object_name="Deals", fields=[],
                                          since=datetime(2026, 11, 20, 1, tzinfo=UTC)))
    assert [r.id for r in pages[0].records] == ["5540000000000002"]


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_mean_nothing(rsps: responses.RequestsMock, clock: Clock, status: int) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/Deals", status=status, body=b"")
    assert list(make(clock).read_changed(object_name="Deals", fields=["Deal_Name"], since=None)) == []


def test_page_then_page_token_after_2000(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    n = 0
    for page in range(1, 11):
        add_page(rsps, [deal(n + i) for i in range(200)], more=True, token=f"tok{page}")
        n += 200
    add_page(rsps, [deal(n + i) for i in range(200)], more=True, token="tok11")
    add_page(rsps, [deal(n + 200 + i) for i in range(3)], more=False, token=None)
    pages = list(make(clock).read_changed(object_name="Deals", fields=["Deal_Name"], since=None))
    assert [len(p.records) for p in pages] == [200] * 11 + [3]
    assert [p.number for p in pages] == list(range(1, 13))
    qs = [query(c) for c in calls_to(rsps, API)]
    assert [q.get("page") for q in qs[:10]] == [[str(i)] for i in range(1, 11)]
    assert all("page_token" not in q for q in qs[:10])
    assert [q.get("page_token") for q in qs[10:]] == [["tok10"], ["tok11"]]
    assert all("page" not in q for q in qs[10:])  # never both


def test_pages_are_requested_lazily(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    add_page(rsps, [deal(1)], more=True)
    add_page(rsps, [deal(2)], more=False)
    pages = make(clock).read_changed(object_name="Deals", fields=[], since=None)
    next(pages)
    assert len(calls_to(rsps, API)) == 1


def test_a_repeated_page_token_is_a_loop(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    for page in range(1, 11):
        add_page(rsps, [deal(page)], more=True, token="t")
    add_page(rsps, [deal(11)], more=True, token="same")
    add_page(rsps, [deal(12)], more=True, token="same")
    with pytest.raises(FatalError, match="loops"):
        list(make(clock).read_changed(object_name="Deals", fields=[], since=None))


def test_wide_mappings_split_at_50_fields_and_merge_by_id(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    names = [f"F{i:02d}" for i in range(70)]
    first = [deal(1, **{n: 1 for n in names[:49]}), deal(2, **{n: 2 for n in names[:49]}),
             deal(3, **{n: 3 for n in names[:49]})]
    # the second call lists the same records (another order); record 3 changed in between
    second = [{"id": "5540000000000002", **{n: 20 for n in names[49:]}},
              {"id": "5540000000000001", **{n: 10 for n in names[49:]}},
              deal(3, "2026-11-20T10:00:09+08:00", **{n: 30 for n in names[49:]})]
    add_page(rsps, first, more=False)
    add_page(rsps, second, more=False)
    pages = list(make(clock).read_changed(object_name="Deals", fields=names, since=None))
    records = {r.id: r.fields for r in pages[0].records}
    assert set(records) == {"5540000000000001", "5540000000000002"}  # 3 comes back next run
    assert records["5540000000000001"]["F00"] == 1 and records["5540000000000001"]["F69"] == 10
    assert records["5540000000000002"]["F48"] == 2 and records["5540000000000002"]["F49"] == 20
    asked = [query(c)["fields"][0].split(",") for c in calls_to(rsps, API)]
    assert [len(a) for a in asked] == [50, 21] and asked[0][0] == "Modified_Time"
    assert sorted(asked[0][1:] + asked[1]) == names


def test_invalid_field_names_never_reach_the_query(clock: Clock) -> None:
    crm = make(clock)
    with pytest.raises(ConfigError):
        crm.read_changed(object_name="Deals", fields=["Deal_Name,Owner"], since=None)
    with pytest.raises(ConfigError):
        crm.read_changed(object_name="Deals/../users", fields=[], since=None)


# -- writing --------------------------------------------------------------------------------


def ok(record_id: str) -> dict[str, Any]:
    return {"code": "SUCCESS", "details": {"Modified_Time": "2026-11-20T10:00:00+08:00", "id": record_id,
                                           "Modified_By": {"name": "Sync", "id": "9001"}},
            "message": "record updated", "status": "success"}


def bad(api_name: str, code: str = "INVALID_DATA") -> dict[str, Any]:
    return {"code": code, "details": {"expected_data_type": "double", "api_name": api_name,
                                      "json_path": f"$.data[0].{api_name}"},
            "message": "invalid data", "status": "error"}


def put_answer(request: Any, status: int = 200) -> tuple[int, dict[str, str], str]:
    body = json.loads(request.body)
    return status, {}, json.dumps({"data": [ok(r["id"]) for r in body["data"]]})


def test_writes_go_in_hundreds_with_no_triggers(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/settings/fields", json=listed(
        {"api_name": "Presales_Engineer", "data_type": "userlookup", "field_label": "Presales Engineer"},
        {"api_name": "Presales_Step", "data_type": "picklist", "field_label": "Presales Step"}))
    rsps.add_callback(responses.PUT, f"{API}/Deals", callback=put_answer)
    changes = [RecordChange(f"5540{i:05d}", {"Presales_Step": "Requirements",
                                            "Presales_Engineer": "u1" if i else None}) for i in range(250)]
    results = make(clock).write(object_name="Deals", changes=changes)
    assert [r.id for r in results] == [c.id for c in changes] and all(r.ok for r in results)
    puts = [c for c in calls_to(rsps, API) if c.request.method == "PUT"]
    bodies = [json.loads(c.request.body) for c in puts]
    assert [len(b["data"]) for b in bodies] == [100, 100, 50]
    assert all(b["trigger"] == [] for b in bodies)
    assert bodies[0]["data"][1] == {"id": "554000001", "Presales_Step": "Requirements",
                                    "Presales_Engineer": {"id": "u1"}}
    assert bodies[0]["data"][0]["Presales_Engineer"] is None


def test_datetimes_go_out_in_whole_seconds_with_an_offset(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    add_page(rsps, [deal(1, Presales_Response_Due="2026-11-20T10:00:00+08:00", Presales_Message="")],
             more=False)
    rsps.add_callback(responses.PUT, f"{API}/Deals", callback=put_answer)
    crm = make(clock)
    fields = ["Presales_Response_Due", "Presales_Message"]
    list(crm.read_changed(object_name="Deals", fields=fields, since=None))
    crm.write(object_name="Deals", changes=[
        RecordChange("1", {"Presales_Response_Due": "2026-11-23T10:15:30.987Z",
                           "Presales_Message": "due 2026-11-23T10:15:30.987Z"}),
        RecordChange("2", {"Presales_Response_Due": datetime(2026, 11, 23, 18, 15, 30, 5, tzinfo=UTC)})])
    rows = json.loads(calls_to(rsps, f"{API}/Deals")[-1].request.body)["data"]
    assert rows[0]["Presales_Response_Due"] == "2026-11-23T10:15:30+00:00"
    assert rows[0]["Presales_Message"] == "due 2026-11-23T10:15:30.987Z"  # text stays text
    assert rows[1]["Presales_Response_Due"] == "2026-11-23T18:15:30+00:00"


def test_lookups_learnt_from_a_read_need_no_metadata_call(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    add_page(rsps, [deal(1, Presales_Engineer={"id": "u1", "name": "Li"}, Presales_Step="Requirements")],
             more=False)
    rsps.add_callback(responses.PUT, f"{API}/Deals", callback=put_answer)
    crm = make(clock)
    list(crm.read_changed(object_name="Deals", fields=["Presales_Engineer", "Presales_Step"], since=None))
    crm.write(object_name="Deals", changes=[RecordChange("5540000000000001", {"Presales_Engineer": "u2",
                                                                               "Presales_Step": "Done"})])
    assert crm.api_calls() == {"oauth_token": 1, "get_records": 1, "update_records": 1}
    body = json.loads(calls_to(rsps, f"{API}/Deals")[-1].request.body)
    assert body["data"][0]["Presales_Engineer"] == {"id": "u2"}


@pytest.mark.parametrize("status", [207, 400])
def test_per_record_results_of_mixed_and_failed_batches(rsps: responses.RequestsMock, clock: Clock,
                                                        status: int) -> None:
    add_tokens(rsps)
    add_page(rsps, [deal(1, Presales_KPI=1.0)], more=False)
    first = ok("1") if status == 207 else bad("Presales_KPI", "RECORD_LOCKED")
    rsps.put(f"{API}/Deals", status=status, json={"data": [first, bad("Presales_KPI")]})
    crm = make(clock)
    list(crm.read_changed(object_name="Deals", fields=["Presales_KPI"], since=None))
    results = crm.write(object_name="Deals", changes=[RecordChange("1", {"Presales_KPI": 1}),
                                                      RecordChange("2", {"Presales_KPI": "x"})])
    assert results[0].ok is (status == 207)
    assert results[1].ok is False and results[1].error_code == "INVALID_DATA"
    assert results[1].message is not None and "Presales_KPI" in results[1].message
    assert "double" in results[1].message and results[1].retryable is False
    if status == 400:
        assert results[0].error_code == "RECORD_LOCKED" and results[0].retryable is True


def test_a_400_without_per_record_data_is_an_error(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    add_page(rsps, [deal(1, Presales_KPI=1.0)], more=False)
    rsps.put(f"{API}/Deals", status=400, json={"code": "LIMIT_EXCEEDED", "details": {"limit": 100},
                                               "message": "limit exceeded", "status": "error"})
    crm = make(clock)
    list(crm.read_changed(object_name="Deals", fields=["Presales_KPI"], since=None))
    with pytest.raises(ConfigError) as info:
        crm.write(object_name="Deals", changes=[RecordChange("1", {"Presales_KPI": 1})])
    assert info.value.code == "LIMIT_EXCEEDED"


def test_user_kpi_fields_are_written_through_the_users_api(rsps: responses.RequestsMock,
                                                           clock: Clock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/settings/fields", json=listed(
        {"api_name": "Presales_KPI_Score", "data_type": "double", "field_label": "Presales KPI Score"}))
    rsps.put(f"{API}/users", json={"users": [ok("u1"), bad("Presales_KPI_Score")]}, status=207)
    results = make(clock).write(object_name="users", changes=[
        RecordChange("u1", {"Presales_KPI_Score": 91.5}), RecordChange("u2", {"Presales_KPI_Score": "x"})])
    assert [r.ok for r in results] == [True, False]
    fields_call = calls_to(rsps, f"{API}/settings/fields")[0]
    assert query(fields_call) == {"module": ["users"]}
    body = json.loads(calls_to(rsps, f"{API}/users")[0].request.body)
    assert body == {"users": [{"id": "u1", "Presales_KPI_Score": 91.5},
                              {"id": "u2", "Presales_KPI_Score": "x"}]}


def test_describe_speaks_the_mapping_vocabulary(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/settings/fields", json=listed(
        {"api_name": "Owner", "data_type": "ownerlookup", "field_label": "Deal Owner", "read_only": False},
        {"api_name": "Account_Name", "data_type": "lookup", "field_label": "Account Name",
         "lookup": {"module": {"api_name": "Accounts", "id": "1"}}},
        {"api_name": "Stage", "data_type": "picklist", "field_label": "Stage", "system_mandatory": True,
         "pick_list_values": [{"display_value": "Closed Won", "actual_value": "Closed Won"}]},
        {"api_name": "Modified_Time", "data_type": "datetime", "field_label": "Modified Time",
         "read_only": True},
        {"api_name": "Presales_Rework_Count", "data_type": "integer", "field_label": "Presales Rework Count",
         "custom_field": True, "length": 3}))
    schema = make(clock).describe("Deals")
    f = schema.fields
    assert f["Owner"].type == "reference" and f["Owner"].reference_to == ("users",)
    assert f["Account_Name"].reference_to == ("Accounts",)
    assert f["Stage"].picklist_values == ("Closed Won",) and f["Stage"].restricted_picklist
    assert f["Stage"].nillable is False and f["Modified_Time"].updateable is False
    assert f["Presales_Rework_Count"].type == "int" and f["Presales_Rework_Count"].custom


# -- what we send, against the JSON Schemas of Zoho's wire shapes -------------------------


def test_record_and_user_writes_fit_zohos_schemas(rsps: responses.RequestsMock, clock: Clock) -> None:
    add_tokens(rsps)
    engineer = "5725767000001000007"
    rsps.get(f"{API}/settings/fields", json=listed(
        {"api_name": "Presales_Engineer", "data_type": "userlookup", "field_label": "Presales Engineer"},
        *({"api_name": name, "data_type": "text", "field_label": name} for name in (
            "Presales_Step", "Presales_Status", "Presales_Due_Date", "Presales_Response_Due",
            "Presales_Health", "Presales_Rework_Count", "Presales_Message", "Presales_Signoff",
            "Presales_KPI_Score", "Presales_KPI_Period"))))
    rsps.add_callback(responses.PUT, f"{API}/Deals", callback=put_answer)
    crm = make(clock)
    changes = [RecordChange(f"57257670000030{i:05d}", {
        "Presales_Engineer": engineer if i % 3 else None, "Presales_Step": "Requirements",
        "Presales_Status": "Assigned", "Presales_Due_Date": "2026-12-01",
        "Presales_Response_Due": "2026-11-24T02:00:00.000Z", "Presales_Health": "Green",
        "Presales_Rework_Count": 0, "Presales_Message": None, "Presales_Signoff": None}) for i in range(150)]
    assert all(r.ok for r in crm.write(object_name="Deals", changes=changes))
    bodies = [json.loads(c.request.body) for c in calls_to(rsps, f"{API}/Deals") if c.request.method == "PUT"]
    assert len(bodies) == 2
    for body in bodies:
        validate("records_put_request", body)
    # the check can fail: Zoho's milliseconds-free datetimes, the trigger we always send
    row = {**bodies[0]["data"][0], "Presales_Response_Due": "2026-11-24T02:00:00.000Z"}
    broken = {**bodies[0], "data": [row]}
    assert errors("records_put_request", broken)
    assert errors("records_put_request", {"data": bodies[0]["data"]})

    rsps.put(f"{API}/users", json={"users": [ok(engineer)]})
    crm.write(object_name="users", changes=[RecordChange(engineer, {"Presales_KPI_Score": 91.5,
                                                                    "Presales_KPI_Period": "2026Q4"})])
    validate("users_put_request", json.loads(calls_to(rsps, f"{API}/users")[0].request.body))
