"""A record deleted in Salesforce is reported gone by every write path: the one classifier of
a per-record result (`record_result`) for sObject Collections, Bulk 2.0 ``failedResults`` and
User writes; ENTITY_IS_DELETED (recycle bin) at once, INVALID_CROSS_REFERENCE_KEY (no record
has the id: hard-deleted) once a read by id confirms it. Against `responses` stubs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from presales_sync.connector import RecordChange
from presales_sync.connector.salesforce import SalesforceConnector, SalesforceSettings, connect
from presales_sync.connector.salesforce._bulk import parse_error
from presales_sync.connector.salesforce._transport import RecordOutcome, record_outcome, record_result

INSTANCE = "https://acme.my.salesforce.com"
BASE = f"{INSTANCE}/services/data/v66.0"
INGEST = f"{BASE}/jobs/ingest"
JOB = "7505g000001AbcdAAC"
IDS = [f"0065g00000Del{i:02d}AAA" for i in range(4)]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def _connector(**overrides: object) -> SalesforceConnector:
    values: dict[str, object] = {"instance_url": INSTANCE, "auth_method": "session",
                                 "bulk_write_threshold": 10}
    values.update(overrides)
    return connect(SalesforceSettings(**values),  # type: ignore[arg-type]
                   {"PRESALES_SF_SESSION_ID": "00D5g000004SECRET!AQ8AQ"}, sleep=lambda _: None)


def _changes(ids: list[str] = IDS) -> list[RecordChange]:
    return [RecordChange(i, {"Presales_Step__c": "Demo"}) for i in ids]


def _failure(code: str, message: str, fields: list[str] | None = None) -> dict[str, object]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields or []}]}


def _still_there(rsps: responses.RequestsMock, present: list[str]) -> None:
    """The read-back by id: only `present` ids are found."""
    def answer(request: responses.PreparedRequest) -> tuple[int, dict[str, str], str]:
        soql = parse_qs(urlparse(request.url).query)["q"][0]
        assert soql.startswith("SELECT Id, SystemModstamp FROM Opportunity WHERE Id IN (")
        stamp = "2026-11-20T00:00:00.000+0000"
        records = [{"attributes": {"type": "Opportunity"}, "Id": i, "SystemModstamp": stamp}
                   for i in present if f"'{i}'" in soql]
        return 200, {}, json.dumps({"totalSize": len(records), "done": True, "records": records})
    rsps.add_callback(responses.GET, f"{BASE}/query/", callback=answer)


# -- the classifier --------------------------------------------------------------------------


@pytest.mark.parametrize("code, fields, outcome", [
    ("ENTITY_IS_DELETED", (), RecordOutcome.GONE),
    ("INVALID_CROSS_REFERENCE_KEY", (), RecordOutcome.MISSING),
    ("INVALID_CROSS_REFERENCE_KEY", ("Id",), RecordOutcome.MISSING),
    ("INVALID_CROSS_REFERENCE_KEY", ("Presales_Engineer__c",), RecordOutcome.REJECTED),  # a bad lookup
    ("UNABLE_TO_LOCK_ROW", (), RecordOutcome.RETRY),
    ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ("Amount",), RecordOutcome.REJECTED),
    (None, (), RecordOutcome.REJECTED),
])
def test_record_outcome_table(code: str | None, fields: tuple[str, ...], outcome: RecordOutcome) -> None:
    assert record_outcome(code, fields) is outcome


def test_record_result_flags() -> None:
    assert record_result("a", ok=True).ok
    gone = record_result("a", ok=False, code="ENTITY_IS_DELETED", message="entity is deleted")
    assert (gone.ok, gone.gone, gone.retryable, gone.error_code) == (False, True, False, "ENTITY_IS_DELETED")
    locked = record_result("a", ok=False, code="UNABLE_TO_LOCK_ROW")
    assert (locked.gone, locked.retryable) == (False, True)
    assert record_result("a", ok=False).error_code == "UNKNOWN"


def test_sf_error_keeps_the_fields() -> None:
    assert parse_error("ENTITY_IS_DELETED:entity is deleted:--") == (
        "ENTITY_IS_DELETED", "entity is deleted", ())
    assert parse_error("INVALID_CROSS_REFERENCE_KEY:Engineer: invalid cross reference id:"
                       "Presales_Engineer__c") == (
        "INVALID_CROSS_REFERENCE_KEY", "Engineer: invalid cross reference id", ("Presales_Engineer__c",))


# -- sObject Collections ---------------------------------------------------------------------


def test_rest_deleted_and_hard_deleted_records_are_gone(rsps: responses.RequestsMock) -> None:
    sf = _connector()
    rsps.patch(f"{BASE}/composite/sobjects", json=[
        _failure("ENTITY_IS_DELETED", "entity is deleted"),
        _failure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"),
        _failure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"),  # a trigger's bad id
        _failure("INVALID_CROSS_REFERENCE_KEY", "Presales Engineer: invalid cross reference id",
                 ["Presales_Engineer__c"]),
    ])
    _still_there(rsps, [IDS[2]])
    results = sf.write(object_name="Opportunity", changes=_changes())
    assert [(r.ok, r.gone) for r in results] == [(False, True), (False, True), (False, False), (False, False)]
    assert [r.error_code for r in results] == ["ENTITY_IS_DELETED"] + ["INVALID_CROSS_REFERENCE_KEY"] * 3
    # one read-back, for the two ids whose error names no field
    assert sf.api_calls() == {"composite_sobjects": 1, "query": 1}
    soql = parse_qs(urlparse(rsps.calls[1].request.url).query)["q"][0]
    assert f"'{IDS[1]}'" in soql and f"'{IDS[2]}'" in soql and f"'{IDS[3]}'" not in soql


def test_rest_entity_is_deleted_needs_no_read(rsps: responses.RequestsMock) -> None:
    sf = _connector()
    rsps.patch(f"{BASE}/composite/sobjects", json=[_failure("ENTITY_IS_DELETED", "entity is deleted")])
    [result] = sf.write(object_name="Opportunity", changes=_changes(IDS[:1]))
    assert result.gone and sf.api_calls() == {"composite_sobjects": 1}


def test_user_writes_use_the_same_classifier(rsps: responses.RequestsMock) -> None:
    sf = _connector()
    users = ["0055g00000Usr01AAA", "0055g00000Usr02AAA"]
    rsps.patch(f"{BASE}/composite/sobjects", json=[
        _failure("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"),
        _failure("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "bad value", ["Presales_Rating__c"])])
    rsps.patch(f"{BASE}/composite/sobjects", json=[{"id": users[0], "success": True, "errors": []}])
    todo = [RecordChange(u, {"Presales_Rating__c": "A"}) for u in users]
    results = sf.write(object_name="User", changes=todo)
    assert [(r.ok, r.gone, r.retryable) for r in results] == [(True, False, False), (False, False, False)]


# -- Bulk 2.0 ingest ---------------------------------------------------------------------------


def _bulk_job(rsps: responses.RequestsMock, failed_csv: str, failed: int) -> None:
    job = {"id": JOB, "object": "Opportunity", "operation": "update"}
    rsps.post(INGEST, json={**job, "state": "Open"})
    rsps.put(f"{INGEST}/{JOB}/batches", status=201)
    rsps.patch(f"{INGEST}/{JOB}", json={**job, "state": "UploadComplete"})
    rsps.get(f"{INGEST}/{JOB}", json={**job, "state": "JobComplete", "numberRecordsProcessed": len(IDS),
                                      "numberRecordsFailed": failed})
    rsps.get(f"{INGEST}/{JOB}/failedResults", body=failed_csv, content_type="text/csv")


def test_bulk_deleted_and_hard_deleted_records_are_gone(rsps: responses.RequestsMock) -> None:
    sf = _connector(bulk_write_threshold=2)
    _bulk_job(rsps, '"sf__Id","sf__Error","Id","Presales_Step__c"\n'
                    f'"{IDS[0]}","ENTITY_IS_DELETED:entity is deleted:--","{IDS[0]}","Demo"\n'
                    f'"","INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--","{IDS[1]}","Demo"\n'
                    '"","INVALID_CROSS_REFERENCE_KEY:Engineer: invalid cross reference id:'
                    f'Presales_Engineer__c","{IDS[2]}","Demo"\n', failed=3)
    _still_there(rsps, [])
    results = sf.write(object_name="Opportunity", changes=_changes())
    assert [(r.id, r.ok, r.gone) for r in results] == [
        (IDS[0], False, True), (IDS[1], False, True), (IDS[2], False, False), (IDS[3], True, False)]
    assert results[0].message == "entity is deleted"
    assert sf.api_calls()["query"] == 1 and "composite_sobjects" not in sf.api_calls()
