"""The sandbox's Zoho CRM v8 half over real HTTPS (TLS verified against its CA): OAuth on
the accounts server, Get Records paging and If-Modified-Since, Update Records with per-record
results, Users, field metadata and creation, errors and limits. Every body is checked
against the JSON Schemas in tests/schemas/zoho/ (written from Zoho's OpenAPI files)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sandbox_seed import PLUGIN_ORG, plugin_org
from zoho_schema import validate

from presales_sync.sandbox import ManualClock, Sandbox, ZohoLimits, describe_banner, parse_spec

DEAL_FIELDS = (
    "Deal_Name,Account_Name,Owner,Stage,Amount,Closing_Date,Created_Time,Modified_Time,Modified_By,"
    "Presales_Requested,Presales_Priority,Presales_Engineer,Presales_Response_Due,Presales_Rework_Count"
)


def session(sb: Sandbox) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
    s.verify = str(sb.ca_file)
    return s


def grant(sb: Sandbox, **override: str) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": sb.zoho_client_id,
        "client_secret": sb.zoho_client_secret,
        "refresh_token": sb.zoho_refresh_token,
        **override,
    }
    return session(sb).post(f"{sb.zoho_accounts_url}/oauth/v2/token", data=form, timeout=10)


class Zoho:
    """A bare client: the token from the accounts server, calls against ``api_domain``."""

    def __init__(self, sb: Sandbox, token: str | None = None) -> None:
        self.sb = sb
        self.http = session(sb)
        if token is None:
            resp = grant(sb)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            validate("token_response", body)
            token, self.base = body["access_token"], body["api_domain"]
        else:
            self.base = sb.zoho_api_domain
        self.token = token

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Zoho-oauthtoken {self.token}", **kw.pop("headers", {})}
        return self.http.request(method, f"{self.base}/crm/v8/{path}", headers=headers, timeout=30, **kw)

    def deals(self, **params: Any) -> requests.Response:
        headers = {"If-Modified-Since": params.pop("since")} if "since" in params else {}
        return self.call("GET", "Deals", params={"fields": DEAL_FIELDS, **params}, headers=headers)

    def put(self, path: str, body: dict[str, Any]) -> requests.Response:
        if path == "Deals":
            validate("records_put_request", body)
        elif path == "users":
            validate("users_put_request", body)
        return self.call("PUT", path, json=body)


def error_of(resp: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    validate("error", body)
    assert body["code"] == code, body
    return body


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(
        tmp_path_factory.mktemp("zoho"), port=0, seed=300, zoho_limits=ZohoLimits(discrete_records=200),
        org=PLUGIN_ORG,
    )
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def z(sb: Sandbox) -> Zoho:
    return Zoho(sb)


def all_deals(z: Zoho, **params: Any) -> list[dict[str, Any]]:
    """Every deal: pages 1.. while allowed, then page_token; each page schema-checked."""
    out: list[dict[str, Any]] = []
    resp = z.deals(per_page=100, **params)
    while True:
        if resp.status_code in (204, 304):
            assert resp.content == b""
            return out
        assert resp.status_code == 200, resp.text
        body = resp.json()
        validate("records_get_response", body)
        assert body["info"]["count"] == len(body["data"])
        out.extend(body["data"])
        if not body["info"]["more_records"]:
            return out
        resp = z.deals(per_page=100, page_token=body["info"]["next_page_token"], **params)


# -- OAuth -------------------------------------------------------------------------------------


def test_refresh_grant_by_form_or_query_and_api_domain(sb: Sandbox) -> None:
    by_form = grant(sb)
    params = {
        "grant_type": "refresh_token",
        "client_id": sb.zoho_client_id,
        "client_secret": sb.zoho_client_secret,
        "refresh_token": sb.zoho_refresh_token,
    }
    by_query = session(sb).post(f"{sb.zoho_accounts_url}/oauth/v2/token", params=params, timeout=10)
    for resp in (by_form, by_query):
        assert resp.status_code == 200
        body = resp.json()
        validate("token_response", body)
        assert body["api_domain"] == sb.zoho_api_domain == sb.url and body["expires_in"] == 3600
        assert body["token_type"] == "Bearer" and "refresh_token" not in body
    assert by_form.json()["access_token"] != by_query.json()["access_token"]
    assert sb.zoho_accounts_url != sb.zoho_api_domain
    # the accounts server is not the API: a client that ignores api_domain gets 404
    wrong = session(sb).get(
        f"{sb.zoho_accounts_url}/crm/v8/Deals",
        timeout=10,
        headers={"Authorization": f"Zoho-oauthtoken {by_form.json()['access_token']}"},
    )
    error_of(wrong, 404, "INVALID_URL_PATTERN")


def test_bad_credentials_fail_with_http_200(sb: Sandbox) -> None:
    cases = [
        ({"client_id": "1000.NOPE"}, "invalid_client"),
        ({"client_secret": "nope"}, "invalid_client"),
        ({"refresh_token": "1000.dead.beef"}, "invalid_code"),
    ]
    for override, error in cases:
        resp = grant(sb, **override)
        assert resp.status_code == 200
        validate("token_error", resp.json())
        assert resp.json() == {"error": error}
    assert grant(sb, grant_type="password").json() == {"error": "unsupported_grant_type"}


def test_ten_tokens_per_ten_minutes_per_refresh_token(tmp_path: Path) -> None:
    clock = ManualClock()  # the grants all land in one window until the test moves it on
    limits = ZohoLimits(token_window=3.0)
    with Sandbox(tmp_path / "sb", seed=10, zoho_limits=limits, clock=clock, org=PLUGIN_ORG) as box:
        http = session(box)  # one kept-alive connection: the ten grants take well under the window
        form = {
            "grant_type": "refresh_token",
            "client_id": box.zoho_client_id,
            "client_secret": box.zoho_client_secret,
            "refresh_token": box.zoho_refresh_token,
        }
        codes = [
            http.post(f"{box.zoho_accounts_url}/oauth/v2/token", data=form, timeout=10).status_code
            for _ in range(10)
        ]
        assert codes == [200] * 10
        denied = http.post(f"{box.zoho_accounts_url}/oauth/v2/token", data=form, timeout=10)
        assert denied.status_code == 400
        validate("token_error", denied.json())
        assert denied.json() == {
            "error": "Access Denied",
            "error_description": "You have made too many requests continuously. "
            "Please try again after some time.",
        }
        clock.advance(3.1)  # the window rolls on
        assert grant(box).status_code == 200


def test_invalid_token_and_authentication_failure(sb: Sandbox) -> None:
    z = Zoho(sb)
    assert z.call("GET", "users", params={"type": "CurrentUser"}).status_code == 200
    assert sb.zoho_expire_tokens() >= 1
    body = error_of(z.call("GET", "users", params={"type": "CurrentUser"}), 401, "INVALID_TOKEN")
    assert body["message"] == "invalid oauth token"
    fresh = Zoho(sb)  # one refresh, and the call goes through again
    assert fresh.call("GET", "users", params={"type": "CurrentUser"}).status_code == 200
    error_of(
        Zoho(sb, "1000.unknown.token").call("GET", "Deals", params={"fields": "Deal_Name"}),
        401,
        "INVALID_TOKEN",
    )
    for header in ({}, {"Authorization": f"Bearer {fresh.token}"}):
        resp = session(sb).get(
            f"{sb.url}/crm/v8/Deals", params={"fields": "Deal_Name"}, headers=header, timeout=10
        )
        error_of(resp, 401, "AUTHENTICATION_FAILURE")


# -- Get Records --------------------------------------------------------------------------------


def test_get_deals_shapes_and_only_requested_fields(sb: Sandbox, z: Zoho) -> None:
    resp = z.deals(per_page=5, sort_by="Modified_Time", sort_order="asc")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    validate("records_get_response", body)
    assert body["info"] | {"next_page_token": None, "page_token_expiry": None} == {
        "call": False,
        "per_page": 5,
        "count": 5,
        "page": 1,
        "more_records": True,
        "sort_by": "Modified_Time",
        "sort_order": "asc",
        "email": False,
        "previous_page_token": None,
        "next_page_token": None,
        "page_token_expiry": None,
    }
    deal = body["data"][0]
    assert set(deal) == {*DEAL_FIELDS.split(","), "id"}
    assert deal["Owner"]["email"].endswith("@presales-sandbox.example.com")
    assert deal["Modified_Time"].endswith("+08:00")  # rendered in the user's time zone
    stamps = [datetime.fromisoformat(d["Modified_Time"]) for d in body["data"]]
    assert stamps == sorted(stamps)
    only = z.call("GET", "Deals", params={"fields": "Stage", "per_page": 1}).json()["data"][0]
    assert set(only) == {"Stage", "id"}
    assert z.deals(per_page=500).json()["info"]["per_page"] == 200  # capped, not refused


def test_default_sort_is_id_desc(z: Zoho) -> None:
    body = z.call("GET", "Deals", params={"fields": "Deal_Name", "per_page": 50}).json()
    assert body["info"]["sort_by"] == "id" and body["info"]["sort_order"] == "desc"
    ids = [int(d["id"]) for d in body["data"]]
    assert ids == sorted(ids, reverse=True)


def test_fields_param_required_and_at_most_50(z: Zoho) -> None:
    error_of(z.call("GET", "Deals"), 400, "REQUIRED_PARAM_MISSING")
    body = error_of(
        z.call("GET", "Deals", params={"fields": ",".join(f"F{i}" for i in range(51))}), 400, "LIMIT_EXCEEDED"
    )
    assert body["message"] == "Fields limit exceeded"
    error_of(z.call("GET", "Deals", params={"fields": "Deal_Name,No_Such_Field"}), 400, "INVALID_DATA")
    error_of(z.call("GET", "Deals", params={"fields": "Deal_Name", "sort_by": "Stage"}), 400, "INVALID_DATA")
    error_of(z.call("GET", "Leads", params={"fields": "Last_Name"}), 400, "INVALID_MODULE")
    error_of(z.call("GET", "nothing/here/at/all"), 404, "INVALID_URL_PATTERN")


def test_paging_past_the_discrete_limit_needs_page_token(sb: Sandbox, z: Zoho) -> None:
    """This sandbox lets page/per_page reach 200 records (Zoho: 2,000) of its 300 deals."""
    first = z.deals(per_page=100, page=1, sort_by="Modified_Time", sort_order="asc").json()
    second = z.deals(per_page=100, page=2, sort_by="Modified_Time", sort_order="asc")
    assert second.status_code == 200
    body = error_of(
        z.deals(per_page=100, page=3, sort_by="Modified_Time", sort_order="asc"),
        400,
        "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
    )
    assert body["details"] == {"limit": 200}
    token = second.json()["info"]["next_page_token"]
    third = z.deals(per_page=100, page_token=token, sort_by="Modified_Time", sort_order="asc")
    assert third.status_code == 200
    validate("records_get_response", third.json())
    assert third.json()["info"]["more_records"] is False and third.json()["info"]["next_page_token"] is None
    ids = [d["id"] for page in (first, second.json(), third.json()) for d in page["data"]]
    assert len(ids) == len(set(ids)) == 300
    # the token is bound to the query, to its user, and cannot be combined with page
    error_of(
        z.deals(per_page=100, page_token=token, sort_by="Modified_Time", sort_order="desc"),
        400,
        "TOKEN_BOUND_DATA_MISMATCH",
    )
    error_of(
        z.deals(per_page=100, page=2, page_token=token, sort_by="Modified_Time", sort_order="asc"),
        400,
        "AMBIGUITY_DURING_PROCESSING",
    )
    engineer = Zoho(sb, sb.zoho_token_for(_roster(sb)[0]["crm_user_id"]))
    error_of(
        engineer.deals(per_page=100, page_token=token, sort_by="Modified_Time", sort_order="asc"),
        400,
        "INVALID_DATA",
    )
    error_of(z.deals(per_page=100, page_token="garbage"), 400, "INVALID_DATA")


def test_default_limits_reach_2000_records_by_page(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "big", seed=2050, org=PLUGIN_ORG) as box:
        z = Zoho(box)
        assert (
            z.call("GET", "Deals", params={"fields": "Deal_Name", "per_page": 200, "page": 10}).status_code
            == 200
        )
        last = z.call("GET", "Deals", params={"fields": "Deal_Name", "per_page": 200, "page": 10}).json()
        error_of(
            z.call("GET", "Deals", params={"fields": "Deal_Name", "per_page": 200, "page": 11}),
            400,
            "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
        )
        rest = z.call(
            "GET",
            "Deals",
            params={"fields": "Deal_Name", "per_page": 200, "page_token": last["info"]["next_page_token"]},
        ).json()
        validate("records_get_response", rest)
        assert rest["info"]["count"] == 50 and rest["info"]["more_records"] is False


def test_page_token_reach_and_expiry(tmp_path: Path) -> None:
    limits = ZohoLimits(discrete_records=20, page_token_records=40, page_token_ttl=2.0)
    clock = ManualClock()
    with Sandbox(tmp_path / "tokens", seed=60, zoho_limits=limits, clock=clock, org=PLUGIN_ORG) as box:
        z = Zoho(box)

        def page(**params: Any) -> requests.Response:
            return z.call("GET", "Deals", params={"fields": "Deal_Name", "per_page": 10, **params})

        token = page(page=2).json()["info"]["next_page_token"]
        error_of(page(page=3), 400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED")
        third = page(page_token=token).json()
        assert third["info"]["page"] == 3 and third["info"]["more_records"]
        fourth = page(page_token=third["info"]["next_page_token"]).json()
        error_of(page(page_token=fourth["info"]["next_page_token"]), 400, "PAGINATION_LIMIT_EXCEEDED")
        stale = page(page=1).json()["info"]["next_page_token"]
        clock.advance(2.1)
        assert page(page=1).status_code == 200  # other tokens handed out meanwhile
        error_of(page(page_token=stale), 400, "EXPIRED_VALUE")


def test_if_modified_since_inclusive_then_304(sb: Sandbox, z: Zoho) -> None:
    deals = all_deals(z, sort_by="Modified_Time", sort_order="asc")
    assert len(deals) == 300
    newest = max(datetime.fromisoformat(d["Modified_Time"]) for d in deals)
    tied = [d["id"] for d in deals if datetime.fromisoformat(d["Modified_Time"]) == newest]
    same = all_deals(z, since=newest.isoformat(), sort_by="Modified_Time", sort_order="asc")
    assert [d["id"] for d in same] == tied  # >= at second resolution
    after = z.deals(since=(newest + timedelta(seconds=1)).isoformat())
    assert after.status_code == 304 and after.content == b""
    utc = newest.astimezone(UTC)
    assert {d["id"] for d in all_deals(z, since=utc.strftime("%Y-%m-%dT%H:%M:%SZ"))} == set(tied)
    error_of(z.deals(since="Mon, 23 Nov 2026 10:00:00 GMT"), 400, "INVALID_DATA")


def test_204_when_nothing_matches(z: Zoho) -> None:
    resp = z.deals(ids="5725767000000000001")
    assert resp.status_code == 204 and resp.content == b""
    one = z.deals(per_page=1).json()["data"][0]["id"]
    assert [d["id"] for d in z.deals(ids=one).json()["data"]] == [one]


# -- Update Records -----------------------------------------------------------------------------


def test_put_all_ok_bumps_modified_and_records_trigger(sb: Sandbox, z: Zoho) -> None:
    deals = z.deals(per_page=3).json()["data"]
    engineer = _roster(sb)[0]["crm_user_id"]
    body = {
        "data": [
            {
                "id": d["id"],
                "Presales_Engineer": {"id": engineer},
                "Presales_Status": "Assigned",
                "Presales_Response_Due": "2026-12-01T09:00:00+08:00",
                "Presales_Rework_Count": 0,
            }
            for d in deals
        ],
        "trigger": [],
    }
    before = time.time()
    resp = z.put("Deals", body)
    assert resp.status_code == 200, resp.text
    validate("records_put_response", resp.json())
    results = resp.json()["data"]
    assert [r["details"]["id"] for r in results] == [d["id"] for d in deals]
    assert all(r["code"] == "SUCCESS" and r["message"] == "record updated" for r in results)
    assert results[0]["details"]["Modified_By"]["id"] == sb.zoho_integration_user_id
    assert datetime.fromisoformat(results[0]["details"]["Modified_Time"]).timestamp() >= int(before)
    assert sb.zoho_writes()[-1] == {
        "module": "Deals",
        "trigger": [],
        "records": 3,
        "user_id": sb.zoho_integration_user_id,
    }
    read = z.deals(ids=deals[0]["id"]).json()["data"][0]
    assert read["Presales_Engineer"]["id"] == engineer and read["Presales_Engineer"]["name"]
    assert read["Presales_Response_Due"] == "2026-12-01T09:00:00+08:00" and read["Presales_Rework_Count"] == 0
    # an engineer's own edit shows up as theirs, and after the cursor
    as_engineer = Zoho(sb, sb.zoho_token_for(engineer))
    resp = as_engineer.put(
        "Deals", {"data": [{"id": deals[0]["id"], "Presales_Health": "Yellow"}], "trigger": []}
    )
    assert resp.status_code == 200
    changed = all_deals(z, since=results[0]["details"]["Modified_Time"])
    mine = next(d for d in changed if d["id"] == deals[0]["id"])
    assert mine["Modified_By"]["id"] == engineer


def test_put_mixed_results_207_and_all_failed_400(sb: Sandbox, z: Zoho) -> None:
    ok, other = (d["id"] for d in z.deals(per_page=2).json()["data"])
    records = [
        {"id": ok, "Presales_Message": "fine"},
        {"id": "5725767000000000001", "Presales_Message": "no such deal"},
        {"Presales_Message": "no id"},
        {"id": other, "Presales_Health": "Purple"},
        {"id": other, "Presales_Response_Due": "2026-12-01T09:00:00.000+08:00"},
        {"id": other, "Presales_Rework_Count": "3"},
        {"id": other, "Presales_Engineer": {"id": "5725767000000000002"}},
        {"id": other, "Modified_Time": "2026-12-01T09:00:00+08:00"},
        {"id": other, "No_Such_Field": 1},
        {"id": other, "Presales_Message": "x" * 256},
        {"id": other, "Deal_Name": None},
    ]
    resp = z.call("PUT", "Deals", json={"data": records, "trigger": []})
    assert resp.status_code == 207
    validate("records_put_response", resp.json())
    got = [
        (r["code"], r["details"].get("api_name"), r["details"].get("json_path")) for r in resp.json()["data"]
    ]
    assert got == [
        ("SUCCESS", None, None),
        ("INVALID_DATA", "id", "$.data[1].id"),
        ("MANDATORY_NOT_FOUND", "id", "$.data[2].id"),
        ("INVALID_DATA", "Presales_Health", "$.data[3].Presales_Health"),
        ("INVALID_DATA", "Presales_Response_Due", "$.data[4].Presales_Response_Due"),
        ("INVALID_DATA", "Presales_Rework_Count", "$.data[5].Presales_Rework_Count"),
        ("INVALID_DATA", "Presales_Engineer", "$.data[6].Presales_Engineer"),
        ("INVALID_DATA", "Modified_Time", "$.data[7].Modified_Time"),
        ("INVALID_DATA", "No_Such_Field", "$.data[8].No_Such_Field"),
        ("INVALID_DATA", "Presales_Message", "$.data[9].Presales_Message"),
        ("MANDATORY_NOT_FOUND", "Deal_Name", "$.data[10].Deal_Name"),
    ]
    assert resp.json()["data"][1]["message"] == "the id given seems to be invalid"
    assert resp.json()["data"][5]["details"]["expected_data_type"] == "integer"
    assert resp.json()["data"][9]["details"]["maximum_length"] == 255
    failed = z.call("PUT", "Deals", json={"data": records[1:4], "trigger": []})
    assert failed.status_code == 400
    validate("records_put_response", failed.json())
    assert {r["status"] for r in failed.json()["data"]} == {"error"}
    health = z.call("GET", "Deals", params={"fields": "Presales_Health", "ids": other}).json()["data"][0]
    assert health["Presales_Health"] is None  # nothing of a failed record was stored


def test_put_if_unmodified_since_412(z: Zoho) -> None:
    d0, d2 = z.call(
        "GET",
        "Deals",
        params={
            "fields": "Modified_Time",
            "per_page": 2,
            "page": 3,
            "sort_by": "Modified_Time",
            "sort_order": "asc",
        },
    ).json()["data"]

    def put(*ids: str, since: str) -> requests.Response:
        body = {"data": [{"id": i, "Presales_Message": "checked"} for i in ids], "trigger": []}
        return z.call("PUT", "Deals", json=body, headers={"If-Unmodified-Since": since})

    assert put(d0["id"], since=d0["Modified_Time"]).status_code == 200  # not modified after: written
    stale = put(d0["id"], since=d0["Modified_Time"])  # now it was (by the write above)
    assert stale.status_code == 412
    validate("records_put_response", stale.json())
    assert stale.json()["data"][0]["code"] == "ALREADY_MODIFIED"
    mixed = put(d2["id"], d0["id"], since=d2["Modified_Time"])
    assert mixed.status_code == 207
    assert [r["code"] for r in mixed.json()["data"]] == ["SUCCESS", "ALREADY_MODIFIED"]
    error_of(put(d2["id"], since="yesterday"), 400, "INVALID_DATA")


def test_put_at_most_100_records(z: Zoho) -> None:
    ids = [d["id"] for d in z.deals(per_page=100).json()["data"]]
    body = {"data": [{"id": i, "Presales_Message": None} for i in [*ids, ids[0]]], "trigger": []}
    error_of(z.call("PUT", "Deals", json=body), 400, "LIMIT_EXCEEDED")
    body["data"] = body["data"][:100]
    resp = z.put("Deals", body)
    assert resp.status_code == 200 and len(resp.json()["data"]) == 100
    error_of(z.call("PUT", "Deals", json={"data": []}), 400, "MANDATORY_NOT_FOUND")
    error_of(z.call("PUT", "Deals", data="{not json"), 400, "INVALID_DATA")
    error_of(
        z.call("PUT", "Deals", json={"data": body["data"][:1], "trigger": ["everything"]}),
        400,
        "INVALID_DATA",
    )


def test_delete_records_and_list_deleted(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "del", seed=30, org=PLUGIN_ORG) as box:
        z = Zoho(box)
        assert z.call("GET", "Deals/deleted").status_code == 204
        a, b, c = (d["id"] for d in z.deals(per_page=3).json()["data"])
        before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        resp = z.call("DELETE", "Deals", params={"ids": f"{a},5725767000000000001,{b}"})
        assert resp.status_code == 207
        validate("records_delete_response", resp.json())
        assert [r["code"] for r in resp.json()["data"]] == ["SUCCESS", "INVALID_DATA", "SUCCESS"]
        one = z.call("DELETE", f"Deals/{c}")
        assert one.status_code == 200 and one.json()["data"][0]["details"] == {"id": c}
        error_of(
            z.call("DELETE", "Deals", params={"ids": ",".join(str(n) for n in range(101))}),
            400,
            "LIMIT_EXCEEDED",
        )
        error_of(z.call("DELETE", "Deals"), 400, "REQUIRED_PARAM_MISSING")
        assert z.deals(ids=f"{a},{b},{c}").status_code == 204  # gone from Get Records
        put = z.call("PUT", "Deals", json={"data": [{"id": a, "Presales_Message": "x"}], "trigger": []})
        assert (
            put.status_code == 400 and put.json()["data"][0]["message"] == "the id given seems to be invalid"
        )
        listed = z.call(
            "GET", "Deals/deleted", params={"type": "all"}, headers={"If-Modified-Since": before.isoformat()}
        )
        assert listed.status_code == 200
        validate("deleted_get_response", listed.json())
        assert {d["id"] for d in listed.json()["data"]} == {a, b, c}
        assert listed.json()["data"][0]["deleted_by"]["id"] == box.zoho_integration_user_id
        later = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0).isoformat()
        assert z.call("GET", "Deals/deleted", headers={"If-Modified-Since": later}).status_code == 204
        error_of(z.call("GET", "Deals/deleted", params={"type": "gone"}), 400, "PATTERN_NOT_MATCHED")


# -- Users --------------------------------------------------------------------------------------


def test_users_current_and_active(sb: Sandbox, z: Zoho) -> None:
    me = z.call("GET", "users", params={"type": "CurrentUser"})
    assert me.status_code == 200
    validate("users_get_response", me.json())
    assert [u["id"] for u in me.json()["users"]] == [sb.zoho_integration_user_id]
    assert me.json()["users"][0]["profile"]["name"] == "Administrator"
    active = z.call("GET", "users", params={"type": "ActiveUsers"}).json()
    validate("users_get_response", active)
    assert active["info"]["count"] == len(active["users"]) == 22  # integration, manager, 8 reps, 12 engineers
    error_of(z.call("GET", "users", params={"type": "Everyone"}), 400, "INVALID_DATA")


def test_users_put_kpi_fields(sb: Sandbox, z: Zoho) -> None:
    engineers = [e["crm_user_id"] for e in _roster(sb)[:2]]
    fields = z.call("GET", "settings/fields", params={"module": "users"}).json()["fields"]
    band = next(f for f in fields if f["api_name"] == "Presales_Rating")["pick_list_values"][1][
        "actual_value"
    ]
    body = {
        "users": [
            {
                "id": engineers[0],
                "Presales_KPI_Score": 87.5,
                "Presales_Rating": band,
                "Presales_KPI_Period": "2026Q4",
            },
            {"id": engineers[1], "Presales_Rating": "Legendary"},
        ]
    }
    resp = z.put("users", body)
    assert resp.status_code == 207
    validate("users_put_response", resp.json())
    assert [r["code"] for r in resp.json()["users"]] == ["SUCCESS", "INVALID_DATA"]
    assert resp.json()["users"][0]["details"] == {"id": engineers[0]}
    got = z.call("GET", "users", params={"ids": engineers[0]}).json()["users"][0]
    assert (got["Presales_KPI_Score"], got["Presales_Rating"], got["Presales_KPI_Period"]) == (
        87.5,
        band,
        "2026Q4",
    )
    assert sb.zoho_writes()[-1]["module"] == "users"
    error_of(z.call("PUT", "users", json={"data": body["users"]}), 400, "MANDATORY_NOT_FOUND")
    error_of(Zoho(sb, sb.zoho_token_for(engineers[0])).put("users", body), 403, "NO_PERMISSION")


# -- settings ----------------------------------------------------------------------------------


def test_fields_and_modules_metadata(z: Zoho) -> None:
    resp = z.call("GET", "settings/fields", params={"module": "Deals"})
    assert resp.status_code == 200
    validate("fields_get_response", resp.json())
    fields = {f["api_name"]: f for f in resp.json()["fields"]}
    assert fields["Presales_Engineer"]["data_type"] == "userlookup"
    assert fields["Presales_Engineer"]["lookup"]["module"]["api_name"] == "Users"
    assert [v["actual_value"] for v in fields["Presales_Priority"]["pick_list_values"]] == ["P1", "P2", "P3"]
    assert fields["Modified_Time"]["read_only"] and fields["Deal_Name"]["system_mandatory"]
    users = z.call("GET", "settings/fields", params={"module": "users"}).json()
    validate("fields_get_response", users)
    assert {"Presales_KPI_Score", "Presales_Rating", "Presales_KPI_Period"} <= {
        f["api_name"] for f in users["fields"]
    }
    error_of(z.call("GET", "settings/fields"), 400, "REQUIRED_PARAM_MISSING")
    error_of(z.call("GET", "settings/fields", params={"module": "Nope"}), 400, "INVALID_DATA")
    modules = z.call("GET", "settings/modules").json()
    validate("modules_get_response", modules)
    assert {m["api_name"] for m in modules["modules"]} >= {"Deals"}
    one = z.call("GET", "settings/modules/Deals").json()
    validate("modules_get_response", one)
    error_of(z.call("GET", "settings/modules/Nope"), 400, "INVALID_MODULE")


def test_install_on_an_org_without_plugin_fields(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "bare", seed=60, org=plugin_org(installed=False)) as box:
        z = Zoho(box)
        names = {
            f["api_name"]
            for f in z.call("GET", "settings/fields", params={"module": "Deals"}).json()["fields"]
        }
        assert not any(n.startswith("Presales_") for n in names)
        error_of(z.deals(), 400, "INVALID_DATA")  # DEAL_FIELDS names plugin fields that do not exist yet
        pending = box.zoho_pending_values()
        assert pending and all(len(p[0]) == 19 and p[2]["Presales_Priority"] in ("P1", "P2", "P3")
                               for p in pending)
        new = [
            {"field_label": "Presales Requested", "data_type": "boolean"},
            {
                "field_label": "Presales Priority",
                "data_type": "picklist",
                "pick_list_values": [{"display_value": v, "actual_value": v} for v in ("P1", "P2", "P3")],
            },
            {"field_label": "Presales Engineer", "data_type": "userlookup"},
            {
                "field_label": "Presales Sign-off",
                "data_type": "picklist",
                "pick_list_values": [{"display_value": "Sign Off"}],
            },
            {"field_label": "Presales Response Due", "data_type": "datetime"},
        ]
        validate("fields_post_request", {"fields": new})
        six = z.call("POST", "settings/fields", params={"module": "Deals"}, json={"fields": [*new, new[0]]})
        assert six.status_code == 400 and six.json()["fields"][0]["code"] == "LIMIT_EXCEEDED"
        validate("fields_post_response", six.json())
        engineer = box.zoho_token_for(
            yaml.safe_load(box.zoho_roster_file.read_text())["engineers"][0]["crm_user_id"]
        )
        error_of(
            Zoho(box, engineer).call(
                "POST", "settings/fields", params={"module": "Deals"}, json={"fields": new}
            ),
            403,
            "NO_PERMISSION",
        )
        created = z.call("POST", "settings/fields", params={"module": "Deals"}, json={"fields": new})
        assert created.status_code == 201
        validate("fields_post_response", created.json())
        ids = [r["details"]["id"] for r in created.json()["fields"]]
        after = z.call("GET", "settings/fields", params={"module": "Deals"}).json()
        validate("fields_get_response", after)
        by_id = {f["id"]: f for f in after["fields"]}
        assert [by_id[i]["api_name"] for i in ids] == [
            "Presales_Requested",
            "Presales_Priority",
            "Presales_Engineer",
            "Presales_Sign_off",
            "Presales_Response_Due",
        ]
        assert by_id[ids[0]]["custom_field"] and by_id[ids[2]]["lookup"]["module"]["api_name"] == "Users"
        again = z.call(
            "POST",
            "settings/fields",
            params={"module": "Deals"},
            json={
                "fields": [
                    new[0],
                    {"field_label": "Presales Step", "data_type": "picklist"},
                    {
                        "field_label": "Presales Message",
                        "data_type": "text",
                        "length": 255,
                        "api_name": "Presales_Message",
                    },
                ]
            },
        )
        assert again.status_code == 207
        assert [r["code"] for r in again.json()["fields"]] == [
            "DUPLICATE_DATA",
            "MANDATORY_NOT_FOUND",
            "SUCCESS",
        ]
        deal, owner, values = pending[0]
        priority = values["Presales_Priority"]
        as_owner = Zoho(box, box.zoho_token_for(owner))
        resp = as_owner.call(
            "PUT",
            "Deals",
            json={
                "data": [{"id": deal, "Presales_Requested": True, "Presales_Priority": priority}],
                "trigger": [],
            },
        )
        assert resp.status_code == 200, resp.text
        read = z.call(
            "GET",
            "Deals",
            params={
                "fields": "Presales_Requested,Presales_Priority,Presales_Sign_off,"
                "Presales_Message,Modified_By",
                "ids": deal,
            },
        ).json()
        assert read["data"][0] | {"Modified_By": None} == {
            "id": deal,
            "Presales_Requested": True,
            "Presales_Priority": priority,
            "Presales_Sign_off": None,
            "Presales_Message": None,
            "Modified_By": None,
        }
        assert read["data"][0]["Modified_By"]["id"] == owner


def test_update_and_delete_custom_fields(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "patch", seed=10, org=PLUGIN_ORG) as box:
        z = Zoho(box)

        def field(module: str, api_name: str) -> dict[str, Any]:
            body = z.call("GET", "settings/fields", params={"module": module}).json()
            validate("fields_get_response", body)
            return next(f for f in body["fields"] if f["api_name"] == api_name)

        rating = field("users", "Presales_Rating")
        values = [v["actual_value"] for v in rating["pick_list_values"]]
        ids = {v["actual_value"]: v["id"] for v in rating["pick_list_values"]}
        first, kept, last = values[0], values[1], values[-1]
        patch = {
            "fields": [
                {
                    "id": rating["id"],
                    "field_label": "Presales KPI Rating",
                    "pick_list_values": [
                        {"id": ids[first], "display_value": "Top", "actual_value": "Top"},  # renamed
                        {"id": ids[last], "_delete": True},
                        {"display_value": kept, "actual_value": kept},  # already there: unchanged
                        {"display_value": "New", "actual_value": "New"},
                    ],
                }
            ]
        }
        validate("fields_patch_request", patch)
        resp = z.call("PATCH", "settings/fields", params={"module": "users"}, json=patch)
        assert resp.status_code == 200, resp.text
        validate("fields_post_response", resp.json())
        assert resp.json()["fields"][0]["message"] == "field updated"
        after = field("users", "Presales_Rating")
        assert after["field_label"] == "Presales KPI Rating" and after["api_name"] == "Presales_Rating"
        assert [v["actual_value"] for v in after["pick_list_values"]] == ["Top", *values[1:-1], "New"]
        assert {v["actual_value"]: v["id"] for v in after["pick_list_values"]}[kept] == ids[kept]
        bad = z.call(
            "PATCH",
            "settings/fields",
            params={"module": "users"},
            json={"fields": [{"id": rating["id"], "data_type": "text"}, {"id": "5725767000000000009"}]},
        )
        assert bad.status_code == 400 and [e["code"] for e in bad.json()["fields"]] == ["INVALID_DATA"] * 2
        stage = field("Deals", "Stage")
        error_of(
            z.call("DELETE", f"settings/fields/{stage['id']}", params={"module": "Deals"}), 400, "NOT_ALLOWED"
        )
        message = field("Deals", "Presales_Message")
        deal = z.deals(per_page=1).json()["data"][0]["id"]
        assert (
            z.put("Deals", {"data": [{"id": deal, "Presales_Message": "kept?"}], "trigger": []}).status_code
            == 200
        )
        gone = z.call("DELETE", f"settings/fields/{message['id']}", params={"module": "Deals"})
        assert gone.status_code == 200 and gone.json()["fields"][0]["message"] == "field deleted"
        error_of(z.call("GET", "Deals", params={"fields": "Presales_Message"}), 400, "INVALID_DATA")
        again = z.call(
            "POST",
            "settings/fields",
            params={"module": "Deals"},
            json={"fields": [{"field_label": "Presales Message", "data_type": "text", "length": 255}]},
        )
        assert again.status_code == 201
        read = z.call("GET", "Deals", params={"fields": "Presales_Message", "ids": deal}).json()
        assert read["data"][0]["Presales_Message"] is None  # a field created again starts empty


# -- limits, faults, accounting -------------------------------------------------------------------


def test_fault_plan_in_zoho_shapes(sb: Sandbox, z: Zoho) -> None:
    """The sandbox's shared fault plan, rendered the way Zoho answers."""
    try:
        sb.faults.set(parse_spec("rate_limit@zoho_records_get:crm=zoho,times=2"))
        for _ in range(2):
            resp = z.deals(per_page=1)
            error_of(resp, 429, "TOO_MANY_REQUESTS")
            assert "Retry-After" not in resp.headers
        assert z.deals(per_page=1).status_code == 200
        sb.faults.set(parse_spec("server_error:crm=zoho,status=500"))
        error_of(z.deals(per_page=1), 500, "INTERNAL_ERROR")
        sb.faults.set(parse_spec("server_error:crm=zoho"))
        unavailable = z.deals(per_page=1)
        assert unavailable.status_code == 503 and unavailable.text == "Service Unavailable"
        sb.faults.set(parse_spec("rate_limit@zoho_token"))
        assert grant(sb).status_code == 400 and grant(sb).status_code == 200
        mine = Zoho(sb)
        sb.faults.set(parse_spec("session_expired:crm=zoho"))
        error_of(mine.deals(per_page=1), 401, "INVALID_TOKEN")
        error_of(mine.deals(per_page=1), 401, "INVALID_TOKEN")  # revoked: the client must refresh
        assert Zoho(sb).deals(per_page=1).status_code == 200
        a, b = (d["id"] for d in z.deals(per_page=2).json()["data"])
        sb.faults.set(parse_spec(f"lock_row:crm=zoho,records={b}"))
        locked = z.put(
            "Deals",
            {"data": [{"id": a, "Presales_Message": "a"}, {"id": b, "Presales_Message": "b"}], "trigger": []},
        )
        assert locked.status_code == 207
        validate("records_put_response", locked.json())
        assert [r["code"] for r in locked.json()["data"]] == ["SUCCESS", "RECORD_LOCKED"]
        sb.faults.set(parse_spec("lost_response@zoho_records_put:crm=zoho"))
        with pytest.raises(requests.ConnectionError):
            z.put("Deals", {"data": [{"id": a, "Presales_Message": "lost"}], "trigger": []})
        assert (
            z.call("GET", "Deals", params={"fields": "Presales_Message", "ids": a}).json()["data"][0][
                "Presales_Message"
            ]
            == "lost"
        )  # committed, only the answer was lost
    finally:
        sb.faults.clear()


