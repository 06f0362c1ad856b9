"""Zoho adapter pieces the nightly job relies on: reading quarantined records again by id,
a deleted record's write result, and the credit allowance as API usage."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from test_zoho_connector import API, Clock, add_tokens, bad, calls_to, deal, make, query

from presales_sync.connector import ConfigError, RecordChange
from presales_sync.connector.base import ApiUsage


@pytest.fixture
def rsps() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_read_ids_asks_for_at_most_100_ids_a_call(rsps: responses.RequestsMock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/Deals", json={"data": [deal(i, Deal_Name=f"D{i}") for i in range(100)],
                                   "info": {"more_records": False}})
    rsps.get(f"{API}/Deals", status=204)  # none of the second chunk exists any more
    crm = make(Clock())
    ids = [f"55400000000{i:05d}" for i in range(150)]
    pages = list(crm.read_ids(object_name="Deals", fields=["Deal_Name"], ids=ids))
    assert [len(p.records) for p in pages] == [100]
    calls = calls_to(rsps, API)
    assert [len(query(c)["ids"][0].split(",")) for c in calls] == [100, 50]
    assert query(calls[0])["fields"] == ["Modified_Time,Deal_Name"] and "page" not in query(calls[0])
    with pytest.raises(ConfigError, match="not Zoho record ids"):
        crm.read_ids(object_name="Deals", fields=["Deal_Name"], ids=["1,2"])


def test_a_deleted_record_is_reported_gone(rsps: responses.RequestsMock) -> None:
    add_tokens(rsps)
    gone = {"code": "INVALID_DATA", "details": {"api_name": "id", "json_path": "$.data[0].id"},
            "message": "the id given seems to be invalid", "status": "error"}
    rsps.get(f"{API}/Deals", json={"data": [deal(1, Amount=1.0)], "info": {"more_records": False}})
    rsps.put(f"{API}/Deals", status=400, json={"data": [gone, bad("Amount")]})
    crm = make(Clock())
    list(crm.read_changed(object_name="Deals", fields=["Amount"], since=None))
    first, second = crm.write(object_name="Deals", changes=[RecordChange("1", {"Amount": 1}),
                                                            RecordChange("2", {"Amount": "x"})])
    assert first.gone and first.error_code == "INVALID_DATA"
    assert not second.gone


def test_api_usage_from_the_credits_header_and_the_configured_allowance(rsps: responses.RequestsMock) -> None:
    add_tokens(rsps)
    rsps.get(f"{API}/settings/fields", json={"fields": []})
    rsps.get(f"{API}/settings/fields", json={"fields": []}, headers={"X-API-CREDITS-REMAINING": "3000"})
    unknown = make(Clock())
    assert unknown.api_usage is None  # no daily_credits configured: the sync cannot budget
    crm = make(Clock(), daily_credits=10_000)
    crm.describe("Deals")
    assert crm.api_usage == ApiUsage(0, 10_000)  # Zoho says nothing before half is used
    crm.describe("Deals")
    assert crm.api_usage == ApiUsage(7_000, 10_000)
