"""Bulk API 2.0 in the sandbox: ``update`` / ``delete`` / ``hardDelete`` ingest jobs and ``query``
jobs (SALESFORCE.md 2.7).

Jobs live in memory (a restarted sandbox forgets them, as jobs expire in Salesforce too) and
run in a background thread once they are ready, so a client sees the documented states:
ingest ``Open → UploadComplete → InProgress → JobComplete | Failed | Aborted``, query
``UploadComplete → InProgress → JobComplete | Failed | Aborted``. Ingest rows are checked by
the same validator as sObject Collections and committed in chunks of 10,000 (Salesforce's
internal batch size); results are CSV (``sf__Id``, ``sf__Created`` / ``sf__Error``, then the
uploaded columns). A row-lock fault (``lock_row``) reaches ingest rows too: the plan is asked at
the upload with the CSV's ids, and a locked row fails ``UNABLE_TO_LOCK_ROW`` in
``failedResults``, as Salesforce reports a locked row of a job (SALESFORCE.md 2.7).
Query results are read from one open SQLite cursor per job, page by page
(``maxRecords``, ``Sforce-Locator``, ``Sforce-NumberOfRecords``), so a million-row job never
sits in memory; without ORDER BY they come in PK-chunk order (`pk_chunked`), not by stamp.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import secrets
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from presales_sync.sandbox.salesforce._catalog import ObjectDef
from presales_sync.sandbox.salesforce._query import Compiled, compile_select
from presales_sync.sandbox.salesforce._security import object_access, objects_for
from presales_sync.sandbox.salesforce._soql import parse
from presales_sync.sandbox.salesforce._store import Cursor
from presales_sync.sandbox.salesforce._values import make_id, ms_to_sf, normalize_id, to_json

if TYPE_CHECKING:
    from presales_sync.sandbox.salesforce._api import Api, Reply, Request

NULL = "#N/A"
CHUNK_ROWS = 10_000
#: Salesforce runs triggers and saves a job's rows 200 at a time: one SystemModstamp each.
TRIGGER_ROWS = 200
DEFAULT_MAX_RECORDS = 50_000
#: Records per PK chunk of a query job without ORDER BY (Salesforce: 100,000 to 250,000).
PK_CHUNK_ROWS = 100_000
MAX_UPLOAD_BYTES = 150_000_000
INGEST_OPERATIONS = ("update", "delete", "hardDelete")
#: Ingest operations whose CSV is one column of ids; ``hardDelete`` skips the recycle bin.
DELETE_OPERATIONS = ("delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
_CSV = "text/csv; charset=UTF-8"
_RESULTS = {"successfulresults": "successful", "failedresults": "failed", "unprocessedrecords": "unprocessed"}
ROW_LOCK_ERROR = "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--"


def upload_ids(body: bytes) -> list[str]:
    """The (normalised) record ids of an ingest upload's ``Id`` column, for row-lock faults."""
    try:
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return []
    lower = [c.lower() for c in rows[0]] if rows else []
    if "id" not in lower:
        return []
    col = lower.index("id")
    return [n for n in (normalize_id(r[col]) for r in rows[1:] if len(r) > col) if n]


def family(method: str, rest: list[str]) -> str:
    """The stats family of a ``/jobs/...`` request (``rest`` starts with "jobs")."""
    kind = rest[1] if len(rest) > 1 else ""
    if kind not in ("ingest", "query"):
        return "bulk_other"
    if len(rest) == 2:
        return f"bulk_{kind}_create" if method == "POST" else f"bulk_{kind}_list"
    if len(rest) == 3:
        return {"GET": f"bulk_{kind}_poll", "PATCH": f"bulk_{kind}_state"}.get(method, f"bulk_{kind}_delete")
    if rest[3] == "batches":
        return "bulk_ingest_upload"
    return f"bulk_{kind}_results"


