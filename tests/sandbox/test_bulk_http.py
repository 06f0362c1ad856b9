"""Bulk API 2.0 in the sandbox over real HTTPS: the ingest and query job lifecycles, their
states, result CSVs, ``Sforce-Locator`` paging and error bodies; and simple-salesforce's own
Bulk 2.0 helpers working against it unchanged."""

from __future__ import annotations

import csv
import io
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox_seed import PLUGIN_ORG
from simple_salesforce import Salesforce

from presales_sync.sandbox import Sandbox
from presales_sync.sandbox.core import _http as _server
from presales_sync.sandbox.salesforce import _bulk as sandbox_bulk

V = "66.0"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(data_dir=tmp_path_factory.mktemp("bulk"), port=0, seed=300, org=PLUGIN_ORG)
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def api(sb: Sandbox) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    s.verify = str(sb.ca_file)
    s.headers["Authorization"] = f"Bearer {sb.session_id}"
    return s


def url(sb: Sandbox, path: str) -> str:
    return f"{sb.url}/services/data/v{V}/jobs/{path}"


def rest_query(sb: Sandbox, api: requests.Session, soql: str) -> list[dict[str, Any]]:
    body = api.get(f"{sb.url}/services/data/v{V}/query", params={"q": soql}, timeout=30).json()
    records = body["records"]
    while not body["done"]:
        body = api.get(sb.url + body["nextRecordsUrl"], timeout=30).json()
        records += body["records"]
    return records