def test_credits_header_from_half_used_then_429(tmp_path: Path) -> None:
    limits = ZohoLimits(daily_credits=8)
    with Sandbox(tmp_path / "credits", seed=20, zoho_limits=limits, org=PLUGIN_ORG) as box:
        z = Zoho(box)
        seen = []
        for _ in range(3):
            seen.append(
                z.call("GET", "users", params={"type": "CurrentUser"}).headers.get("X-API-CREDITS-REMAINING")
            )
        assert seen == [None, None, None]
        ids = [d["id"] for d in z.call("GET", "Deals", params={"fields": "Deal_Name"}).json()["data"][:20]]
        resp = z.put("Deals", {"data": [{"id": i, "Presales_Message": "x"} for i in ids], "trigger": []})
        assert resp.status_code == 200 and resp.headers["X-API-CREDITS-REMAINING"] == "2"  # 3 + 1 + 2 used
        assert z.call("GET", "users").headers["X-API-CREDITS-REMAINING"] == "1"
        assert z.call("GET", "users").headers["X-API-CREDITS-REMAINING"] == "0"
        error_of(z.call("GET", "users"), 429, "TOO_MANY_REQUESTS")
        assert box.zoho_credits() == {"used": 8, "total": 8}
        assert box.zoho_credits(used=1) == {"used": 1, "total": 8}  # other integrations' spend, settable
        assert "X-API-CREDITS-REMAINING" not in z.call("GET", "users").headers
        admin = session(box).post(f"{box.url}/_sandbox/zoho/credits", json={"used": 6}, timeout=10)
        assert admin.json() == {"used": 6, "total": 8}
        assert z.call("GET", "users").headers["X-API-CREDITS-REMAINING"] == "1"
        assert (
            session(box).post(f"{box.url}/_sandbox/zoho/credits", json={"used": -1}, timeout=10).status_code
            == 400
        )