@dataclass
class Job:
    id: str
    kind: str  # "ingest" | "query"
    operation: str
    obj: ObjectDef
    user_id: str
    version: str
    created: int
    state: str
    soql: str = ""
    data: bytes | None = None
    processed: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    error: str | None = None
    started: float = 0.0
    finished: float = 0.0
    cursor: Cursor | None = None
    locators: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    locked: frozenset[str] = frozenset()  # fault injection: rows that fail with a row lock
    abort: threading.Event = field(default_factory=threading.Event)
    #: Set once the job's worker is done (finished, failed or aborted): `BulkService.settle`.
    settled: threading.Event = field(default_factory=threading.Event)

    def info(self) -> dict[str, Any]:
        stamp = ms_to_sf(self.created)
        out: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.obj.name,
            "createdById": self.user_id, "createdDate": stamp, "systemModstamp": stamp,
            "state": self.state, "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(self.version), "lineEnding": "LF", "columnDelimiter": "COMMA",
            "jobType": "V2Ingest" if self.kind == "ingest" else "V2Query",
            "numberRecordsProcessed": self.processed, "retries": 0,
            "totalProcessingTime": int((self.finished - self.started) * 1000) if self.finished else 0,
        }
        if self.kind == "ingest":
            out["contentUrl"] = f"services/data/v{self.version}/jobs/ingest/{self.id}/batches"
            out["numberRecordsFailed"] = len(self.failed)
            out["apiActiveProcessingTime"] = out["totalProcessingTime"]
            out["apexProcessingTime"] = 0
        if self.error:
            out["errorMessage"] = self.error
        return out


def _err(status: int, code: str, message: str) -> Reply:
    from presales_sync.sandbox.core._http import Reply

    return Reply(status, [{"errorCode": code, "message": message}])