def wait_final(sb: Sandbox, api: requests.Session, path: str) -> dict[str, Any]:
    sb.settle_bulk_jobs()  # the job's worker is done: one poll shows its final state
    info = api.get(url(sb, path), timeout=30).json()
    assert info["state"] in ("JobComplete", "Failed", "Aborted"), f"job never finished: {info['state']}"
    return dict(info)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def open_job(sb: Sandbox, api: requests.Session) -> str:
    resp = api.post(url(sb, "ingest"), json={"object": "Opportunity", "operation": "update",
                                             "contentType": "CSV", "lineEnding": "LF"}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "Open"
    return str(resp.json()["id"])


def test_ingest_lifecycle_writes_and_reports_per_row(sb: Sandbox, api: requests.Session) -> None:
    opps = rest_query(sb, api, "SELECT Id, Name, Amount, Presales_Priority__c, SystemModstamp "
                               "FROM Opportunity WHERE IsClosed = false ORDER BY Id LIMIT 4")
    a, b, c, d = opps
    job = open_job(sb, api)
    info = api.get(url(sb, f"ingest/{job}"), timeout=30).json()
    assert info["jobType"] == "V2Ingest" and info["contentUrl"].endswith(f"/jobs/ingest/{job}/batches")
    data = ("Id,Name,Amount,Presales_Priority__c,StageName\n"
            f'{a["Id"]},"Renamed, with comma",#N/A,P1,Closed Won\n'
            f"{b['Id']},,125.5,#N/A,\n"
            f"{c['Id']},,not-a-number,,\n"
            f"{d['Id']},,,Urgent,\n"
            "006Dn000000ZZZZAAA,Nobody,,,\n")
    resp = api.put(url(sb, f"ingest/{job}/batches"), data=data.encode(),
                   headers={"Content-Type": "text/csv"}, timeout=30)
    assert resp.status_code == 201, resp.text
    again = api.put(url(sb, f"ingest/{job}/batches"), data=data.encode(), timeout=30)
    assert again.status_code == 409 and again.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    assert api.get(url(sb, f"ingest/{job}/failedResults"), timeout=30).status_code == 409  # not finished
    closed = api.patch(url(sb, f"ingest/{job}"), json={"state": "UploadComplete"}, timeout=30)
    assert closed.json()["state"] in ("UploadComplete", "InProgress", "JobComplete")
    info = wait_final(sb, api, f"ingest/{job}")
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (5, 3)

    ok = csv_rows(api.get(url(sb, f"ingest/{job}/successfulResults"), timeout=30).text)
    assert [(r["sf__Id"], r["sf__Created"]) for r in ok] == [(a["Id"], "false"), (b["Id"], "false")]
    failed = csv_rows(api.get(url(sb, f"ingest/{job}/failedResults"), timeout=30).text)
    errors = {r["Id"]: r["sf__Error"].split(":")[0] for r in failed}
    assert errors == {c["Id"]: "INVALID_TYPE_ON_FIELD_IN_RECORD",
                      d["Id"]: "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                      "006Dn000000ZZZZAAA": "INVALID_CROSS_REFERENCE_KEY"}
    assert failed[0].keys() >= {"sf__Id", "sf__Error", "Id", "Name", "Amount"}
    # The library spells the resource unprocessedRecords, Salesforce documents unprocessedrecords.
    for spelling in ("unprocessedrecords", "unprocessedRecords"):
        rows = csv_rows(api.get(url(sb, f"ingest/{job}/{spelling}"), timeout=30).text)
        assert rows == []

    after = {r["Id"]: r for r in rest_query(
        sb, api, "SELECT Id, Name, Amount, Presales_Priority__c, IsClosed, IsWon, SystemModstamp "
                 f"FROM Opportunity WHERE Id IN ('{a['Id']}', '{b['Id']}', '{c['Id']}')")}
    assert after[a["Id"]]["Name"] == "Renamed, with comma"
    assert after[a["Id"]]["Amount"] is None  # #N/A clears
    assert after[a["Id"]]["IsClosed"] and after[a["Id"]]["IsWon"]  # derived from StageName
    assert after[b["Id"]]["Name"] == b["Name"]  # empty cell leaves the field alone
    assert after[b["Id"]]["Amount"] == 125.5 and after[b["Id"]]["Presales_Priority__c"] is None
    assert after[a["Id"]]["SystemModstamp"] > a["SystemModstamp"]
    assert after[c["Id"]]["SystemModstamp"] == c["SystemModstamp"]  # the failed row is untouched

    assert api.delete(url(sb, f"ingest/{job}"), timeout=30).status_code == 204
    assert api.get(url(sb, f"ingest/{job}"), timeout=30).status_code == 404


def test_unknown_column_fails_the_job_and_leaves_rows_unprocessed(sb: Sandbox, api: requests.Session) -> None:
    job = open_job(sb, api)
    some_id = rest_query(sb, api, "SELECT Id FROM Opportunity LIMIT 1")[0]["Id"]
    api.put(url(sb, f"ingest/{job}/batches"), data=f"Id,Bogus__c\n{some_id},x\n".encode(), timeout=30)
    api.patch(url(sb, f"ingest/{job}"), json={"state": "UploadComplete"}, timeout=30)
    info = wait_final(sb, api, f"ingest/{job}")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Bogus__c"
    rows = csv_rows(api.get(url(sb, f"ingest/{job}/unprocessedrecords"), timeout=30).text)
    assert rows == [{"Id": some_id, "Bogus__c": "x"}]


def test_abort_and_state_errors(sb: Sandbox, api: requests.Session) -> None:
    job = open_job(sb, api)
    aborted = api.patch(url(sb, f"ingest/{job}"), json={"state": "Aborted"}, timeout=30)
    assert aborted.json()["state"] == "Aborted"
    late = api.patch(url(sb, f"ingest/{job}"), json={"state": "UploadComplete"}, timeout=30)
    assert late.status_code == 409 and late.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    assert api.get(url(sb, "ingest/750Dn0000000000AAA"), timeout=30).status_code == 404
    bad_op = api.post(url(sb, "ingest"), json={"object": "Opportunity", "operation": "upsert"},
                      timeout=30)
    assert bad_op.status_code == 400 and bad_op.json()[0]["errorCode"] == "INVALIDJOB"
    bad_obj = api.post(url(sb, "ingest"), json={"object": "Nope__c", "operation": "update"}, timeout=30)
    assert bad_obj.status_code == 400
    anonymous = requests.post(url(sb, "ingest"), json={}, verify=str(sb.ca_file), timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_query_job_pages_with_locators(sb: Sandbox, api: requests.Session) -> None:
    soql = ("SELECT Id, Name, Amount, IsClosed, CloseDate, SystemModstamp, Account.Name FROM Opportunity "
            "ORDER BY SystemModstamp, Id")
    resp = api.post(url(sb, "query"), json={"operation": "query", "query": soql}, timeout=30)
    assert resp.status_code == 200 and resp.json()["state"] == "UploadComplete"
    job = resp.json()["id"]
    info = wait_final(sb, api, f"query/{job}")
    assert info["state"] == "JobComplete" and info["jobType"] == "V2Query"
    assert info["numberRecordsProcessed"] == 300

    rows: list[dict[str, str]] = []
    locator, pages = "", 0
    while True:
        params: dict[str, Any] = {"maxRecords": 120}
        if locator:
            params["locator"] = locator
        page = api.get(url(sb, f"query/{job}/results"), params=params, timeout=30)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/csv")
        got = csv_rows(page.text)
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(got)
        if pages == 1:  # a retried page is answered again
            retry = api.get(url(sb, f"query/{job}/results"), params=params, timeout=30)
            assert retry.text == page.text
        rows += got
        pages += 1
        locator = page.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages == 3 and len(rows) == 300
    rest = rest_query(sb, api, soql)
    assert [r["Id"] for r in rows] == [r["Id"] for r in rest]
    first, want = rows[0], rest[0]
    assert first["SystemModstamp"] == want["SystemModstamp"].replace("+0000", "Z")
    assert first["IsClosed"] == str(want["IsClosed"]).lower()
    assert first["Account.Name"] == want["Account"]["Name"]
    assert float(first["Amount"]) == want["Amount"]

    stale = api.get(url(sb, f"query/{job}/results"), params={"locator": "bogus"}, timeout=30)
    assert stale.status_code == 400 and stale.json()[0]["errorCode"] == "INVALIDLOCATOR"
    bad = api.post(url(sb, "query"), json={"operation": "query", "query": "SELECT Nope FROM Opportunity"},
                   timeout=30)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_simple_salesforce_bulk2_helpers_work_against_it(sb: Sandbox) -> None:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sb.ca_file)
    sf = Salesforce(instance_url=sb.url, session_id=sb.session_id, version=V, session=session)
    pages = list(sf.bulk2.Opportunity.query("SELECT Id, Name FROM Opportunity", max_records=100, wait=0.01))
    assert len(pages) == 3 and sum(len(csv_rows(p)) for p in pages) == 300
    target = csv_rows(pages[0])[0]["Id"]
    result = sf.bulk2.Opportunity.update(records=[{"Id": target, "Name": "Via simple-salesforce"}], wait=0.01)
    assert result[0]["numberRecordsProcessed"] == 1 and result[0]["numberRecordsFailed"] == 0
    name = sf.query(f"SELECT Name FROM Opportunity WHERE Id = '{target}'")["records"][0]["Name"]
    assert name == "Via simple-salesforce"


# -- request bodies without Content-Length -------------------------------------------------------


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    """A generator body: requests sends it with ``Transfer-Encoding: chunked``, as jsforce does."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_chunked_csv_upload_is_read_whole(sb: Sandbox, api: requests.Session) -> None:
    opps = rest_query(sb, api, "SELECT Id, Name FROM Opportunity ORDER BY Id LIMIT 30")
    data = "Id,Name\n" + "".join(f'{o["Id"]},"Chunked {i}, row"\n' for i, o in enumerate(opps))
    job = open_job(sb, api)
    sent: list[requests.PreparedRequest] = []
    resp = api.put(url(sb, f"ingest/{job}/batches"), data=_chunks(data.encode(), 37),
                   headers={"Content-Type": "text/csv"}, timeout=30,
                   hooks={"response": lambda r, *a, **k: sent.append(r.request)})
    assert sent[0].headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in sent[0].headers
    assert resp.status_code == 201, resp.text
    api.patch(url(sb, f"ingest/{job}"), json={"state": "UploadComplete"}, timeout=30)
    info = wait_final(sb, api, f"ingest/{job}")
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (30, 0)
    names = {r["Id"]: r["Name"] for r in rest_query(
        sb, api, "SELECT Id, Name FROM Opportunity WHERE Id IN ("
                 + ", ".join(f"'{o['Id']}'" for o in opps) + ")")}
    assert names == {o["Id"]: f"Chunked {i}, row" for i, o in enumerate(opps)}
    # the connection stays usable: the next request on it is parsed from the right byte
    assert api.get(url(sb, f"ingest/{job}"), timeout=30).json()["state"] == "JobComplete"


def test_chunked_json_body_on_another_endpoint(sb: Sandbox, api: requests.Session) -> None:
    body = b'{"operation": "query", "query": "SELECT Id FROM Opportunity"}'
    resp = api.post(url(sb, "query"), data=_chunks(body, 5), headers={"Content-Type": "application/json"},
                    timeout=30)
    assert resp.status_code == 200 and resp.json()["state"] == "UploadComplete", resp.text


def _raw(sb: Sandbox, request: bytes) -> bytes:
    """Send `request` as is over TLS and read until the server closes."""
    ctx = ssl.create_default_context(cafile=str(sb.ca_file))
    with socket.create_connection(("127.0.0.1", sb.port), timeout=10) as plain, \
            ctx.wrap_socket(plain, server_hostname="127.0.0.1") as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def _put_head(sb: Sandbox, job: str, extra: str) -> bytes:
    return (f"PUT /services/data/v{V}/jobs/ingest/{job}/batches HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {sb.session_id}\r\nContent-Type: text/csv\r\n{extra}\r\n").encode()


def test_chunk_extensions_and_trailers_are_accepted(sb: Sandbox, api: requests.Session) -> None:
    target = rest_query(sb, api, "SELECT Id FROM Opportunity ORDER BY Id LIMIT 1")[0]["Id"]
    job = open_job(sb, api)
    csv_text = f"Id,Name\n{target},Raw chunks\n".encode()
    body = (b"8;name=value\r\n" + csv_text[:8] + b"\r\n"
            + f"{len(csv_text) - 8:X}\r\n".encode() + csv_text[8:] + b"\r\n0\r\nX-Trailer: yes\r\n\r\n")
    answer = _raw(sb, _put_head(sb, job, "Transfer-Encoding: chunked\r\nConnection: close\r\n") + body)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]


@pytest.mark.parametrize("body, status", [
    (b"zz\r\nId\r\n0\r\n\r\n", b"400"),       # a size that is not hex
    (b"3\r\nIdXX\r\n0\r\n\r\n", b"400"),       # a chunk longer than its size line
])
def test_malformed_chunked_bodies_are_400(sb: Sandbox, api: requests.Session, body: bytes,
                                          status: bytes) -> None:
    job = open_job(sb, api)
    answer = _raw(sb, _put_head(sb, job, "Transfer-Encoding: chunked\r\n") + body)
    assert answer.split(b" ")[1] == status, answer[:200]
    assert b"Connection: close" in answer


def test_body_size_cap_applies_to_chunked_and_content_length(
        sb: Sandbox, api: requests.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_server, "MAX_BODY_BYTES", 1000)
    job = open_job(sb, api)
    chunked = api.put(url(sb, f"ingest/{job}/batches"), data=_chunks(b"x" * 5000, 400), timeout=30)
    assert chunked.status_code == 413 and chunked.json()[0]["errorCode"] == "REQUEST_ENTITY_TOO_LARGE"
    sized = api.put(url(sb, f"ingest/{job}/batches"), data=b"x" * 5000, timeout=30)
    assert sized.status_code == 413
    ok = api.put(url(sb, f"ingest/{job}/batches"), data=_chunks(b"Id,Name\n", 3), timeout=30)
    assert ok.status_code == 201  # under the cap: read and taken


def test_read_chunked_unit() -> None:
    stream = io.BytesIO(b"4\r\nWiki\r\n5;ext\r\npedia\r\n0\r\n\r\nNEXT")
    assert _server.read_chunked(stream, 100) == b"Wikipedia"
    assert stream.read() == b"NEXT"  # nothing of the next request is consumed
    with pytest.raises(_server.BodyError) as info:
        _server.read_chunked(io.BytesIO(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"), 8)
    assert info.value.status == 413
    with pytest.raises(_server.BodyError, match="ended early"):  # the client stops inside a chunk
        _server.read_chunked(io.BytesIO(b"40\r\nId,Name\n"), 100)
    with pytest.raises(_server.BodyError) as info:
        _server.read_body({"transfer-encoding": "gzip, chunked"}, io.BytesIO(b""), 100)
    assert info.value.status == 501
    assert _server.read_body({"content-length": "3"}, io.BytesIO(b"abcdef"), 100) == b"abc"
    assert _server.read_body({}, io.BytesIO(b"abc"), 100) == b""


# -- deleted records ---------------------------------------------------------------------------


def _ingest(box: Sandbox, s: requests.Session, operation: str, data: str) -> tuple[dict[str, Any],
                                                                                 list[dict[str, str]]]:
    """Run one ingest job to its end: (final job info, failedResults rows)."""
    job = s.post(url(box, "ingest"), json={"object": "Opportunity", "operation": operation}, timeout=30)
    assert job.status_code == 200, job.text
    job_id = job.json()["id"]
    assert s.put(url(box, f"ingest/{job_id}/batches"), data=data.encode(), timeout=30).status_code == 201
    s.patch(url(box, f"ingest/{job_id}"), json={"state": "UploadComplete"}, timeout=30)
    info = wait_final(box, s, f"ingest/{job_id}")
    return info, csv_rows(s.get(url(box, f"ingest/{job_id}/failedResults"), timeout=30).text)


def test_writes_to_deleted_and_hard_deleted_records_fail_as_salesforce_says(tmp_path: Any) -> None:
    with Sandbox(data_dir=tmp_path, seed=30, org=PLUGIN_ORG) as box:
        s = requests.Session()
        s.trust_env = False
        s.verify = str(box.ca_file)
        s.headers["Authorization"] = f"Bearer {box.session_id}"
        first = rest_query(box, s, "SELECT Id FROM Opportunity ORDER BY Id LIMIT 3")
        soft, hard, alive = [r["Id"] for r in first]
        info, failed = _ingest(box, s, "delete", f"Id\n{soft}\n")
        assert (info["state"], info["numberRecordsProcessed"], failed) == ("JobComplete", 1, [])
        info, failed = _ingest(box, s, "hardDelete", f"Id\n{hard}\n")
        assert (info["state"], info["numberRecordsFailed"]) == ("JobComplete", 0)
        assert rest_query(box, s, f"SELECT Id FROM Opportunity WHERE Id IN ('{soft}', '{hard}')") == []

        info, failed = _ingest(box, s, "update", f"Id,Name\n{soft},x\n{hard},y\n{alive},z\n")
        assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (3, 2)
        assert {r["Id"]: r["sf__Error"] for r in failed} == {
            soft: "ENTITY_IS_DELETED:entity is deleted:--",
            hard: "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--"}

        body = {"allOrNone": False, "records": [{"attributes": {"type": "Opportunity"}, "id": i, "Name": "n"}
                                                for i in (soft, hard)]}
        rest = s.patch(f"{box.url}/services/data/v{V}/composite/sobjects", json=body, timeout=30).json()
        assert [r["errors"][0]["statusCode"] for r in rest] == [
            "ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"]

        _, failed = _ingest(box, s, "delete", f"Id\n{soft}\n")
        assert failed[0]["sf__Error"].startswith("ENTITY_IS_DELETED:")
        wrong, _ = _ingest(box, s, "delete", f"Id,Name\n{alive},z\n")
        assert (wrong["state"], wrong["errorMessage"]) == (
            "Failed", "InvalidBatch : The 'delete' batch must contain only ids")


# -- query jobs without ORDER BY ----------------------------------------------------------------


def _query_job_rows(box: Sandbox, s: requests.Session, soql: str,
                    page: int) -> tuple[list[dict[str, str]], int]:
    job = s.post(url(box, "query"), json={"operation": "query", "query": soql}, timeout=30).json()["id"]
    assert wait_final(box, s, f"query/{job}")["state"] == "JobComplete"
    rows: list[dict[str, str]] = []
    locator, pages = "", 0
    while locator != "null":
        params: dict[str, Any] = {"maxRecords": page, **({"locator": locator} if locator else {})}
        answer = s.get(url(box, f"query/{job}/results"), params=params, timeout=30)
        rows += csv_rows(answer.text)
        locator, pages = answer.headers["Sforce-Locator"], pages + 1
    return rows, pages


def test_query_job_without_order_by_comes_in_pk_chunks_not_by_stamp(
        sb: Sandbox, api: requests.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_bulk, "PK_CHUNK_ROWS", 100)
    rows, pages = _query_job_rows(sb, api, "SELECT Id, SystemModstamp FROM Opportunity", page=120)
    assert pages == 3 and len(rows) == 300
    ids = sorted(r["Id"] for r in rows)
    chunks = [ids[i:i + 100] for i in range(0, 300, 100)]
    assert [r["Id"] for r in rows] == [i for chunk in reversed(chunks) for i in chunk]
    stamps = [r["SystemModstamp"] for r in rows]
    assert stamps != sorted(stamps)  # a client must not take this for stamp order
    ordered, _ = _query_job_rows(sb, api, "SELECT Id, SystemModstamp FROM Opportunity "
                                          "ORDER BY SystemModstamp, Id", page=120)
    assert [r["SystemModstamp"] for r in ordered] == sorted(stamps)  # ORDER BY is still honoured
