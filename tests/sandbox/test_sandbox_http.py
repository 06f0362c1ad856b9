"""The sandbox over real HTTPS (TLS verified against its CA), driven with plain `requests`
and with simple-salesforce, the way the connector talks to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import yaml
from sandbox_seed import PLUGIN_ORG
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from presales_sync.sandbox import Sandbox, describe_banner

V = "66.0"


def http(sb: Sandbox, session_id: str | None = None) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
    s.verify = str(sb.ca_file)
    if session_id is not None:
        s.headers["Authorization"] = f"Bearer {session_id}"
    return s


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), port=0, seed=300, org=PLUGIN_ORG)
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def api(sb: Sandbox) -> requests.Session:
    return http(sb, sb.session_id)


@pytest.fixture(scope="module")
def sf(sb: Sandbox) -> Salesforce:
    return Salesforce(instance_url=sb.url, session_id=sb.session_id, version=V, session=http(sb))


def query(sb: Sandbox, api: requests.Session, soql: str, batch: int | None = None) -> requests.Response:
    headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
    return api.get(f"{sb.url}/services/data/v{V}/query", params={"q": soql}, headers=headers, timeout=30)


def ids(sb: Sandbox, api: requests.Session, where: str, obj: str = "Opportunity") -> list[str]:
    resp = query(sb, api, f"SELECT Id FROM {obj} WHERE {where} ORDER BY Id")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["done"], "test queries are expected to fit one page"
    return [r["Id"] for r in body["records"]]


def all_opps(sf: Salesforce) -> list[dict[str, Any]]:
    return sf.query_all(
        "SELECT Id, Name, StageName, Amount, CloseDate, IsClosed, IsWon, SystemModstamp, AccountId, "
        "Presales_Requested__c, Presales_Priority__c, Presales_Message__c FROM Opportunity"
    )["records"]


# -- basics ---------------------------------------------------------------------------------


def test_versions_list_needs_no_auth_and_has_no_limit_header(sb: Sandbox) -> None:
    resp = http(sb).get(f"{sb.url}/services/data/", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert "Sforce-Limit-Info" not in resp.headers
    versions = resp.json()
    assert {"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"} in versions
    assert versions[0]["version"] == "31.0" and versions[-1]["version"] == "68.0"


def test_describe_has_plugin_fields(sf: Salesforce, sb: Sandbox, api: requests.Session) -> None:
    desc = sf.restful("sobjects/Opportunity/describe")
    assert desc["name"] == "Opportunity" and desc["keyPrefix"] == "006" and desc["queryable"]
    fields = {f["name"]: f for f in desc["fields"]}
    status = fields["Presales_Status__c"]
    assert status["type"] == "picklist" and status["custom"] and status["restrictedPicklist"]
    assert [v["value"] for v in status["picklistValues"]][:2] == ["New", "Assigned"]
    eng = fields["Presales_Engineer__c"]
    assert eng["referenceTo"] == ["User"] and eng["relationshipName"] == "Presales_Engineer__r"
    assert (
        fields["Presales_Rework_Count__c"]["precision"] == 3
        and fields["Presales_Message__c"]["length"] == 255
    )
    assert fields["SystemModstamp"]["updateable"] is False and fields["Id"]["type"] == "id"
    user = {f["name"]: f for f in sf.restful("sobjects/User/describe")["fields"]}
    assert user["Presales_KPI_Score__c"]["type"] == "double" and user["Presales_KPI_Period__c"]["length"] == 7
    resp = api.get(f"{sb.url}/services/data/v{V}/sobjects/Foo__c/describe", timeout=10)
    assert resp.status_code == 404
    assert resp.json() == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def test_bad_token_is_401_json_list(sb: Sandbox) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {}):
        resp = http(sb).get(
            f"{sb.url}/services/data/v{V}/query",
            params={"q": "SELECT Id FROM User"},
            headers=headers,
            timeout=10,
        )
        assert resp.status_code == 401
        assert resp.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    ok = http(sb).get(
        f"{sb.url}/services/data/v{V}/sobjects/User/describe",
        headers={"Authorization": f"OAuth {sb.session_id}"},
        timeout=10,
    )
    assert ok.status_code == 200


def test_unknown_path_and_wrong_method(sb: Sandbox, api: requests.Session) -> None:
    resp = api.get(f"{sb.url}/services/data/v{V}/nothing/here", timeout=10)
    assert resp.status_code == 404 and resp.json()[0]["errorCode"] == "NOT_FOUND"
    resp = api.delete(f"{sb.url}/services/data/v{V}/query", params={"q": "SELECT Id FROM User"}, timeout=10)
    assert resp.status_code == 405 and resp.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_limit_info_counts_calls(sb: Sandbox, api: requests.Session) -> None:
    def used() -> int:
        resp = api.get(f"{sb.url}/services/data/v{V}/sobjects/User/describe", timeout=10)
        value = resp.headers["Sforce-Limit-Info"]
        assert value.startswith("api-usage=") and value.endswith("/15000")
        return int(value.split("=")[1].split("/")[0])

    first = used()
    assert used() == first + 1


def test_stats_count_calls_per_family(sb: Sandbox, api: requests.Session) -> None:
    stats_url = f"{sb.url}/_sandbox/stats"
    assert http(sb).post(f"{stats_url}/reset", timeout=10).status_code == 200
    assert http(sb).get(stats_url, timeout=10).json() == {"calls": {}, "total": 0}
    query(sb, api, "SELECT Id FROM User")
    query(sb, api, "SELECT Id FROM User")
    api.get(f"{sb.url}/services/data/v{V}/sobjects/Opportunity/describe", timeout=10)
    http(sb).get(f"{sb.url}/services/data/", timeout=10)
    stats = http(sb).get(stats_url, timeout=10).json()
    assert stats == {"calls": {"describe": 1, "query": 2, "versions": 1}, "total": 4}


# -- query paging ---------------------------------------------------------------------------


def test_paging_returns_every_record_once(sb: Sandbox, api: requests.Session) -> None:
    resp = query(sb, api, "SELECT Id, SystemModstamp FROM Opportunity ORDER BY SystemModstamp, Id", batch=200)
    body = resp.json()
    assert body["totalSize"] == 300 and body["done"] is False and len(body["records"]) == 200
    seen = [r["Id"] for r in body["records"]]
    pages = 1
    while not body["done"]:
        assert body["nextRecordsUrl"].startswith(f"/services/data/v{V}/query/01g")
        body = api.get(
            sb.url + body["nextRecordsUrl"], headers={"Sforce-Query-Options": "batchSize=200"}, timeout=30
        ).json()
        assert body["totalSize"] == 300
        seen += [r["Id"] for r in body["records"]]
        pages += 1
    assert "nextRecordsUrl" not in body
    assert pages == 2 and len(seen) == 300 and len(set(seen)) == 300


def test_default_page_is_2000_and_batch_size_is_clamped(sb: Sandbox, api: requests.Session) -> None:
    body = query(sb, api, "SELECT Id FROM Opportunity").json()
    assert body["done"] and len(body["records"]) == 300
    body = query(sb, api, "SELECT Id FROM Opportunity", batch=5).json()  # min 200
    assert len(body["records"]) == 200


def test_simple_salesforce_query_all_follows_pages(sf: Salesforce) -> None:
    records = sf.query_all("SELECT Id FROM Opportunity", headers={"Sforce-Query-Options": "batchSize=200"})
    assert records["totalSize"] == 300 and len({r["Id"] for r in records["records"]}) == 300


def test_bad_locator(sb: Sandbox, api: requests.Session) -> None:
    resp = api.get(f"{sb.url}/services/data/v{V}/query/01gDn0000000000AAA-2000", timeout=10)
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# -- SOQL subset ------------------------------------------------------------------------------


def test_record_shape_and_parent_fields(sb: Sandbox, api: requests.Session) -> None:
    body = query(
        sb,
        api,
        "select id, name, account.name, ACCOUNT.Industry, Owner.Name, LastModifiedBy.Name, "
        "Presales_Engineer__r.Name, Amount, CloseDate, IsClosed, SystemModstamp "
        "FROM opportunity ORDER BY Amount DESC LIMIT 5",
    ).json()
    assert body["totalSize"] == 5 and body["done"]
    rec = body["records"][0]
    assert rec["attributes"] == {
        "type": "Opportunity",
        "url": f"/services/data/v{V}/sobjects/Opportunity/{rec['Id']}",
    }
    assert len(rec["Id"]) == 18 and rec["Id"].startswith("006")
    assert rec["Account"]["attributes"]["type"] == "Account" and set(rec["Account"]) == {
        "attributes",
        "Name",
        "Industry",
    }
    assert isinstance(rec["Owner"]["Name"], str) and rec["Presales_Engineer__r"] is None
    assert isinstance(rec["Amount"], float) and isinstance(rec["IsClosed"], bool)
    datetime.strptime(rec["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert rec["SystemModstamp"].endswith("+0000") and len(rec["SystemModstamp"]) == 28
    datetime.strptime(rec["CloseDate"], "%Y-%m-%d")
    amounts = [r["Amount"] for r in body["records"]]
    assert amounts == sorted(amounts, reverse=True)


def test_operators(sb: Sandbox, api: requests.Session, sf: Salesforce) -> None:
    opps = all_opps(sf)
    by_stage = {o["Id"] for o in opps if o["StageName"] == "Closed Won"}
    assert set(ids(sb, api, "StageName = 'closed won'")) == by_stage  # text compares case-insensitively
    assert set(ids(sb, api, "StageName != 'Closed Won'")) == {o["Id"] for o in opps} - by_stage
    assert set(ids(sb, api, "StageName <> 'Closed Won'")) == {o["Id"] for o in opps} - by_stage
    assert set(ids(sb, api, "Amount < 100000")) == {o["Id"] for o in opps if o["Amount"] < 100000}
    assert set(ids(sb, api, "Amount <= 100000.5")) == {o["Id"] for o in opps if o["Amount"] <= 100000.5}
    assert set(ids(sb, api, "Amount > 4000000")) == {o["Id"] for o in opps if o["Amount"] > 4000000}
    assert set(ids(sb, api, "Amount >= -1")) == {o["Id"] for o in opps}
    stages = ("Prospecting", "Qualification")
    assert set(ids(sb, api, "StageName IN ('Prospecting', 'Qualification')")) == {
        o["Id"] for o in opps if o["StageName"] in stages
    }
    assert set(ids(sb, api, "StageName NOT IN ('Prospecting', 'Qualification')")) == {
        o["Id"] for o in opps if o["StageName"] not in stages
    }
    assert set(ids(sb, api, "IsClosed = false AND IsWon = false")) == {
        o["Id"] for o in opps if not o["IsClosed"]
    }


def test_boolean_precedence_and_parentheses(sb: Sandbox, api: requests.Session, sf: Salesforce) -> None:
    opps = all_opps(sf)

    def where(pred: Any) -> set[str]:
        return {o["Id"] for o in opps if pred(o)}

    a = "StageName = 'Prospecting'"
    b = "Amount > 1000000"
    c = "IsClosed = true"
    assert set(ids(sb, api, f"{a} OR {b} AND {c}")) == where(
        lambda o: o["StageName"] == "Prospecting" or (o["Amount"] > 1e6 and o["IsClosed"])
    )
    assert set(ids(sb, api, f"({a} OR {b}) AND {c}")) == where(
        lambda o: (o["StageName"] == "Prospecting" or o["Amount"] > 1e6) and o["IsClosed"]
    )
    assert set(ids(sb, api, f"NOT {a} AND {c}")) == where(
        lambda o: o["StageName"] != "Prospecting" and o["IsClosed"]
    )
    assert set(ids(sb, api, f"NOT ({a} OR {c})")) == where(
        lambda o: not (o["StageName"] == "Prospecting" or o["IsClosed"])
    )


def test_like_nulls_and_escapes(sb: Sandbox, api: requests.Session, sf: Salesforce) -> None:
    opps = all_opps(sf)
    assert set(ids(sb, api, "Name LIKE 'acme%'")) == {
        o["Id"] for o in opps if o["Name"].lower().startswith("acme")
    }
    assert set(ids(sb, api, "Name LIKE '%Cloud Migration'")) == {
        o["Id"] for o in opps if o["Name"].endswith("Cloud Migration")
    }
    assert set(ids(sb, api, "Name LIKE '%IoT Pilo_'")) == {
        o["Id"] for o in opps if o["Name"].endswith("IoT Pilot")
    }
    requested = {o["Id"] for o in opps if o["Presales_Priority__c"] is not None}
    assert requested and set(ids(sb, api, "Presales_Priority__c != null")) == requested
    assert set(ids(sb, api, "Presales_Priority__c = null")) == {o["Id"] for o in opps} - requested
    # != and NOT IN match nulls, as in SOQL
    assert set(ids(sb, api, "Presales_Priority__c != 'P1'")) == {
        o["Id"] for o in opps if o["Presales_Priority__c"] != "P1"
    }
    assert set(ids(sb, api, "Presales_Priority__c NOT IN ('P1')")) == {
        o["Id"] for o in opps if o["Presales_Priority__c"] != "P1"
    }
    # escapes: write a name with quote, backslash and % then find it exactly
    target = opps[0]["Id"]
    tricky = "O'Brien \\ 100% _done"
    resp = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [{"attributes": {"type": "Opportunity"}, "id": target, "Presales_Message__c": tricky}],
        },
    )
    assert resp[0]["success"], resp
    assert ids(sb, api, "Presales_Message__c = 'O\\'Brien \\\\ 100% _done'") == [target]
    assert ids(sb, api, "Presales_Message__c LIKE '%100\\% \\_done'") == [target]
    assert ids(sb, api, "Presales_Message__c LIKE '%100\\%\\_done'") == []
    assert ids(sb, api, "Presales_Message__c LIKE 'O\\'Brien \\\\%'") == [target]


def test_date_and_datetime_literals(sb: Sandbox, api: requests.Session, sf: Salesforce) -> None:
    opps = all_opps(sf)
    stamps = sorted(o["SystemModstamp"] for o in opps)
    pivot = stamps[150]  # e.g. 2026-11-20T08:15:02.123+0000
    pivot_dt = datetime.strptime(pivot, "%Y-%m-%dT%H:%M:%S.%f%z")

    def after(dt: datetime) -> set[str]:
        return {
            o["Id"] for o in opps if datetime.strptime(o["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z") >= dt
        }

    z = pivot_dt.strftime("%Y-%m-%dT%H:%M:%S.") + pivot[20:23] + "Z"
    assert set(ids(sb, api, f"SystemModstamp >= {z}")) == after(pivot_dt)
    shifted = pivot_dt.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=8)
    plus8 = shifted.strftime("%Y-%m-%dT%H:%M:%S.") + pivot[20:23] + "+08:00"
    assert set(ids(sb, api, f"SystemModstamp >= {plus8}")) == after(pivot_dt)
    whole = pivot_dt.replace(microsecond=0)
    assert set(ids(sb, api, f"SystemModstamp > {whole.strftime('%Y-%m-%dT%H:%M:%SZ')}")) == {
        o["Id"] for o in opps if datetime.strptime(o["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z") > whole
    }
    exact = [o["Id"] for o in opps if o["SystemModstamp"] == pivot]
    assert ids(sb, api, f"SystemModstamp = {z}") == exact  # millisecond precision
    assert not set(exact) & set(ids(sb, api, f"SystemModstamp > {z}"))
    day = sorted(o["CloseDate"] for o in opps)[100]
    assert set(ids(sb, api, f"CloseDate <= {day}")) == {o["Id"] for o in opps if o["CloseDate"] <= day}


def test_query_errors(sb: Sandbox, api: requests.Session, sf: Salesforce) -> None:
    resp = query(sb, api, "SELEC Id FROM Opportunity")
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "MALFORMED_QUERY"
    assert "unexpected token: SELEC" in resp.json()[0]["message"]
    for bad in (
        "SELECT Id FROM Opportunity WHERE",
        "SELECT Id FROM Opportunity LIMIT x",
        "SELECT Id FROM Opportunity WHERE Name = 'open",
        "SELECT Id, FROM Opportunity",
    ):
        assert query(sb, api, bad).json()[0]["errorCode"] == "MALFORMED_QUERY", bad
    resp = query(sb, api, "SELECT Foo__c FROM Opportunity")
    assert resp.status_code == 400
    assert resp.json() == [
        {
            "message": "\nSELECT Foo__c FROM Opportunity\n       ^\nERROR at Row:1:Column:8\n"
            "No such column 'Foo__c' on entity 'Opportunity'. If you are attempting to use a custom "
            "field, be sure to append the '__c' after the custom field name. Please reference your "
            "WSDL or the describe call for the appropriate names.",
            "errorCode": "INVALID_FIELD",
        }
    ]
    resp = query(sb, api, "SELECT Id FROM Foo")
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'Foo' is not supported." in resp.json()[0]["message"]
    assert (
        query(sb, api, "SELECT Id FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z").json()[0][
            "errorCode"
        ]
        == "INVALID_FIELD"
    )
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Nope__c FROM Opportunity")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"


# -- writes ---------------------------------------------------------------------------------


def _opp_ids(sb: Sandbox, api: requests.Session, n: int, offset_where: str = "IsClosed = false") -> list[str]:
    return ids(sb, api, offset_where)[:n]


def test_composite_partial_success(sb: Sandbox, api: requests.Session, sf: Salesforce) -> None:
    a, b, c = _opp_ids(sb, api, 3)
    records = [
        {
            "attributes": {"type": "Opportunity"},
            "id": a,
            "Presales_Status__c": "Assigned",
            "Presales_Due_Date__c": "2026-12-01",
            "Presales_Response_Due__c": "2026-11-25T09:30:00.065+08:00",  # the org drops the ms
            "Presales_Rework_Count__c": 2,
        },
        {"attributes": {"type": "Opportunity"}, "id": b, "Presales_Status__c": "Bogus"},
        {"attributes": {"type": "Opportunity"}, "id": c, "Presales_Health__c": "Red"},
    ]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    assert results[0] == {"id": a, "success": True, "errors": []}
    assert results[2] == {"id": c, "success": True, "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[1]["errors"][0]["fields"] == ["Presales_Status__c"]
    rec = sf.restful(f"sobjects/Opportunity/{a}")
    assert rec["Presales_Status__c"] == "Assigned" and rec["Presales_Due_Date__c"] == "2026-12-01"
    assert rec["Presales_Response_Due__c"] == "2026-11-25T01:30:00.000+0000"
    assert rec["Presales_Rework_Count__c"] == 2.0
    assert sf.restful(f"sobjects/Opportunity/{c}")["Presales_Health__c"] == "Red"


def test_composite_all_or_none_rolls_back(sb: Sandbox, api: requests.Session, sf: Salesforce) -> None:
    a, b = _opp_ids(sb, api, 5)[3:5]
    before = sf.restful(f"sobjects/Opportunity/{a}")
    records = [
        {"attributes": {"type": "Opportunity"}, "id": a, "Presales_Message__c": "should not stick"},
        {"attributes": {"type": "Opportunity"}, "id": b, "Presales_Engineer__c": "005Dn0000000000AAA"},
    ]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records})
    assert results[0]["success"] is False
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    after = sf.restful(f"sobjects/Opportunity/{a}")
    assert after == before


def test_composite_validation_errors(sb: Sandbox, api: requests.Session, sf: Salesforce) -> None:
    a = _opp_ids(sb, api, 6)[5]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"id": "006bogus"}, "MALFORMED_ID"),
        ({"id": "006Dn0000000000AAA"}, "INVALID_CROSS_REFERENCE_KEY"),
        ({"id": a, "Foo__c": 1}, "INVALID_FIELD"),
        ({"id": a, "SystemModstamp": "2026-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"id": a, "Presales_Due_Date__c": "01/12/2026"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"id": a, "Presales_Requested__c": "maybe"}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"id": a, "Presales_Rework_Count__c": 1000}, "NUMBER_OUTSIDE_VALID_RANGE"),
        ({"id": a, "Presales_Message__c": "x" * 256}, "STRING_TOO_LONG"),
        ({"id": a, "Presales_Engineer__c": a}, "INVALID_CROSS_REFERENCE_KEY"),
    ]
    records = [{"attributes": {"type": "Opportunity"}, **rec} for rec, _ in cases]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    assert [r["errors"][0]["statusCode"] for r in results] == [code for _, code in cases]
    engineer = yaml.safe_load(Path(sb.roster_file).read_text())["engineers"][0]["crm_user_id"]
    ok = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Opportunity"}, "id": a, "Presales_Engineer__c": engineer}],
        },
    )
    assert ok[0]["success"]
    rec = query(sb, api, f"SELECT Presales_Engineer__r.Name FROM Opportunity WHERE Id = '{a}'").json()
    assert rec["records"][0]["Presales_Engineer__r"]["Name"]
    cleared = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Opportunity"}, "id": a, "Presales_Engineer__c": None}],
        },
    )
    assert cleared[0]["success"] and sf.restful(f"sobjects/Opportunity/{a}")["Presales_Engineer__c"] is None


def test_composite_over_200_is_400(sb: Sandbox, api: requests.Session) -> None:
    opp = _opp_ids(sb, api, 1)[0]
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Opportunity"}, "id": opp}] * 201}
    resp = api.patch(f"{sb.url}/services/data/v{V}/composite/sobjects", json=body, timeout=30)
    assert resp.status_code == 400
    assert resp.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_writes_bump_stamp_and_set_last_modified_by(sb: Sandbox, api: requests.Session) -> None:
    opp = _opp_ids(sb, api, 8)[7]
    engineer = yaml.safe_load(Path(sb.roster_file).read_text())["engineers"][2]["crm_user_id"]
    url = f"{sb.url}/services/data/v{V}/sobjects/Opportunity/{opp}"
    before = api.get(url, timeout=10).json()
    as_engineer = http(sb, sb.session_for(engineer))
    assert sb.session_for(engineer) == sb.session_for(engineer) != sb.session_id
    stamps = []
    for value in ("Green", "Yellow"):
        resp = as_engineer.patch(url, json={"Presales_Health__c": value}, timeout=10)
        assert resp.status_code == 204 and resp.content == b""
        assert "Sforce-Limit-Info" in resp.headers
        after = api.get(url, timeout=10).json()
        stamps.append(after["SystemModstamp"])
        assert after["LastModifiedById"] == engineer and after["Presales_Health__c"] == value
        assert after["LastModifiedDate"] == after["SystemModstamp"]
    # whole seconds like a real org: never backwards, shared within one second
    assert before["SystemModstamp"] <= stamps[0] <= stamps[1]
    assert all(s.endswith(".000+0000") for s in (before["SystemModstamp"], *stamps))
    bad = as_engineer.patch(url, json={"Presales_Health__c": "Nope"}, timeout=10)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    missing = as_engineer.patch(
        url[:-18] + "006Dn0000000000AAA", json={"Presales_Health__c": "Red"}, timeout=10
    )
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    newer = ids(sb, api, f"SystemModstamp >= {stamps[1].replace('+0000', 'Z')}")
    assert opp in newer


# -- OAuth ------------------------------------------------------------------------------------


def _assertion(sb: Sandbox, aud: str, exp_in: int = 180) -> str:
    key = Path(sb.private_key_file).read_bytes()
    claims = {
        "iss": sb.consumer_key,
        "sub": sb.integration_username,
        "aud": aud,
        "exp": str(int(time.time()) + exp_in),
    }  # simple-salesforce sends exp as a string
    return jwt.encode(claims, key, algorithm="RS256")


def test_jwt_bearer_happy_path(sb: Sandbox) -> None:
    resp = http(sb).post(
        f"{sb.url}/services/oauth2/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _assertion(sb, "https://login.salesforce.com"),  # posted to the "My Domain"
        },
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["instance_url"] == sb.url and body["token_type"] == "Bearer" and body["scope"] == "api"
    assert body["id"].startswith(f"{sb.url}/id/00D") and body["id"].endswith("/" + sb.integration_user_id)
    sf = Salesforce(
        instance_url=body["instance_url"], session_id=body["access_token"], version=V, session=http(sb)
    )
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 300
    info = http(sb, body["access_token"]).get(f"{sb.url}/services/oauth2/userinfo", timeout=10).json()
    assert info["user_id"] == sb.integration_user_id


def test_jwt_bearer_failures(sb: Sandbox) -> None:
    def token(data: dict[str, str]) -> requests.Response:
        return http(sb).post(f"{sb.url}/services/oauth2/token", data=data, timeout=10)

    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    for audience in ("https://evil.example.com", sb.url):  # a real org refuses its own My Domain too
        resp = token({"grant_type": grant, "assertion": _assertion(sb, audience)})
        assert resp.status_code == 400
        assert resp.json() == {"error": "invalid_grant", "error_description": "audience is invalid"}
    assert (
        token({"grant_type": grant, "assertion": _assertion(sb, "https://login.salesforce.com", -10)}).json()[
            "error_description"
        ]
        == "expired authorization code"
    )
    assert (
        token({"grant_type": grant, "assertion": "not.a.jwt"}).json()["error_description"]
        == "invalid assertion"
    )
    assert token({"grant_type": "password"}).json() == {
        "error": "unsupported_grant_type",
        "error_description": "grant type not supported",
    }


# -- seed and lifecycle ---------------------------------------------------------------------


def test_roster_file(sb: Sandbox) -> None:
    roster = yaml.safe_load(Path(sb.roster_file).read_text())["engineers"]
    assert len(roster) == 12
    assert sorted(e["level"] for e in roster) == sorted(["junior", "intermediate", "senior", "expert"] * 3)
    assert sum(not e["active"] for e in roster) == 1
    assert all(e["reviewer"] == (e["level"] in ("senior", "expert")) for e in roster)
    assert all(len(e["crm_user_id"]) == 18 and e["crm_user_id"].startswith("005") for e in roster)


def test_banner(sb: Sandbox) -> None:
    banner = describe_banner(sb)
    assert set(banner) == {
        "salesforce_url",
        "session_id",
        "ca_file",
        "roster_file",
        "consumer_key",
        "private_key_file",
        "username",
        "zoho_accounts_url",
        "zoho_api_domain",
        "zoho_client_id",
        "zoho_client_secret",
        "zoho_refresh_token",
        "zoho_roster_file",
    }
    assert banner["salesforce_url"] == sb.url and banner["session_id"] == sb.session_id


def test_same_seed_same_org_and_restart_keeps_it(tmp_path: Path) -> None:
    pinned = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    soql = (
        "SELECT Id, Name, StageName, Amount, CloseDate, SystemModstamp, Account.Name, Owner.Name, "
        "Presales_Priority__c FROM Opportunity ORDER BY Id"
    )
    results = []
    for name in ("one", "two"):
        box = Sandbox(tmp_path / name, seed=120, seed_time=pinned, org=PLUGIN_ORG)
        box.start()
        try:
            sf = Salesforce(instance_url=box.url, session_id=box.session_id, version=V, session=http(box))
            results.append((sf.query_all(soql)["records"], box.session_id, box.url))
        finally:
            box.stop()
    assert results[0][0] == results[1][0] and len(results[0][0]) == 120
    box = Sandbox(tmp_path / "one", seed=120, org=PLUGIN_ORG)
    box.start()
    try:
        assert box.session_id == results[0][1]  # stable for a data dir
        sf = Salesforce(instance_url=box.url, session_id=box.session_id, version=V, session=http(box))
        assert sf.query_all(soql)["records"] == results[0][0]
    finally:
        box.stop()


def test_updating_a_deleted_record_says_entity_is_deleted(sb: Sandbox, api: requests.Session) -> None:
    answer = query(sb, api, "SELECT Id FROM Opportunity ORDER BY Id LIMIT 2").json()
    victim, other = [r["Id"] for r in answer["records"]]
    gone = api.delete(f"{sb.url}/services/data/v{V}/sobjects/Opportunity/{victim}", timeout=10)
    assert gone.status_code == 204
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Opportunity"}, "id": victim, "Name": "x"},
        {"attributes": {"type": "Opportunity"}, "id": "006" + "0" * 12, "Name": "x"},
        {"attributes": {"type": "Opportunity"}, "id": other, "Name": "x"}]}
    results = api.patch(f"{sb.url}/services/data/v{V}/composite/sobjects", json=body, timeout=10).json()
    assert [r["success"] for r in results] == [False, False, True]
    assert results[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert results[1]["errors"][0]["statusCode"] in ("INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID")


def test_usage_admin_sets_the_orgs_daily_usage(sb: Sandbox, api: requests.Session) -> None:
    assert api.post(f"{sb.url}/_sandbox/usage", json={"used": 14_000}, timeout=10).json() == {
        "used": 14_000, "total": 15_000}
    answer = query(sb, api, "SELECT Id FROM Opportunity LIMIT 1")
    assert answer.headers["Sforce-Limit-Info"] == "api-usage=14001/15000"
    assert api.post(f"{sb.url}/_sandbox/usage", json={"used": -1}, timeout=10).status_code == 400
    api.post(f"{sb.url}/_sandbox/usage", json={"used": 0}, timeout=10).raise_for_status()