def _not_allowed(req: Request, allowed: str) -> Reply:
    return _err(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are {allowed}")


def _locator(position: int) -> str:
    return base64.b64encode(str(position).encode()).decode().rstrip("=")


def pk_chunked(compiled: Compiled) -> Compiled:
    """`compiled` in the order a PK-chunked job returns its rows: split into Id ranges of
    `PK_CHUNK_ROWS` records, Id order within a chunk, the chunks as they finish (here: the
    last first). Without ORDER BY, Salesforce promises no order, and the SystemModstamp order
    a client might expect is what it does not get."""
    sql = (f'SELECT * FROM ({compiled.sql}) AS pk ORDER BY '
           f'(ROW_NUMBER() OVER (ORDER BY pk."Id") - 1) / {int(PK_CHUNK_ROWS)} DESC, pk."Id"')
    return replace(compiled, sql=sql)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class BulkService:
    """The ``/services/data/vXX.X/jobs/...`` resources."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.store = api.store
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def handle(self, req: Request, version: str, user_id: str, rest: list[str]) -> Reply:
        kind = rest[1] if len(rest) > 1 else ""
        if kind not in ("ingest", "query") or len(rest) > 4:
            return _err(404, "NOT_FOUND", "The requested resource does not exist")
        if len(rest) == 2:
            if req.method != "POST":
                return _not_allowed(req, "POST")
            return self._create(req, kind, version, user_id)
        job = self._job(rest[2], kind)
        if job is None:
            return _err(404, "NOT_FOUND", "The requested resource does not exist")
        if len(rest) == 3:
            if req.method == "GET":
                with job.lock:
                    return self._reply(200, job.info())
            if req.method == "PATCH":
                return self._set_state(req, job)
            if req.method == "DELETE":
                return self._delete(job)
            return _not_allowed(req, "GET,PATCH,DELETE")
        sub = rest[3]
        if kind == "ingest" and sub == "batches":
            if req.method != "PUT":
                return _not_allowed(req, "PUT")
            return self._upload(req, job)
        if req.method != "GET":
            return _not_allowed(req, "GET")
        if kind == "ingest" and sub.lower() in _RESULTS:
            return self._ingest_results(job, _RESULTS[sub.lower()])
        if kind == "query" and sub == "results":
            return self._query_results(req, job)
        return _err(404, "NOT_FOUND", "The requested resource does not exist")

    # -- jobs ------------------------------------------------------------------------------

    @staticmethod
    def _reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
        from presales_sync.sandbox.core._http import Reply

        return Reply(status, body, headers or {})

    def _job(self, job_id: str, kind: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.kind == kind else None

    def _create(self, req: Request, kind: str, version: str, user_id: str) -> Reply:
        try:
            body = json.loads(req.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return _err(400, "JSON_PARSER_ERROR", f"Unexpected character: {e}")
        if not isinstance(body, dict):
            return _err(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        for key, allowed in (("contentType", "CSV"), ("columnDelimiter", "COMMA"), ("lineEnding", "LF")):
            if body.get(key, allowed) != allowed:
                return _err(400, "INVALIDJOB", f"InvalidJob : the sandbox supports only {key} {allowed}")
        operation = body.get("operation")
        view = objects_for(self.store, user_id)
        if kind == "ingest":
            if operation not in INGEST_OPERATIONS:
                return _err(400, "INVALIDJOB", f"InvalidJob : the sandbox supports the operations "
                                               f"{', '.join(INGEST_OPERATIONS)}, not {operation!r}")
            obj = view.get(str(body.get("object") or "").lower())
            if obj is None:
                return _err(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object')}")
            if "edit" not in object_access(self.store, user_id, obj.name):  # [inferred] wording
                return _err(400, "INVALIDJOB", f"InvalidJob : entity type cannot be updated: {obj.label}")
            soql, state = "", "Open"
        else:
            if operation not in QUERY_OPERATIONS:
                return _err(400, "INVALIDJOB", f"InvalidJob : invalid operation {operation!r}")
            soql = str(body.get("query") or "")
            if not soql.strip():
                return _err(400, "INVALIDJOB", "InvalidJob : a query is required")
            compiled = compile_select(parse(soql), view)  # SoqlError → 400, as for REST queries
            if compiled.count_only:
                return _err(400, "INVALIDJOB", "InvalidJob : Bulk API 2.0 does not run aggregate queries")
            if compiled.children:  # "not in Bulk API or Bulk 2.0" (issue-14-wire-facts §4)
                return _err(400, "INVALIDJOB", "InvalidJob : Bulk API 2.0 does not run parent-to-child "
                                               "subqueries")
            obj, state = compiled.obj, "UploadComplete"
        job_id = make_id("750", secrets.randbelow(62**9))
        job = Job(job_id, kind, operation, obj, user_id, version, self.store.next_stamp(), state, soql)
        with self._lock:
            self._jobs[job_id] = job
        info = job.info()  # as created: the job may run before the reply is sent
        if kind == "query":
            self._start(job)
        return self._reply(200, info)

    def _set_state(self, req: Request, job: Job) -> Reply:
        try:
            body = json.loads(req.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return _err(400, "JSON_PARSER_ERROR", f"Unexpected character: {e}")
        wanted = body.get("state") if isinstance(body, dict) else None
        start = False
        with job.lock:
            if wanted == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
                job.abort.set()
                job.state, job.finished = "Aborted", self.api.clock.now()
                self._close_cursor(job)
                return self._reply(200, job.info())
            if wanted == "UploadComplete" and job.kind == "ingest" and job.state == "Open":
                job.state = "UploadComplete"
                start = True
            elif wanted in ("Aborted", "UploadComplete"):
                return _err(409, "INVALIDJOBSTATE", f"InvalidJobState : job {job.id} is {job.state}")
            else:
                return _err(400, "INVALIDJOB", f"InvalidJob : cannot set state {wanted!r}")
            info = job.info()
        if start:
            self._start(job)
        return self._reply(200, info)

    def _delete(self, job: Job) -> Reply:
        with job.lock:
            if job.state not in ("JobComplete", "Failed", "Aborted"):
                return _err(409, "INVALIDJOBSTATE", f"InvalidJobState : job {job.id} is {job.state}")
            self._close_cursor(job)
        with self._lock:
            self._jobs.pop(job.id, None)
        return self._reply(204, None)

    def _upload(self, req: Request, job: Job) -> Reply:
        with job.lock:
            if job.state != "Open" or job.data is not None:
                return _err(409, "INVALIDJOBSTATE", f"InvalidJobState : job {job.id} takes no more data")
            if not req.body.strip():
                return _err(400, "INVALIDBATCH", "InvalidBatch : the CSV is empty")
            if len(req.body) > MAX_UPLOAD_BYTES:
                return _err(400, "INVALIDBATCH", "InvalidBatch : the CSV exceeds 150 MB")
            job.data = req.body
            job.locked = req.locked
        return self._reply(201, None)

    def _start(self, job: Job) -> None:
        target = self._run_ingest if job.kind == "ingest" else self._run_query
        threading.Thread(target=self._guarded, args=(job, target), name=f"bulk-{job.id}", daemon=True).start()

    def _guarded(self, job: Job, target: Any) -> None:
        try:
            with job.lock:
                if job.state == "Aborted":
                    return
                job.state, job.started = "InProgress", self.api.clock.now()
            try:
                target(job)
            except Exception as e:  # the job fails, the server goes on
                with job.lock:
                    job.state, job.error = "Failed", f"InternalServerError : {type(e).__name__}"
            with job.lock:
                job.finished = self.api.clock.now()
        finally:
            job.settled.set()

    def settle(self, timeout: float = 60.0) -> bool:
        """Wait until every job handed to a worker is done; False if one still runs after
        `timeout` seconds. A test reads a job's final state after this, instead of polling."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.state in ("UploadComplete", "InProgress")]
        return all(j.settled.wait(timeout) for j in running)

    # -- ingest ----------------------------------------------------------------------------

    def _rows(self, job: Job) -> tuple[list[str], list[list[str]]]:
        text = (job.data or b"").decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        return (rows[0], rows[1:]) if rows else ([], [])

    def _header_error(self, job: Job, header: list[str]) -> str | None:
        """Why the uploaded header fails the whole job, as Salesforce words it (or None)."""
        lower = [c.lower() for c in header]
        if job.operation in DELETE_OPERATIONS and lower != ["id"]:
            return f"InvalidBatch : The '{job.operation}' batch must contain only ids"
        unknown = [c for c in header if c.lower() != "id" and job.obj.field(c) is None]
        if not header or "id" not in lower or unknown:
            return f"InvalidBatch : Field name not found : {unknown[0] if unknown else 'Id'}"
        return None

    def _run_ingest(self, job: Job) -> None:
        header, rows = self._rows(job)
        error = self._header_error(job, header)
        if error is not None:
            with job.lock:
                job.state, job.error = "Failed", error
            return
        id_col = [c.lower() for c in header].index("id")
        for start in range(0, len(rows), CHUNK_ROWS):
            if job.abort.is_set():
                return
            chunk = rows[start:start + CHUNK_ROWS]
            failed: dict[int, str] = {}
            with self.store.transaction() as db:
                stamp = self.store.next_stamp()
                for offset, row in enumerate(chunk):
                    if offset and offset % TRIGGER_ROWS == 0:
                        stamp = self.store.next_stamp()
                    if len(row) != len(header):
                        failed[start + offset] = "INVALID_FIELD:wrong number of columns in this row:--"
                        continue
                    problem = self._ingest_row(db, job, header, row, row[id_col], stamp)
                    if problem is not None:
                        failed[start + offset] = problem
            with job.lock:
                if job.state == "Aborted":
                    return  # committed chunks stay, as in Salesforce
                job.failed.update(failed)
                job.processed = start + len(chunk)
        with job.lock:
            if job.state == "InProgress":
                job.state = "JobComplete"

    def _ingest_row(self, db: Any, job: Job, header: list[str], row: list[str], record_id: str,
                    stamp: int) -> str | None:
        """Apply one row; its ``sf__Error`` (``CODE:message:fields``) when it fails. The record
        checks are those of sObject Collections: a record in the recycle bin is
        ENTITY_IS_DELETED, an id no record has (never existed or hard-deleted)
        INVALID_CROSS_REFERENCE_KEY."""
        api = self.api
        data = {} if job.operation in DELETE_OPERATIONS else {
            c: (None if v == NULL else v) for c, v in zip(header, row, strict=True)
            if v != "" and c.lower() != "id"}
        norm, values, errors = api._validate(db, job.obj, record_id, data)
        if errors:
            e = errors[0]
            return f"{e['statusCode']}:{e['message']}:{','.join(e['fields']) or '--'}"
        assert norm is not None
        if norm in job.locked:
            return ROW_LOCK_ERROR
        if job.operation == "delete":
            self.store.delete_row(db, job.obj.name, norm)  # to the recycle bin
        elif job.operation == "hardDelete":
            # Gone for good, not in the recycle bin: later writes find no record at all.
            db.execute(f'DELETE FROM "{job.obj.name}" WHERE "Id" = ?', (norm,))
        else:
            api._derived(job.obj, values)
            self.store.update_row(db, job.obj, norm, api._stamp(values, job.user_id, stamp))
        return None

    def _ingest_results(self, job: Job, which: str) -> Reply:
        with job.lock:
            state, processed, failed = job.state, job.processed, dict(job.failed)
        if state not in ("JobComplete", "Failed", "Aborted"):
            return _err(409, "INVALIDJOBSTATE", f"InvalidJobState : job {job.id} is {state}")
        header, rows = self._rows(job)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
        id_col = [c.lower() for c in header].index("id") if "id" in [c.lower() for c in header] else None
        if which == "successful":
            writer.writerow(["sf__Id", "sf__Created", *header])
            for i, row in enumerate(rows[:processed]):
                if i not in failed:
                    writer.writerow([row[id_col] if id_col is not None else "", "false", *row])
        elif which == "failed":
            writer.writerow(["sf__Id", "sf__Error", *header])
            for i, row in enumerate(rows[:processed]):
                if i in failed:
                    writer.writerow(["", failed[i], *row])
        else:
            writer.writerow(header)
            for row in rows[processed:]:
                writer.writerow(row)
        return self._reply(200, out.getvalue().encode("utf-8"), {"Content-Type": _CSV})

    # -- query -----------------------------------------------------------------------------

    def _run_query(self, job: Job) -> None:
        sel = parse(job.soql)
        compiled = compile_select(sel, objects_for(self.store, job.user_id))
        if not sel.order and sel.limit is None:
            compiled = pk_chunked(compiled)
        cursor = self.store.open_query(compiled)
        with job.lock:
            if job.state == "Aborted":
                cursor.close()
                return
            job.cursor, job.processed = cursor, cursor.total
            job.locators[""] = 0
            job.state = "JobComplete"

    def _query_results(self, req: Request, job: Job) -> Reply:
        locator = (req.query.get("locator") or [""])[0]
        raw_max = (req.query.get("maxRecords") or [str(DEFAULT_MAX_RECORDS)])[0]
        try:
            max_records = int(raw_max)
        except ValueError:
            max_records = 0
        if max_records < 1:
            return _err(400, "INVALIDJOB", f"InvalidJob : maxRecords must be a positive number: {raw_max}")
        with job.lock:
            if job.state != "JobComplete":
                return _err(412, "JOB_NOT_COMPLETE", f"Job {job.id} is {job.state}: results are not ready")
            position = job.locators.get(locator if locator != "null" else "")
            cur = job.cursor
            if position is None or cur is None:
                return _err(400, "INVALIDLOCATOR", f"InvalidLocator : {locator}")
            if position != cur.delivered:
                if position != cur.last_page_start:
                    return _err(400, "INVALIDLOCATOR", f"InvalidLocator : {locator} was already read")
                rows = cur.last_page  # a retried page
            else:
                rows = cur.rows.fetchmany(max_records)
                cur.last_page_start, cur.last_page = position, rows
                cur.delivered += len(rows)
            end = position + len(rows)
            more = end < cur.total and len(rows) > 0
            next_locator = _locator(end) if more else "null"
            if more:
                job.locators[next_locator] = end
            else:
                cur.close()  # ends the read transaction; the last page stays for a retry
            body = self._csv(cur, rows)
        headers = {"Content-Type": _CSV, "Sforce-Locator": next_locator,
                   "Sforce-NumberOfRecords": str(len(rows))}
        return self._reply(200, body, headers)

    @staticmethod
    def _csv(cur: Cursor, rows: list[tuple[Any, ...]]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        columns = cur.compiled.columns
        writer.writerow([f"{c.relationship}.{c.field.name}" if c.relationship else c.field.name
                         for c in columns])
        for row in rows:
            cells = []
            for i, col in enumerate(columns, start=1):
                value = to_json(col.field, row[i])
                if col.field.type == "datetime" and isinstance(value, str):
                    value = value[:-5] + "Z"
                cells.append(_cell(value))
            writer.writerow(cells)
        return out.getvalue().encode("utf-8")

    @staticmethod
    def _close_cursor(job: Job) -> None:
        if job.cursor is not None:
            job.cursor.close()
            job.cursor = None