def test_stats_count_zoho_calls_per_endpoint(sb: Sandbox) -> None:
    http = session(sb)
    http.post(f"{sb.url}/_sandbox/stats/reset", timeout=10)
    z = Zoho(sb)
    z.deals(per_page=1)
    z.call("GET", "users", params={"type": "CurrentUser"})
    z.call("GET", "settings/fields", params={"module": "Deals"})
    stats = http.get(f"{sb.url}/_sandbox/stats", timeout=10).json()
    assert stats["calls"] == {
        "zoho_token": 1,
        "zoho_records_get": 1,
        "zoho_users_get": 1,
        "zoho_fields_get": 1,
    }
    assert stats["total"] == 4


# -- the org ------------------------------------------------------------------------------------


def salesforce(sb: Sandbox, path: str, **params: str) -> Any:
    """The same org through the Salesforce half (GET, integration user's session)."""
    resp = session(sb).get(
        f"{sb.url}/services/data/v66.0/{path}",
        params=params,
        timeout=30,
        headers={"Authorization": f"Bearer {sb.session_id}"},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def _roster(sb: Sandbox) -> list[dict[str, Any]]:
    return list(yaml.safe_load(sb.zoho_roster_file.read_text(encoding="utf-8"))["engineers"])


def test_same_org_as_salesforce_and_zoho_roster(sb: Sandbox, z: Zoho) -> None:
    sf = salesforce(sb, "query", q="SELECT Name, Amount, CloseDate FROM Opportunity")["records"]
    deals = all_deals(z)
    assert sorted((d["Deal_Name"], d["Amount"], d["Closing_Date"]) for d in deals) == sorted(
        (r["Name"], r["Amount"], r["CloseDate"]) for r in sf
    )
    whole = yaml.safe_load(sb.zoho_roster_file.read_text())
    sf_whole = yaml.safe_load(sb.roster_file.read_text())
    assert whole.keys() == sf_whole.keys()  # engineers, managers, … all carried over
    roster, sf_roster = whole["engineers"], sf_whole["engineers"]
    ids = ("crm_user_id", "manager")
    assert [{k: v for k, v in e.items() if k not in ids} for e in roster] == [
        {k: v for k, v in e.items() if k not in ids} for e in sf_roster
    ]
    users = {u["id"]: u for u in z.call("GET", "users").json()["users"]}
    assert all(users[e["crm_user_id"]]["full_name"] == e["name"] for e in roster)
    managers = {e.get("manager") for e in roster} | set(whole.get("managers") or ())
    assert managers and all(m in users and users[m]["role"]["name"] == "Presales" for m in managers)
    assert not re.search(r"\b005[A-Za-z0-9]{15}\b", sb.zoho_roster_file.read_text())  # no Salesforce id left


def test_plugin_fields_mirror_the_salesforce_catalogue(sb: Sandbox, z: Zoho) -> None:
    """A seeded Zoho org has the plugin's fields as an install would create them: the
    Salesforce names without ``__c``, labels from which Zoho derives those names, same values."""
    for sf_object, module in (("Opportunity", "Deals"), ("User", "users")):
        sf = salesforce(sb, f"sobjects/{sf_object}/describe")["fields"]
        wanted = {
            f["name"].removesuffix("__c"): f for f in sf if f["name"].startswith("Presales_") and f["custom"]
        }
        fields = z.call("GET", "settings/fields", params={"module": module}).json()["fields"]
        mine = {f["api_name"]: f for f in fields if f["custom_field"]}
        assert wanted and mine.keys() == wanted.keys()
        for name, f in mine.items():
            assert re.sub(r"[^A-Za-z0-9]+", "_", f["field_label"]).strip("_") == name
            assert [v["actual_value"] for v in f["pick_list_values"]] == [
                v["value"] for v in wanted[name]["picklistValues"]
            ]


def test_banner_has_zoho_keys_and_survives_restart(tmp_path: Path) -> None:
    box = Sandbox(tmp_path / "keep", seed=10, org=PLUGIN_ORG)
    with box:
        banner = describe_banner(box)
        first = Zoho(box).token
    assert (banner["zoho_accounts_url"], banner["zoho_api_domain"]) == (f"{box.url}/accounts", box.url)
    assert banner["zoho_roster_file"] == str(tmp_path / "keep" / "engineers-zoho.yaml")
    assert json.loads(json.dumps(banner)) == banner
    with Sandbox(tmp_path / "keep", seed=10, org=PLUGIN_ORG) as again:
        assert describe_banner(again)["zoho_refresh_token"] == banner["zoho_refresh_token"]
        assert Zoho(again, first).call("GET", "users", params={"type": "CurrentUser"}).status_code == 200
