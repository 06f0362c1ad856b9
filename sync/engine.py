"""One sync run: the only orchestration with I/O.

read changed opportunities → map inbound → apply people's commands as task events →
evaluate rules for every open task → diff against the write-back ledger → batched writes →
ledger and cursor updated. A page, its task changes and the cursor move commit together;
the cursor never passes what is committed, so a crash is finished by the next run.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from presales_sync.connector import ConfigError, Connector, RecordChange, RemoteRecord
from presales_sync.mappings import ObjectMap, ValueError_, inbound, observed, outbound, read_fields, typed
from presales_sync.rules import (
    Command,
    DomainError,
    Engineer,
    ExpressionError,
    Task,
    apply_command,
    assess,
    assign,
    choose,
    close,
    create_task,
    needs_presales,
    priority_of,
    requirement_of,
)
from presales_sync.sync.config import Loaded
from presales_sync.sync.ledger import changed_by_crm, diff
from presales_sync.sync.plan import desired_values
from presales_sync.sync.store import (
    OpportunityRow,
    Store,
    StoredTask,
    StoreError,
    StoreUnavailable,
    store_fault,
)

log = logging.getLogger("presales.sync")

RR_QUEUE_KEY = "assignment.round_robin.queue"
ACCOUNT_OWNERS_KEY = "assignment.account_owners"
FINGERPRINT_KEY = "evaluate.fingerprint"
# Failure-queue codes of records parked by this engine (not failed writes): only
# `--retry-failed` takes them up again.
# Field changes listed in a report (`--dry-run`, `--json`); `counts.field_changes` has them all.
CHANGES_KEPT = 10_000
QUARANTINE_CODES = frozenset({"BAD_VALUE", "RULE_ERROR", "STORE_ERROR", "DELETED"})

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_CRM = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class FieldChange:
    record_id: str
    name: str
    field: str
    old: Any
    new: Any


@dataclass
class SyncReport:
    counts: Counter[str] = field(default_factory=Counter)
    changes: list[FieldChange] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    stopped: str | None = None  # why the run stopped early (API budget); the next run resumes

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failures or self.stopped else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "counts": dict(self.counts),
            "api_calls": self.api_calls,
            "changes": [asdict(c) for c in self.changes],
            "failures": [{"record_id": r, "error_code": c, "message": m}
                         for r, c, m in self.failures],
            "rejected_commands": [{"record_id": r, "reason": m} for r, m in self.rejected],
            "stopped": self.stopped,
        }


class BudgetReached(Exception):
    """The run would spend more of the daily API allowance than the config allows."""


ProgressFn = Callable[[str, int], None]


class _Run:
    """State of one run; methods are the steps of the data flow in ARCHITECTURE.md."""

    def __init__(self, loaded: Loaded, store: Store, crm: Connector, *, now: datetime,
                 full: bool, dry_run: bool, progress: ProgressFn | None, retry_failed: bool = False):
        self.loaded, self.store, self.crm = loaded, store, crm
        self.now, self.full, self.dry_run, self.retry_failed = now, full, dry_run, retry_failed
        self.progress = progress or (lambda _stage, _n: None)
        self.objmap: ObjectMap = loaded.mapping.opportunity
        self.obj = self.objmap.object
        self.profile = loaded.config.profile
        self.tz = loaded.tz
        self.calendar = loaded.calendar()
        self.rules = loaded.compiled_rules(now.astimezone(self.tz).date())
        self.engineers: dict[str, Engineer] = loaded.engineers
        self.reviewers = frozenset(e for e, eng in self.engineers.items() if eng.reviewer) | loaded.managers
        self.report = SyncReport(dry_run=dry_run)
        self.touched: set[str] = set()
        self.names: dict[str, str] = {}
        self._dry_conn: Connection | None = None
        self._me: str | None = None
        self.reassigned: dict[str, tuple[str | None, str]] = {}
        self.review: dict[str, tuple[int, datetime | None]] = {}  # opp id → (task id, review moment)
        self.waiting: set[str] = set()  # records in the failure queue when the run started
        self.owed: set[str] = set()  # … of which a write to the CRM failed (not quarantined reads)

    # transactions: one per page normally; in a dry run one long transaction rolled back
    @contextmanager
    def tx(self) -> Iterator[Connection]:
        if self._dry_conn is not None:
            yield self._dry_conn
        else:
            with self.store.begin() as conn:
                yield conn

    def execute(self) -> SyncReport:
        if self.dry_run:
            conn = self.store.engine.connect()
            trans = conn.begin()
            self._dry_conn = conn
            try:
                self._steps()
            finally:
                trans.rollback()
                conn.close()
                self._dry_conn = None
        else:
            self._steps()
        self.report.api_calls = self.crm.api_calls()
        return self.report

    @property
    def me(self) -> str:
        """The integration user's CRM id, asked for only when a decision needs it (a quiet
        run then costs a single query call)."""
        if self._me is None:
            self._me = self.crm.current_user()
        return self._me

    def _steps(self) -> None:
        with self.tx() as conn:
            queued = [f for f in self.store.failures(conn) if f["object"] == self.obj]
        self.waiting = {f["record_id"] for f in queued}
        self.owed = {f["record_id"] for f in queued if f["error_code"] not in QUARANTINE_CODES}
        try:
            if self.retry_failed:
                self.reread_failed()
            self.read_changes()
            desired = self.evaluate()
            changes = self.plan(desired)
            if not self.dry_run:
                self.write(changes)
        except BudgetReached as stop:
            self.report.stopped = str(stop)
            log.warning("%s", stop)

    # -- API budget ------------------------------------------------------------------
    def calls_left(self) -> int | None:
        """API calls this run may still make (None when the CRM does not report its allowance)."""
        usage = self.crm.api_usage
        if usage is None or usage.total <= 0:
            return None
        budget = self.loaded.config.sync.api_budget
        spent = sum(self.crm.api_calls().values())
        return min(int(budget.max_share_total * usage.total) - usage.used,
                   int(budget.max_share_per_run * usage.total) - spent)

    def budget_reached(self) -> BudgetReached:
        usage = self.crm.api_usage
        budget = self.loaded.config.sync.api_budget
        used, total = usage if usage is not None else (0, 0)
        return BudgetReached(
            f"API budget reached: the org has used {used} of its {total} daily calls and this run "
            f"{sum(self.crm.api_calls().values())} (limits: {budget.max_share_total:.0%} of the allowance "
            f"in all, {budget.max_share_per_run:.0%} per run); stopped here, the next run resumes")

    def check_budget(self) -> None:
        """Raise BudgetReached unless one more API call stays within the budget."""
        left = self.calls_left()
        if left is not None and left < 1:
            raise self.budget_reached()

    # -- 2/3: read and apply ------------------------------------------------------------
    def read_changes(self) -> None:
        with self.tx() as conn:
            cursor = None if self.full else self.store.get_cursor(conn, self.profile, self.obj)
        lookback = timedelta(seconds=self.loaded.config.sync.lookback_seconds)
        since = cursor - lookback if cursor is not None else None
        for page in self.crm.read_changed(object_name=self.obj, fields=read_fields(self.objmap),
                                          since=since):
            with self.tx() as conn:
                self._apply_page(conn, page.records)
                if page.records and not self.dry_run:
                    top = min(max(r.stamp for r in page.records), self.now)
                    self.store.set_cursor(conn, self.profile, self.obj, top, self.now)
            self.report.counts["read"] += len(page.records)
            self.progress("read", len(page.records))
            self.check_budget()  # before the next page is asked for

    def reread_failed(self) -> None:
        """`--retry-failed`: read the queued records again by id; one the CRM no longer has
        was deleted, so its task is closed and it leaves the queue."""
        if not self.waiting:
            return
        seen: set[str] = set()
        for page in self.crm.read_ids(object_name=self.obj, fields=read_fields(self.objmap),
                                      ids=sorted(self.waiting)):
            with self.tx() as conn:
                self._apply_page(conn, page.records, force=True)
            seen.update(r.id for r in page.records)
            self.report.counts["retried"] += len(page.records)
            self.check_budget()
        gone = self.waiting - seen
        with self.tx() as conn:
            for opp_id in sorted(gone):
                self._close_deleted(conn, opp_id)
            self.store.clear_failures(conn, self.obj, gone)

    def _close_deleted(self, conn: Connection, opp_id: str) -> None:
        stored = self.store.load_tasks(conn, [opp_id]).get(opp_id)
        self.report.counts["deleted_in_crm"] += 1
        if stored is not None and stored.task.is_open:
            task = close(stored.task, at=self.now, outcome="deleted", actor=self.me)
            self.store.save_task(conn, task, message="deleted in the CRM", now=self.now, stored=stored)
            self.report.counts["tasks_closed"] += 1

    def _apply_page(self, conn: Connection, records: Any, *, force: bool = False) -> None:
        records = self._dedupe(records)
        ids = [r.id for r in records]
        stamps = self.store.stamps(conn, ids)
        tasks = self.store.load_tasks(conn, ids)
        ledger = self.store.ledger(conn, self.obj, ids)
        # A CRM stamping whole seconds (Zoho) gives a person's edit right after our write the
        # same stamp: an equal stamp is the same version only if the values are the same.
        same_stamp = self.store.opportunity_values(
            conn, [r.id for r in records if stamps.get(r.id) == r.stamp])
        for rec in records:
            prev = stamps.get(rec.id)
            if prev is not None and not force and (rec.stamp < prev or (
                    rec.stamp == prev and self._same_version(rec, same_stamp.get(rec.id)))):
                self.report.counts["unchanged"] += 1  # re-read inside the lookback window
                continue
            try:
                with conn.begin_nested():  # one bad record rolls back alone
                    applied = self._apply_record(conn, rec, prev is not None, tasks.get(rec.id),
                                                 ledger.get(rec.id, {}))
            except SQLAlchemyError as err:
                if store_fault(err, self.store.where) is not None:
                    raise  # the store failed, not this record: the page rolls back (Store.begin)
                applied = False
                cause = getattr(err, "orig", None) or err
                self.quarantine(conn, rec.id, "STORE_ERROR", f"could not be stored: {type(cause).__name__}")
            if applied and rec.id in self.waiting:
                self.store.clear_failures(conn, self.obj, [rec.id])
                self.waiting.discard(rec.id)

    def _dedupe(self, records: Any) -> list[RemoteRecord]:
        """One copy of each record of a page: the newest stamp, the later copy on a tie. A
        CRM's page can repeat a record (offset paging while people edit); two copies would
        both be inserted as new."""
        kept: dict[str, RemoteRecord] = {}
        for rec in records:
            if rec.id not in kept or rec.stamp >= kept[rec.id].stamp:
                kept[rec.id] = rec
        if len(kept) < len(records):
            self.report.counts["repeated_in_page"] += len(records) - len(kept)
            log.info("%d records repeated within one page; each applied once", len(records) - len(kept))
        return list(kept.values())

    def _same_version(self, rec: RemoteRecord, stored: dict[str, Any] | None) -> bool:
        try:
            return stored is not None and inbound(self.objmap, rec.fields) == stored
        except ValueError_:
            return False

    def quarantine(self, conn: Connection, record_id: str, code: str, reason: str) -> None:
        """Park one record with its reason (listed by `presales status`, re-read by
        `presales sync --retry-failed`); the rest of the run goes on."""
        self.store.record_failure(conn, self.obj, record_id, code, reason, self.now)
        self.report.failures.append((record_id, code, reason))
        self.report.counts["quarantined"] += 1
        log.warning("record %s quarantined: %s %s", record_id, code, reason)

    def _apply_record(self, conn: Connection, rec: RemoteRecord, exists: bool,
                      stored: StoredTask | None, known: dict[str, Any]) -> bool:
        """Apply one CRM record; False when it was quarantined instead."""
        try:
            values = inbound(self.objmap, rec.fields)
            seen = observed(self.objmap, rec.fields)
        except ValueError_ as err:
            self.report.counts["bad_records"] += 1
            self.quarantine(conn, rec.id, "BAD_VALUE", str(err))
            return False
        self.store.upsert_opportunity(conn, OpportunityRow(rec.id, rec.stamp, values), exists)
        self.store.set_ledger(conn, self.obj, rec.id, seen, self.now, known)

        task = stored.task if stored else None
        message = stored.message if stored else None
        if stored is not None:
            # committed with the page: even if this run dies before evaluating, the next one
            # evaluates the task again (its opportunity changed)
            self.store.set_review_at(conn, {stored.id: None})
        if task is None:
            try:
                wanted = needs_presales(self.rules, typed(self.objmap, values))
            except (ExpressionError, ValueError) as err:
                self.report.counts["bad_records"] += 1
                self.quarantine(conn, rec.id, "RULE_ERROR", f"intake: {err}")
                return False
            if not wanted:
                return True
            actor = values.get("last_modified_by") or values.get("owner_id") or self.me
            task = create_task(rec.id, at=self.now, actor=actor)
            self.report.counts["tasks_created"] += 1
        before = task
        actor = values.get("last_modified_by") or ""
        task, message = self._reassignment(task, message, values, seen, known, actor)
        task, message = self._command(rec.id, task, message, values.get("command"), actor)
        if values.get("is_closed") and task.is_open:
            task = close(task, at=self.now, outcome="won" if values.get("is_won") else "lost",
                         actor=actor or self.me)
            self.report.counts["tasks_closed"] += 1
        if stored is None or task is not before or message != stored.message:
            self.store.save_task(conn, task, message=message, now=self.now, stored=stored)
        self.touched.add(rec.id)
        self.names[rec.id] = values.get("name") or rec.id  # for the diff report (touched only)
        return True

    def _reassignment(self, task: Task, message: str | None, values: dict[str, Any],
                      seen: dict[str, Any], known: dict[str, Any],
                      actor: str) -> tuple[Task, str | None]:
        """A presales manager who sets the engineer field in the CRM reassigns the task
        (validated against the roster, audited as an event); anyone else's change is undone."""
        field_name = self.objmap.outbound["engineer"].field
        wanted = values.get("engineer")
        if not (wanted and wanted != task.engineer_id and changed_by_crm(field_name, seen, known)
                and actor != self.me):
            return task, message
        if not task.is_open:
            return task, message
        kept = f"the assignment to {task.engineer_id or 'nobody yet'} was kept."
        if actor not in self.loaded.managers:
            self.report.counts["reassignments_refused"] += 1
            return task, f"only a presales manager can change the engineer; {kept}"
        engineer = self.engineers.get(wanted)
        if engineer is None or not engineer.active:
            self.report.counts["reassignments_refused"] += 1
            return task, f"{wanted} is not an active presales engineer in the roster; {kept}"
        self.report.counts["reassigned"] += 1
        self.reassigned[task.opportunity_id] = (task.engineer_id, wanted)
        return assign(task, wanted, at=self.now, actor=actor,
                      reason=f"reassigned in the CRM by manager {actor} from "
                             f"{task.engineer_id or 'nobody'} to {wanted}"), None

    def _command(self, record_id: str, task: Task, message: str | None, raw: str | None,
                 actor: str) -> tuple[Task, str | None]:
        if not raw or actor == self.me:
            return task, message
        try:
            command = Command(raw)
        except ValueError:
            reason = (f"'{raw}' is not a sign-off command; use one of: "
                      + ", ".join(c.value for c in Command) + ".")
            self.report.rejected.append((record_id, reason))
            self.report.counts["commands_rejected"] += 1
            return task, reason
        try:
            task = apply_command(task, command, actor=actor, at=self.now, reviewers=self.reviewers)
        except DomainError as err:
            self.report.rejected.append((record_id, err.reason))
            self.report.counts["commands_rejected"] += 1
            return task, err.reason
        self.report.counts["commands_applied"] += 1
        return task, None

    # -- 4: rules over every open task ----------------------------------------------------
    def evaluate(self) -> dict[str, dict[str, Any]]:
        """Rules for the tasks that changed in this run and the open tasks whose review moment
        has come (`Outlook.valid_until`, kept as `tasks.review_at`): a quiet run costs what
        is due, not every open task. A changed rules file, roster, mapping or calendar (or
        `--full`) re-evaluates every open task."""
        settings = self.loaded.rules
        with self.tx() as conn:
            fingerprint = self._fingerprint()
            everything = self.full or self.store.get_state(conn, FINGERPRINT_KEY) != fingerprint
            tasks = (self.store.open_tasks(conn) if everything
                     else self.store.open_tasks_to_review(conn, self.now))
            # changed in this run, or with a write still owed to the CRM
            tasks.update(self.store.load_tasks(conn, (self.touched | self.owed) - set(tasks)))
            opps = {i: typed(self.objmap, v) for i, v in self.store.opportunity_values(conn, tasks).items()}
            tasks = self._assign(conn, tasks, opps)
            desired: dict[str, dict[str, Any]] = {}
            for opp_id, st in tasks.items():
                priority = self._priority(opp_id, opps.get(opp_id, {}))
                look = assess(st.task, priority=priority, now=self.now, settings=settings,
                              calendar=self.calendar)
                if look.health is not None:
                    self.report.counts[f"health_{look.health.value.lower()}"] += 1
                desired[opp_id] = outbound(self.objmap, desired_values(st.task, st.message, look))
                self.review[opp_id] = (st.id, look.valid_until)
            self.store.set_state(conn, FINGERPRINT_KEY, fingerprint)
            self.report.counts["evaluated"] = len(tasks)
            self.report.counts["open_tasks"] = self.store.count_open_tasks(conn)
        return desired

    def _fingerprint(self) -> str:
        """What the outlook of every task depends on besides the task and the time."""
        loaded = self.loaded
        parts = [loaded.rules.model_dump_json(), loaded.config.calendar.model_dump_json(),
                 loaded.config.timezone, loaded.mapping.model_dump_json(),
                 repr(sorted(loaded.engineers.items())), repr(sorted(loaded.managers))]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _priority(self, opp_id: str, values: dict[str, Any]) -> str:
        try:
            return priority_of(self.rules, values)[0]
        except ExpressionError as err:
            self.report.failures.append((opp_id, "RULE_ERROR", f"priority_rules: {err}"))
            return self.loaded.rules.priority_or_default(values.get("priority"))

    def _assign(self, conn: Connection, tasks: dict[str, StoredTask],
                opps: dict[str, dict[str, Any]]) -> dict[str, StoredTask]:
        """Deal unassigned open tasks by the assignment policies (rules.assignment); each
        decision is stored on the task as an `assigned` event with its reason."""
        load: Counter[str] = Counter(self.store.open_load(conn))
        queue = tuple(self.store.get_state(conn, RR_QUEUE_KEY, []) or [])
        owners: dict[str, str] = dict(self.store.get_state(conn, ACCOUNT_OWNERS_KEY, {}) or {})
        for opp_id, (before, after) in self.reassigned.items():
            account = opps.get(opp_id, {}).get("account_id")
            if account and owners.get(account) in (None, before):
                owners[account] = after  # a manager's choice makes the new engineer the owner
        pending = sorted((st for st in tasks.values() if st.task.is_open and not st.task.engineer_id),
                         key=lambda s: s.id)
        if not any(e.active and load[eid] < e.capacity for eid, e in self.engineers.items()):
            self.report.counts["unassigned"] += len(pending)  # nobody can take work: no dealing
            pending = []
        for st in pending:
            opp_id = st.task.opportunity_id
            values = opps.get(opp_id, {})
            account = values.get("account_id")
            try:
                priority, raised = priority_of(self.rules, values)
                owner = owners.get(account) if account else None
                need = requirement_of(self.rules, values, account_owner=owner)
            except ExpressionError as err:
                self.report.failures.append((opp_id, "RULE_ERROR", f"assignment: {err}"))
                continue
            decision = choose(queue, self.engineers, load, need)
            queue = decision.queue
            if decision.engineer_id is None:
                self.report.counts["unassigned"] += 1
                continue
            reason = decision.reason + (f"; {raised}" if raised else "") + f"; priority {priority}"
            task = assign(st.task, decision.engineer_id, at=self.now, actor=self.me, reason=reason)
            load[decision.engineer_id] += 1
            if account and account not in owners:
                owners[account] = decision.engineer_id
            tasks[opp_id] = self.store.save_task(conn, task, message=st.message, now=self.now, stored=st)
            self.report.counts["assigned"] += 1
            self.report.counts[f"assigned_by_{decision.policy.replace(' ', '_')}"] += 1
        self.store.set_state(conn, RR_QUEUE_KEY, list(queue))
        self.store.set_state(conn, ACCOUNT_OWNERS_KEY, owners)
        return tasks

    # -- 5: diff against the ledger ---------------------------------------------------
    def plan(self, desired: dict[str, dict[str, Any]]) -> list[RecordChange]:
        changes: list[RecordChange] = []
        with self.tx() as conn:
            ledger = self.store.ledger(conn, self.obj, desired)
            deltas = {i: d for i, want in desired.items() if (d := diff(want, ledger.get(i, {})))}
            names = self.store.opportunity_values(conn, [i for i in deltas if i not in self.names])
            # a task with nothing to send is settled until its next review moment; one with a
            # write to make stays due until the CRM acknowledges it (see write)
            self.store.set_review_at(conn, {task_id: until for i, (task_id, until) in self.review.items()
                                            if i not in deltas})
        for opp_id, delta in deltas.items():
            known = ledger.get(opp_id, {})
            changes.append(RecordChange(opp_id, delta))
            name = self.names.get(opp_id) or names.get(opp_id, {}).get("name") or opp_id
            self.report.counts["field_changes"] += len(delta)
            room = CHANGES_KEPT - len(self.report.changes)
            if room > 0:  # a first sync of a big org changes millions of fields: keep a sample
                self.report.changes.extend(itertools.islice(
                    (FieldChange(opp_id, name, f, known.get(f), v) for f, v in delta.items()), room))
        self.report.counts["records_to_write"] = len(changes)
        return changes

    # -- 5/6: write and acknowledge ----------------------------------------------------
    def write(self, changes: list[RecordChange]) -> None:
        if not changes:
            return
        self.check_budget()
        left = self.calls_left()
        stop: BudgetReached | None = None
        batch = self.crm.write_batch  # the CRM's own: Zoho writes 100 a call, Salesforce 200
        if left is not None and -(-len(changes) // batch) > left:
            changes = changes[: left * batch]  # write what the budget allows, then stop
            stop = self.budget_reached()
        results = self.crm.write(object_name=self.obj, changes=changes) if changes else []
        by_id = {c.id: c for c in changes}
        with self.tx() as conn:
            ok_ids = []
            for res in results:
                if res.ok:
                    self.store.set_ledger(conn, self.obj, res.id, by_id[res.id].fields, self.now)
                    ok_ids.append(res.id)
                elif res.gone:
                    self._close_deleted(conn, res.id)
                    self.quarantine(conn, res.id, "DELETED",
                                    f"deleted in the CRM ({res.error_code}); its task was closed")
                else:
                    self.store.record_failure(conn, self.obj, res.id, res.error_code, res.message,
                                              self.now)
                    self.report.failures.append((res.id, res.error_code or "", res.message or ""))
            self.store.clear_failures(conn, self.obj, ok_ids)
            self.store.set_review_at(conn, {self.review[i][0]: self.review[i][1]
                                            for i in ok_ids if i in self.review})
        self.report.counts["written"] = len(ok_ids)
        self.report.counts["write_failed"] = len(results) - len(ok_ids)
        self.progress("write", len(results))
        if stop is not None:
            raise stop


def run_sync(loaded: Loaded, store: Store, crm: Connector, *, now: datetime, full: bool = False,
             dry_run: bool = False, progress: ProgressFn | None = None,
             retry_failed: bool = False) -> SyncReport:
    """One sync run under the profile's lock (LockHeld when another run holds it)."""
    profile = loaded.config.profile
    store.acquire_lock(profile, now)
    store.abandon_unfinished_runs(profile, now)
    run_id = store.start_run(profile, "sync", now, dry_run)
    report: SyncReport | None = None
    error: str | None = None
    failure: Exception | None = None
    try:
        report = _Run(loaded, store, crm, now=now, full=full, dry_run=dry_run,
                      progress=progress, retry_failed=retry_failed).execute()
        return report
    except SQLAlchemyError as err:  # outside Store.begin (the dry run's transaction)
        fault = store_fault(err, store.where) or StoreUnavailable(f"store {store.where} failed: {err}")
        error, failure = f"{type(fault).__name__}: {fault}", fault
        raise fault from err
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
        failure = err
        raise
    finally:
        counts = dict(report.counts) if report else {}
        _record_end(store, profile, run_id, failure, now=datetime.now(now.tzinfo),
                    exit_code=report.exit_code if report else _exit_code(failure),
                    counts=counts, api_calls=crm.api_calls(), error=error)


def _exit_code(failure: Exception | None) -> int:
    """The exit code a failed run is recorded with (the CLI's for the same error)."""
    admin = isinstance(failure, ConfigError | StoreError) and not isinstance(failure, StoreUnavailable)
    return EXIT_CONFIG if admin else EXIT_CRM


def _record_end(store: Store, profile: str, run_id: int, failure: Exception | None,
                **end: Any) -> None:
    """Record the run's end and release the lock. After a failure (a full disk) the store may
    refuse these writes too: that is logged, not raised over the first error; the next run
    takes the dead process's lock over and closes its record as abandoned."""
    try:
        store.finish_run(run_id, **end)
    except StoreError as err:
        if failure is None:
            raise
        log.warning("could not record the end of run %s: %s", run_id, err)
    finally:
        try:
            store.release_lock(profile)
        except StoreError as err:
            if failure is None:
                raise
            log.warning("could not release the run lock of %s (the next run takes it over): %s",
                        profile, err)


__all__ = ["FieldChange", "SyncReport", "run_sync"]
