"""Bulk API 2.0 in the Salesforce adapter against `responses` stubs: when writes and reads
switch to Bulk, the CSV we upload (fixed columns, ``#N/A`` for nulls), per-record results
from ``failedResults``, jobs that fail half-way, row locks, locator paging, and call counting.
Nothing here sleeps."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise

import pytest
import responses
from responses import matchers

from presales_sync.connector import FatalError, RecordChange, RemoteRecord
from presales_sync.connector.salesforce import SalesforceConnector, SalesforceSettings, connect
from presales_sync.connector.salesforce._bulk import (
    _rows,
    csv_cell,
    ingest_chunks,
    parse_error,
    stamp_ordered,
)

INSTANCE = "https://acme.my.salesforce.com"
BASE = f"{INSTANCE}/services/data/v66.0"
INGEST = f"{BASE}/jobs/ingest"
QUERY = f"{BASE}/jobs/query"
JOB = "7505g000001AbcdAAC"
SESSION_ID = "00D5g000004SECRET!AQ8AQSessionSecretValue"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _connector(sleeps: list[float], **overrides: object) -> SalesforceConnector:
    values: dict[str, object] = {"instance_url": INSTANCE, "auth_method": "session",
                                 "bulk_write_threshold": 2, "bulk_read_threshold": 3, "page_size": 200}
    values.update(overrides)
    settings = SalesforceSettings(**values)  # type: ignore[arg-type]
    return connect(settings, {"PRESALES_SF_SESSION_ID": SESSION_ID}, sleep=sleeps.append)


def _ids(n: int) -> list[str]:
    return [f"0065g00000Rec{i:02d}AAA" for i in range(n)]


def _job(state: str, **extra: object) -> dict[str, object]:
    return {"id": JOB, "state": state, "object": "Opportunity", "operation": "update", **extra}


def _ingest_stubs(rsps: responses.RequestsMock, final: dict[str, object], polls: int = 1) -> None:
    rsps.post(INGEST, json=_job("Open"))
    rsps.put(f"{INGEST}/{JOB}/batches", status=201)
    rsps.patch(f"{INGEST}/{JOB}", json=_job("UploadComplete"),
               match=[matchers.json_params_matcher({"state": "UploadComplete"})])
    for _ in range(polls - 1):
        rsps.get(f"{INGEST}/{JOB}", json=_job("InProgress"))
    rsps.get(f"{INGEST}/{JOB}", json=final)


def _uploaded(rsps: responses.RequestsMock) -> list[list[str]]:
    put = next(c for c in rsps.calls if c.request.method == "PUT")
    body = put.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return list(csv.reader(io.StringIO(text)))


# -- CSV building ----------------------------------------------------------------------------


def test_csv_cells_null_and_types() -> None:
    assert csv_cell(None) == "#N/A"
    assert csv_cell("") == "#N/A"
    assert csv_cell(True) == "true" and csv_cell(False) == "false"
    assert csv_cell(12.5) == "12.5" and csv_cell(3) == "3"
    with pytest.raises(FatalError, match="dict"):
        csv_cell({"a": 1})


def test_chunks_split_by_size_and_repeat_the_header() -> None:
    changes = [RecordChange(i, {"Name": "x" * 30}) for i in _ids(10)]
    chunks = list(ingest_chunks(changes, max_bytes=200))
    assert sum(len(c) for c, _ in chunks) == 10 and len(chunks) > 2
    for chunk, text in chunks:
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["Id", "Name"]
        assert [r[0] for r in rows[1:]] == [c.id for c in chunk]
        assert len(text.encode()) <= 200


def test_result_rows_keep_quoted_newlines_and_commas() -> None:
    text = 'Id,Name,Note\n"a1","two\nlines, one cell",x\r\n"a2","",\n'
    assert list(_rows(text)) == [{"Id": "a1", "Name": "two\nlines, one cell", "Note": "x"},
                                 {"Id": "a2", "Name": "", "Note": ""}]
    assert list(_rows("Id\n")) == [] and list(_rows("")) == []


def test_sf_error_parsing() -> None:
    assert parse_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--") == (
        "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", ())
    assert parse_error("FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount: too big:Amount") == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Amount: too big", ("Amount",))
    assert parse_error("something odd") == ("UNKNOWN", "something odd", ())


# -- writes ------------------------------------------------------------------------------------


def test_at_threshold_writes_stay_on_collections(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps)
    ids = _ids(2)
    rsps.patch(f"{BASE}/composite/sobjects", json=[{"id": i, "success": True, "errors": []} for i in ids])
    results = sf.write(object_name="Opportunity", changes=[RecordChange(i, {"Name": "n"}) for i in ids])
    assert all(r.ok for r in results)
    assert sf.api_calls() == {"composite_sobjects": 1}


def test_above_threshold_fixed_columns_and_nulls(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps)
    ids = _ids(3)
    changes = [
        RecordChange(ids[0], {"Presales_Step__c": "Scoping", "Presales_Engineer__c": None}),
        RecordChange(ids[1], {"Presales_Health__c": "Green"}),
        RecordChange(ids[2], {"Presales_Engineer__c": "", "Presales_Step__c": "Demo, then POC"}),
    ]
    _ingest_stubs(rsps, _job("JobComplete", numberRecordsProcessed=3, numberRecordsFailed=0), polls=3)
    results = sf.write(object_name="Opportunity", changes=changes)
    assert [(r.id, r.ok) for r in results] == [(i, True) for i in ids]
    assert _uploaded(rsps) == [
        ["Id", "Presales_Step__c", "Presales_Engineer__c", "Presales_Health__c"],
        [ids[0], "Scoping", "#N/A", ""],  # "" = leave unchanged
        [ids[1], "", "", "Green"],
        [ids[2], "Demo, then POC", "#N/A", ""],
    ]
    create = json.loads(rsps.calls[0].request.body)
    assert create["operation"] == "update" and create["object"] == "Opportunity"
    assert create["contentType"] == "CSV" and create["lineEnding"] == "LF"
    assert sleeps[:3] == [0.25, 0.5, 1.0]
    # JobComplete with nothing failed: no results download at all.
    assert sf.api_calls() == {"bulk_ingest_create": 1, "bulk_ingest_upload": 1, "bulk_ingest_state": 1,
                              "bulk_ingest_poll": 3}


def test_failed_rows_become_per_record_results(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps)
    ids = _ids(4)
    _ingest_stubs(rsps, _job("JobComplete", numberRecordsProcessed=4, numberRecordsFailed=2))
    failed = (
        '"sf__Id","sf__Error","Id","Presales_Step__c"\n'
        f'"{ids[1]}","INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:Step: bad value for restricted picklist '
        f'field: Nope:Presales_Step__c","{ids[1]}","Nope"\n'
        f'"","UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--","{ids[3]}","Demo"\n'
    )
    rsps.get(f"{INGEST}/{JOB}/failedResults", body=failed, content_type="text/csv")
    # The locked row gets one more try through sObject Collections.
    rsps.patch(f"{BASE}/composite/sobjects", json=[{"id": ids[3], "success": True, "errors": []}])
    steps = ["A", "Nope", "C", "Demo"]
    changes = [RecordChange(i, {"Presales_Step__c": v}) for i, v in zip(ids, steps, strict=True)]
    results = sf.write(object_name="Opportunity", changes=changes)
    assert [r.ok for r in results] == [True, False, True, True]
    assert results[1].error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[1].message == "Step: bad value for restricted picklist field: Nope"
    assert not results[1].retryable
    body = json.loads(rsps.calls[-1].request.body)
    assert [r["id"] for r in body["records"]] == [ids[3]]
    assert sf.api_calls()["bulk_ingest_results"] == 1


def test_failed_results_count_mismatch_is_fatal(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps)
    ids = _ids(3)
    _ingest_stubs(rsps, _job("JobComplete", numberRecordsProcessed=3, numberRecordsFailed=2))
    rsps.get(f"{INGEST}/{JOB}/failedResults", body='"sf__Id","sf__Error","Id"\n', content_type="text/csv")
    with pytest.raises(FatalError, match="failedResults has 0 rows"):
        sf.write(object_name="Opportunity", changes=[RecordChange(i, {"Name": "n"}) for i in ids])


def test_job_failed_half_way_reports_unprocessed_as_retryable(
        rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps)
    ids = _ids(3)
    _ingest_stubs(rsps, _job("Failed", numberRecordsProcessed=1, numberRecordsFailed=0,
                             errorMessage="InternalServerError : retry later"))
    rsps.get(f"{INGEST}/{JOB}/successfulResults",
             body=f'"sf__Id","sf__Created","Id","Name"\n"{ids[0]}","false","{ids[0]}","n"\n')
    results = sf.write(object_name="Opportunity", changes=[RecordChange(i, {"Name": "n"}) for i in ids])
    assert results[0].ok
    assert [(r.ok, r.error_code, r.retryable) for r in results[1:]] == [(False, "NOT_PROCESSED", True)] * 2
    assert results[1].message == "InternalServerError : retry later"


def test_upload_refused_aborts_the_job(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps)
    rsps.post(INGEST, json=_job("Open"))
    rsps.put(f"{INGEST}/{JOB}/batches", status=400,
             json=[{"errorCode": "INVALIDBATCH", "message": "InvalidBatch : bad CSV"}])
    rsps.patch(f"{INGEST}/{JOB}", json=_job("Aborted"),
               match=[matchers.json_params_matcher({"state": "Aborted"})])
    with pytest.raises(FatalError, match="bad CSV"):
        sf.write(object_name="Opportunity", changes=[RecordChange(i, {"Name": "n"}) for i in _ids(3)])
    assert sf.api_calls()["bulk_abort"] == 1


def test_transient_poll_error_is_retried_and_counted(
        rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps)
    rsps.post(INGEST, json=_job("Open"))
    rsps.put(f"{INGEST}/{JOB}/batches", status=201)
    rsps.patch(f"{INGEST}/{JOB}", json=_job("UploadComplete"))
    rsps.get(f"{INGEST}/{JOB}", status=503, body="Service Unavailable")
    rsps.get(f"{INGEST}/{JOB}", json=_job("JobComplete", numberRecordsProcessed=3, numberRecordsFailed=0))
    results = sf.write(object_name="Opportunity", changes=[RecordChange(i, {"Name": "n"}) for i in _ids(3)])
    assert all(r.ok for r in results)
    assert sf.api_calls()["bulk_ingest_poll"] == 2


# -- reads -------------------------------------------------------------------------------------


def _rest_record(i: int, stamp: str) -> dict[str, object]:
    return {"attributes": {"type": "Opportunity"}, "Id": _ids(10)[i], "SystemModstamp": stamp,
            "Amount": 10.0 * i, "IsClosed": False, "Account": {"Name": f"Acct {i}"}}


def _describe_stubs(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{BASE}/sobjects/Opportunity/describe", json={"name": "Opportunity", "fields": [
        {"name": "Id", "type": "id"}, {"name": "SystemModstamp", "type": "datetime"},
        {"name": "Amount", "type": "currency"}, {"name": "IsClosed", "type": "boolean"},
        {"name": "AccountId", "type": "reference", "referenceTo": ["Account"]}]})
    rsps.get(f"{BASE}/sobjects/Account/describe", json={"name": "Account", "fields": [
        {"name": "Id", "type": "id"}, {"name": "Name", "type": "string"}]})


def test_large_full_read_continues_through_a_query_job(
        rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps)
    more = "/services/data/v66.0/query/01g-2"
    rsps.get(f"{BASE}/query/", json={"totalSize": 6, "done": False, "nextRecordsUrl": more,
                                     "records": [_rest_record(0, "2026-11-01T00:00:00.000+0000"),
                                                 _rest_record(1, "2026-11-02T00:00:00.000+0000")]})
    _describe_stubs(rsps)
    rsps.post(QUERY, json={"id": JOB, "state": "UploadComplete"})
    rsps.get(f"{QUERY}/{JOB}", json={"id": JOB, "state": "InProgress"})
    rsps.get(f"{QUERY}/{JOB}", json={"id": JOB, "state": "JobComplete", "numberRecordsProcessed": 5})
    ids = _ids(10)
    header = '"Id","SystemModstamp","Amount","IsClosed","Account.Name"\n'
    # PK-chunk order, not stamp order (the job has no ORDER BY): the connector sorts
    rsps.get(f"{QUERY}/{JOB}/results", match=[matchers.query_param_matcher({"maxRecords": "25000"})],
             headers={"Sforce-Locator": "MTAwMDA", "Sforce-NumberOfRecords": "3"},
             body=header + f'"{ids[4]}","2026-11-04T00:00:00.000Z","40.0","false","Acct 4"\n'
                         f'"{ids[1]}","2026-11-02T00:00:00.000Z","10.0","false","Acct 1"\n'
                         f'"{ids[3]}","2026-11-03T00:00:00.000Z","","false","Acct 3"\n')
    rsps.get(f"{QUERY}/{JOB}/results",
             match=[matchers.query_param_matcher({"maxRecords": "25000", "locator": "MTAwMDA"})],
             headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "2"},
             body=header + f'"{ids[5]}","2026-11-05T00:00:00.000Z","50.0","false","Acct 5"\n'
                         f'"{ids[2]}","2026-11-02T00:00:00.000Z","20.0","true",""\n')
    pages = list(sf.read_changed(object_name="Opportunity", fields=["Amount", "IsClosed", "Account.Name"],
                                 since=None))
    records = [r for p in pages for r in p.records]
    assert [r.id for r in records] == ids[:6]  # ids[1] (already on the REST page) is not repeated
    assert [p.number for p in pages] == [1, 2]
    assert dict(records[2].fields) == {"Id": ids[2], "SystemModstamp": "2026-11-02T00:00:00.000+0000",
                                       "Amount": 20.0, "IsClosed": True, "Account.Name": None}
    assert records[3].fields["Amount"] is None
    assert records[5].stamp == datetime(2026, 11, 5, tzinfo=UTC)
    soql = json.loads(next(c for c in rsps.calls if c.request.url == QUERY).request.body)["query"]
    # no ORDER BY: it turns PK chunking off and large query jobs time out
    assert soql.endswith("WHERE SystemModstamp >= 2026-11-02T00:00:00.000Z")
    assert "ORDER BY" not in soql
    assert sf.api_calls() == {"query": 1, "describe": 2, "bulk_query_create": 1, "bulk_query_poll": 2,
                              "bulk_query_results": 2}


def test_incremental_and_small_reads_stay_on_rest(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps, bulk_read_threshold=6)
    more = "/services/data/v66.0/query/01g-1"
    rsps.get(f"{BASE}/query/", json={"totalSize": 6, "done": False, "nextRecordsUrl": more,
                                     "records": [_rest_record(0, "2026-11-01T00:00:00.000+0000")]})
    rsps.get(f"{INSTANCE}{more}", json={"totalSize": 6, "done": True,
                                        "records": [_rest_record(1, "2026-11-02T00:00:00.000+0000")]})
    pages = list(sf.read_changed(object_name="Opportunity", fields=["Amount"], since=None))
    assert len(pages) == 2 and sf.api_calls() == {"query": 1, "query_more": 1}


def test_failed_query_job_is_fatal(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = _connector(sleeps)
    rsps.get(f"{BASE}/query/", json={"totalSize": 9, "done": False, "nextRecordsUrl": "/x",
                                     "records": [_rest_record(0, "2026-11-01T00:00:00.000+0000")]})
    rsps.get(f"{BASE}/sobjects/Opportunity/describe", json={"name": "Opportunity", "fields": [
        {"name": "Id", "type": "id"}, {"name": "Amount", "type": "currency"}]})
    rsps.post(QUERY, json={"id": JOB, "state": "UploadComplete"})
    rsps.get(f"{QUERY}/{JOB}", json={"id": JOB, "state": "Failed", "errorMessage": "QUERY_TIMEOUT"})
    with pytest.raises(FatalError, match="QUERY_TIMEOUT"):
        list(sf.read_changed(object_name="Opportunity", fields=["Amount"], since=None))


def _rec(rid: str, day: int, second: int = 0) -> RemoteRecord:
    stamp = datetime(2026, 11, day, 0, 0, second, tzinfo=UTC)
    return RemoteRecord(id=rid, stamp=stamp, fields={"Id": rid, "SystemModstamp": stamp.isoformat(),
                                                     "Amount": 1.5, "IsClosed": False, "Name": None})


def test_stamp_ordered_sorts_dedupes_and_waits_for_the_whole_job() -> None:
    consumed: list[int] = []

    def batches() -> Iterator[list[RemoteRecord]]:
        for n, batch in enumerate([[_rec("b", 3), _rec("a", 5)], [_rec("c", 3), _rec("a", 1)],
                                   [_rec("d", 2), _rec("e", 3)]]):
            consumed.append(n)
            yield batch

    pages = stamp_ordered(batches(), page_size=2)
    first = next(pages)
    assert consumed == [0, 1, 2]  # the whole job was read before the first page
    rest = list(pages)
    order = [(r.id, r.stamp.day) for p in [first, *rest] for r in p]
    assert order == [("d", 2), ("b", 3), ("c", 3), ("e", 3), ("a", 5)]  # "a" once, its newest copy
    assert [len(p) for p in [first, *rest]] == [2, 2, 1]
    assert dict(first[0].fields) == dict(_rec("d", 2).fields)  # values survive the spool
    # a page's largest stamp is never above a later page's smallest: the cursor is safe
    for a, b in pairwise([first, *rest]):
        assert max(r.stamp for r in a) <= min(r.stamp for r in b)
