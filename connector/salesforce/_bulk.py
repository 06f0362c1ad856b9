"""Bulk API 2.0 for large writes (ingest ``update`` jobs) and large first reads (query jobs).

Query jobs are sent without ORDER BY (it turns PK chunking off, and a large job may then
time out); `stamp_ordered` puts the records back in (SystemModstamp, Id) order locally.

Every HTTP exchange is one `Transport.call` through simple-salesforce's per-request Bulk 2.0
client (``sf.bulk2.<Object>._client``: create_job, upload_job_data, close_job, get_job,
get_ingest_results, get_query_results, abort_job), so each request gets our session (TLS,
timeout), retries, error classification, re-login and call counting. The library's
high-level helpers (``sf.bulk2.Opportunity.update`` / ``.query``) are not used: they build
the CSV header from a ``set`` (column order changes between processes), send None as an
empty cell (which Bulk 2.0 reads as "leave unchanged", not "clear"), poll and sleep inside
one uncounted, unretried loop, and return counts instead of per-record results.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from presales_sync.connector.base import FieldInfo, RecordChange, RemoteRecord, WriteResult
from presales_sync.connector.errors import ConnectorError, FatalError
from presales_sync.connector.salesforce._transport import Transport, record_result

#: Bulk 2.0 sets a field to null only for this cell value; an empty cell leaves it as is.
NULL = "#N/A"
#: Salesforce accepts up to 150 MB of CSV per job (base64 overhead included); stay below.
MAX_UPLOAD_BYTES = 100_000_000
#: Rows per results page of a query job (the service may return fewer): 40 pages for a
#: million records, and a page's CSV (~10 MB, held three times by requests and the library's
#: NUL filter while it is parsed) stays a small part of the run's memory.
QUERY_PAGE_RECORDS = 25_000
POLL_FIRST, POLL_MAX = 0.25, 5.0
#: Give up waiting on a job after this much polling (seconds slept).
JOB_TIMEOUT = 3600.0
FINAL_STATES = ("JobComplete", "Failed", "Aborted")
_STATUS_CODE = re.compile(r"^[A-Z_]+$")
_NUMBER_TYPES = {"double", "currency", "percent"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def csv_cell(value: Any) -> str:
    """One value as a Bulk 2.0 CSV cell: None and "" clear the field (``#N/A``)."""
    if value is None or value == "":
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise FatalError(f"cannot write a {type(value).__name__} value through Bulk API 2.0")


def ingest_columns(changes: Sequence[RecordChange]) -> list[str]:
    """Id, then every written field in order of first appearance (case-insensitive)."""
    columns, seen = ["Id"], {"id"}
    for change in changes:
        for name in change.fields:
            if name.lower() not in seen and name.lower() != "attributes":
                seen.add(name.lower())
                columns.append(name)
    return columns


def ingest_chunks(
    changes: Sequence[RecordChange], max_bytes: int = MAX_UPLOAD_BYTES
) -> Iterator[tuple[list[RecordChange], str]]:
    """(changes, CSV text) per job: one fixed header; a field a change does not set is an
    empty cell (left unchanged); each CSV stays under `max_bytes` (UTF-8)."""
    columns = ingest_columns(changes)
    header = _csv_line(columns)
    chunk: list[RecordChange] = []
    lines: list[str] = []
    size = len(header.encode("utf-8"))
    for change in changes:
        lower = {k.lower(): v for k, v in change.fields.items()}
        line = _csv_line([change.id] + [csv_cell(lower[c.lower()]) if c.lower() in lower else ""
                                        for c in columns[1:]])
        line_size = len(line.encode("utf-8"))
        if chunk and size + line_size > max_bytes:
            yield chunk, header + "".join(lines)
            chunk, lines, size = [], [], len(header.encode("utf-8"))
        chunk.append(change)
        lines.append(line)
        size += line_size
    if chunk:
        yield chunk, header + "".join(lines)


def _csv_line(cells: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def parse_error(text: str) -> tuple[str, str, tuple[str, ...]]:
    """``sf__Error`` (``CODE:message:fields``, fields ``--`` when none) → (code, message,
    fields)."""
    code, _, rest = text.partition(":")
    if not _STATUS_CODE.match(code):
        return "UNKNOWN", text, ()
    message, _, fields = rest.rpartition(":") if ":" in rest else (rest, "", "")
    names = tuple(f.strip() for f in fields.split(",") if f.strip() and f.strip() != "--")
    return code, message.strip(), names


def _lines(text: str) -> Iterator[str]:
    """`text` line by line (ends kept), without the copy `io.StringIO` makes: a 50,000-row
    page parsed through StringIO peaked at 3x the page's size, this way at 1.25x."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _rows(text: str) -> Iterator[dict[str, str]]:
    return iter(csv.DictReader(_lines(text)))


class BulkClient:
    """Bulk 2.0 jobs for one connector. `sleep` comes from the transport (tests never wait)."""

    def __init__(self, transport: Transport, *, max_bytes: int = MAX_UPLOAD_BYTES,
                 page_records: int = QUERY_PAGE_RECORDS, job_timeout: float = JOB_TIMEOUT) -> None:
        self._transport = transport
        self._max_bytes = max_bytes
        self._page_records = page_records
        self._job_timeout = job_timeout

    def _call(self, family: str, object_name: str, op: Callable[[Any], Any]) -> Any:
        return self._transport.call(family, lambda sf: op(getattr(sf.bulk2, object_name)._client))

    # -- ingest ----------------------------------------------------------------------------

    def update(self, object_name: str, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """Update `changes` through ingest jobs; one result per change, in order."""
        results: list[WriteResult] = []
        for chunk, data in ingest_chunks(changes, self._max_bytes):
            results.extend(self._ingest(object_name, chunk, data))
        return results

    def _ingest(self, object_name: str, chunk: list[RecordChange], data: str) -> list[WriteResult]:
        job = self._call("bulk_ingest_create", object_name, lambda c: c.create_job("update"))
        job_id = _job_id(job)
        try:
            self._call("bulk_ingest_upload", object_name, lambda c: c.upload_job_data(job_id, data))
            self._call("bulk_ingest_state", object_name, lambda c: c.close_job(job_id))
            info = self._wait(object_name, job_id, is_query=False)
        except ConnectorError:
            self._abort(object_name, job_id, is_query=False)
            raise
        return self._ingest_results(object_name, job_id, info, chunk)

    def _ingest_results(self, object_name: str, job_id: str, info: Mapping[str, Any],
                        chunk: list[RecordChange]) -> list[WriteResult]:
        state = info.get("state")
        failed = int(info.get("numberRecordsFailed") or 0)
        processed = int(info.get("numberRecordsProcessed") or 0)
        outcome: dict[str, WriteResult] = {}
        if failed:
            text = self._call("bulk_ingest_results", object_name,
                              lambda c: c.get_ingest_results(job_id, "failedResults"))
            for row in _rows(text):
                record_id = row.get("Id") or row.get("sf__Id") or ""
                code, message, fields = parse_error(row.get("sf__Error") or "")
                outcome[record_id] = record_result(record_id, ok=False, code=code, message=message,
                                                   fields=fields)
            if len(outcome) != failed:
                raise FatalError(f"Bulk job {job_id}: failedResults has {len(outcome)} rows, "
                                 f"the job reports {failed}")
        complete = state == "JobComplete" and processed >= len(chunk)
        if not complete:
            text = self._call("bulk_ingest_results", object_name,
                              lambda c: c.get_ingest_results(job_id, "successfulResults"))
            for row in _rows(text):
                record_id = row.get("Id") or row.get("sf__Id") or ""
                outcome[record_id] = record_result(record_id, ok=True)
        reason = str(info.get("errorMessage") or f"Bulk job {job_id} ended {state}")
        results = []
        for change in chunk:
            result = outcome.get(change.id)
            if result is None:
                result = (WriteResult(id=change.id, ok=True) if complete else
                          WriteResult(id=change.id, ok=False, error_code="NOT_PROCESSED",
                                      message=reason, retryable=True))
            results.append(result if result.id == change.id else replace(result, id=change.id))
        return results

    # -- query -----------------------------------------------------------------------------

    def query(self, object_name: str, soql: str, selected: Sequence[str],
              types: Mapping[str, FieldInfo | None], page_size: int) -> Iterator[list[RemoteRecord]]:
        """Run `soql` as a query job; records come in lists of at most `page_size`, parsed
        from each results page as it arrives (one page of CSV in memory at a time), in the
        order the job gives them (none without ORDER BY: see `stamp_ordered`)."""
        job = self._call("bulk_query_create", object_name, lambda c: c.create_job("query", query=soql))
        job_id = _job_id(job)
        try:
            info = self._wait(object_name, job_id, is_query=True)
        except ConnectorError:
            self._abort(object_name, job_id, is_query=True)
            raise
        if info.get("state") != "JobComplete":
            raise FatalError(f"Bulk query job {job_id} ended {info.get('state')}: {info.get('errorMessage')}")
        locator = ""
        seen: set[str] = set()
        while True:
            page = self._results_page(object_name, job_id, locator)
            batch: list[RemoteRecord] = []
            for row in _rows(page["records"]):
                batch.append(record_from_csv(row, selected, types))
                if len(batch) >= page_size:
                    yield batch
                    batch = []
            if batch:
                yield batch
            locator = page.get("locator") or ""
            if not locator:
                return
            if locator in seen:
                raise FatalError(f"Bulk query job {job_id}: locator {locator} repeated")
            seen.add(locator)

    def _results_page(self, object_name: str, job_id: str, locator: str) -> Any:
        return self._call("bulk_query_results", object_name,
                          lambda c: c.get_query_results(job_id, locator, self._page_records))

    # -- shared ----------------------------------------------------------------------------

    def _wait(self, object_name: str, job_id: str, *, is_query: bool) -> Mapping[str, Any]:
        family = "bulk_query_poll" if is_query else "bulk_ingest_poll"
        delay, slept = POLL_FIRST, 0.0
        while True:
            self._transport.sleep(delay)
            slept += delay
            info = self._call(family, object_name, lambda c: c.get_job(job_id, is_query))
            state = info.get("state") if isinstance(info, Mapping) else None
            if state in FINAL_STATES:
                return info
            if slept >= self._job_timeout:
                raise FatalError(f"Bulk job {job_id} still {state} after {slept:.0f} s")
            delay = min(delay * 2, POLL_MAX)

    def _abort(self, object_name: str, job_id: str, *, is_query: bool) -> None:
        # The original error matters more; a job left open expires by itself.
        with contextlib.suppress(ConnectorError):
            self._call("bulk_abort", object_name, lambda c: c.abort_job(job_id, is_query))


def stamp_ordered(batches: Iterable[list[RemoteRecord]], page_size: int) -> Iterator[list[RemoteRecord]]:
    """`batches` (a query job's records, in whatever order its PK chunks came back) as lists
    of at most `page_size` in (stamp, Id) order, one copy per Id (the newest stamp).

    Nothing is yielded before the last batch is read: only then is the smallest stamp still
    to come known, and the sync moves its cursor to each page's largest stamp. The records
    wait in a private temporary SQLite file (deleted when closed), not in memory."""
    db = sqlite3.connect("", isolation_level=None)  # "": an on-disk temporary database
    try:
        db.execute("CREATE TABLE r (id TEXT PRIMARY KEY, us INTEGER NOT NULL, stamp TEXT NOT NULL, "
                   "fields TEXT NOT NULL)")
        db.execute("BEGIN")
        for batch in batches:
            db.executemany(
                "INSERT INTO r VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET us = excluded.us, "
                "stamp = excluded.stamp, fields = excluded.fields WHERE excluded.us > r.us",
                [(rec.id, _micros(rec.stamp), rec.stamp.isoformat(), json.dumps(dict(rec.fields)))
                 for rec in batch])
        db.execute("COMMIT")
        rows = db.execute("SELECT id, stamp, fields FROM r ORDER BY us, id")
        while chunk := rows.fetchmany(page_size):
            yield [RemoteRecord(id=i, stamp=datetime.fromisoformat(stamp), fields=json.loads(fields))
                   for i, stamp, fields in chunk]
    finally:
        db.close()


def _micros(stamp: datetime) -> int:
    """An aware stamp as microseconds since the epoch: an exact, sortable key."""
    delta = stamp - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _job_id(job: Any) -> str:
    if not isinstance(job, Mapping) or not isinstance(job.get("id"), str) or not job["id"]:
        raise FatalError(f"unexpected Bulk job answer {job!r}"[:300])
    return str(job["id"])


def _typed(info: FieldInfo | None, text: str) -> Any:
    """A CSV cell as the REST API's JSON value of that field type (empty → None)."""
    if text == "":
        return None
    kind = info.type if info is not None else "string"
    try:
        if kind == "boolean":
            return text.lower() == "true"
        if kind == "int":
            return int(float(text))
        if kind in _NUMBER_TYPES:
            return float(text)
    except ValueError:
        raise FatalError(f"Bulk query: {text!r} is not a {kind} value") from None
    if kind == "datetime" and text.endswith("Z"):
        return text[:-1] + "+0000"
    return text


def record_from_csv(row: Mapping[str, str], selected: Sequence[str],
                    types: Mapping[str, FieldInfo | None]) -> RemoteRecord:
    """One query-job CSV row as the record the REST path would have produced."""
    from presales_sync.connector.salesforce._adapter import parse_stamp

    lower = {k.lower(): v for k, v in row.items()}
    flat: dict[str, Any] = {}
    for name in selected:
        if name.lower() in lower:
            flat[name] = _typed(types.get(name), lower[name.lower()] or "")
    if not flat.get("Id") or flat.get("SystemModstamp") is None:
        raise FatalError("Bulk query row without Id or SystemModstamp")
    return RemoteRecord(id=str(flat["Id"]), stamp=parse_stamp(flat["SystemModstamp"]), fields=flat)
