"""Fault injection in the sandbox: the plan's grammar and counting, and each fault on the
wire in Salesforce's own shapes (plain `requests` over verified HTTPS)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from sandbox_seed import PLUGIN_ORG

from presales_sync.sandbox import FaultPlan, FaultRule, FaultSpecError, Sandbox, parse_spec
from presales_sync.sandbox.core._faults import rules_from_json

V = "66.0"


def test_spec_grammar() -> None:
    rules = parse_spec(" rate_limit@composite_sobjects:after=1 ; server_error:status=500,times=3;"
                       "lock_row:records=006A|006B,times=0;latency:seconds=0.25;lost_response@query")
    assert rules == [
        FaultRule("rate_limit", family="composite_sobjects", after=1),
        FaultRule("server_error", status=500, times=3),
        FaultRule("lock_row", records=frozenset({"006A", "006B"}), times=0),
        FaultRule("latency", seconds=0.25),
        FaultRule("lost_response", family="query"),
    ]
    assert parse_spec("") == []
    assert rules_from_json({"spec": "latency:seconds=1"}) == [FaultRule("latency", seconds=1.0)]
    assert rules_from_json([{"kind": "rate_limit", "crm": "zoho"}]) == [FaultRule("rate_limit", crm="zoho")]


@pytest.mark.parametrize(("spec", "says"), [
    ("teleport", "unknown fault kind 'teleport'"),
    ("rate_limit:after", "expected key=value"),
    ("rate_limit:color=red", "unknown key(s) color"),
    ("server_error:status=404", "must be a 5xx code"),
    ("latency:seconds=0", "seconds must be within"),
    ("latency:seconds=soon", "could not convert"),
    ("lock_row", "name the records"),
    ("rate_limit:times=-1", "0 or more"),
])
def test_bad_specs_say_which_rule_and_why(spec: str, says: str) -> None:
    with pytest.raises(FaultSpecError) as err:
        parse_spec("latency:seconds=1;" + spec)
    assert "fault rule 2" in str(err.value) and says in str(err.value)


def test_counting_after_times_family_crm_and_records() -> None:
    plan = FaultPlan()
    plan.set(parse_spec("rate_limit@query:after=1,times=2;server_error:times=0,crm=zoho;"
                        "lock_row:records=006A,times=1;latency:seconds=0.5,times=0"))
    fired = [plan.take("salesforce", "query").error for _ in range(4)]
    assert [f.kind if f else None for f in fired] == [None, "rate_limit", "rate_limit", None]
    assert plan.take("zoho", "query").error == FaultRule("server_error", crm="zoho", times=0)
    assert plan.take("salesforce", "composite_sobjects", ["006B"]).locked == frozenset()
    hit = plan.take("salesforce", "composite_sobjects", ["006A", "006B"])
    assert hit.locked == {"006A"} and hit.delay == 0.5
    assert plan.take("salesforce", "composite_sobjects", ["006A"]).locked == frozenset()  # times=1 spent
    described = plan.describe()
    assert [(d["kind"], d["fired"]) for d in described] == [
        ("rate_limit", 2), ("server_error", 1), ("lock_row", 1), ("latency", 8)]
    plan.clear()
    assert not plan.take("salesforce", "query").any


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), port=0, seed=50, org=PLUGIN_ORG)
    box.start()
    yield box
    box.stop()


@pytest.fixture
def http(sb: Sandbox) -> Iterator[requests.Session]:
    s = requests.Session()
    s.trust_env = False
    s.verify = str(sb.ca_file)
    s.headers["Authorization"] = f"Bearer {sb.session_id}"
    yield s
    sb.faults.clear()


def _q(sb: Sandbox, http: requests.Session) -> requests.Response:
    return http.get(f"{sb.url}/services/data/v{V}/query", params={"q": "SELECT Id FROM Opportunity LIMIT 2"},
                    timeout=30)


def test_admin_endpoint_sets_shows_and_clears_the_plan(sb: Sandbox, http: requests.Session) -> None:
    url = f"{sb.url}/_sandbox/faults"
    got = http.post(url, data="rate_limit@query:times=1", timeout=10)
    assert got.status_code == 200 and got.json()["faults"][0]["kind"] == "rate_limit"
    assert _q(sb, http).status_code == 403
    assert http.get(url, timeout=10).json()["faults"][0]["fired"] == 1
    bad = http.post(url, data="rate_limit:when=now", timeout=10)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FAULT_PLAN"
    assert http.post(url, json=[{"kind": "latency", "seconds": 0.01}], timeout=10).status_code == 200
    assert http.delete(url, timeout=10).json() == {"faults": []}
    assert http.put(url, timeout=10).status_code == 405


def test_each_fault_in_salesforce_shapes(sb: Sandbox, http: requests.Session) -> None:
    sb.faults.set(parse_spec("rate_limit@query"))
    resp = _q(sb, http)
    assert resp.status_code == 403 and resp.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert resp.headers["Sforce-Limit-Info"].startswith("api-usage=")
    sb.faults.set(parse_spec("server_error@query:status=503;server_error@query:status=500,after=1"))
    first, second = _q(sb, http), _q(sb, http)
    assert (first.status_code, first.text) == (503, "Service Unavailable")
    assert second.status_code == 500 and second.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert _q(sb, http).status_code == 200  # both spent
    sb.faults.set(parse_spec("latency@query:seconds=0.4"))
    started = time.monotonic()
    assert _q(sb, http).status_code == 200 and time.monotonic() - started >= 0.4


def test_row_lock_fails_only_the_chosen_record(sb: Sandbox, http: requests.Session) -> None:
    ids = [r["Id"] for r in _q(sb, http).json()["records"]]
    sb.faults.set([FaultRule("lock_row", records=frozenset({ids[0]}))])
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Opportunity"}, "id": i, "Name": f"Locked? {i}"} for i in ids]}
    resp = http.patch(f"{sb.url}/services/data/v{V}/composite/sobjects", json=body, timeout=30)
    results = resp.json()
    assert results[0]["success"] is False and results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert results[1]["success"] is True
    single = http.patch(f"{sb.url}/services/data/v{V}/sobjects/Opportunity/{ids[0]}",
                        json={"Name": "x"}, timeout=30)
    assert single.status_code == 204  # times=1 was spent by the collection call


def test_lost_response_commits_then_drops_the_connection(sb: Sandbox, http: requests.Session) -> None:
    opp = _q(sb, http).json()["records"][0]["Id"]
    sb.faults.set(parse_spec("lost_response@sobject_patch"))
    with pytest.raises(requests.ConnectionError):
        http.patch(f"{sb.url}/services/data/v{V}/sobjects/Opportunity/{opp}",
                   json={"Name": "committed"}, timeout=30)
    got = http.get(f"{sb.url}/services/data/v{V}/sobjects/Opportunity/{opp}", timeout=30).json()
    assert got["Name"] == "committed"


def test_session_expiry_revokes_the_session_until_a_new_one(sb: Sandbox, http: requests.Session) -> None:
    old = sb.session_id
    sb.faults.set(parse_spec("session_expired@query"))
    assert _q(sb, http).json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert _q(sb, http).status_code == 401  # the fault fired once; the session stays dead
    new = sb.session_id
    assert new != old
    http.headers["Authorization"] = f"Bearer {new}"
    assert _q(sb, http).status_code == 200
