"""What every stage of a run is given: the run's immutable inputs (`RunContext`), its report,
its transactions, the API budget and the failure queue's quarantine.

The report is the one thing the stages add to as they go (counts, failures, rejected
commands, field changes); everything else a stage needs comes in as an argument and what it
decides goes out as a small frozen value (`Applied`, `Evaluation`, `Plan`)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from presales_sync.connector import Connector
from presales_sync.mappings import ObjectMap
from presales_sync.rules import CompiledRules, Engineer, WeekendCalendar
from presales_sync.sync.budget import Budget, BudgetReached
from presales_sync.sync.config import Loaded
from presales_sync.sync.runs import EXIT_CONFIG, EXIT_CRM, EXIT_OK, EXIT_PARTIAL
from presales_sync.sync.store import Store
from presales_sync.sync.writeback import FieldChange

log = logging.getLogger("presales.sync")

ProgressFn = Callable[[str, int], None]
Transaction = Callable[[], AbstractContextManager[Connection]]


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


class IntegrationUser:
    """The integration user's CRM id, asked for only when a decision needs it (a quiet run
    then costs a single query call), and once per run."""

    def __init__(self, crm: Connector):
        self._crm = crm
        self._id: str | None = None

    @property
    def id(self) -> str:
        if self._id is None:
            self._id = self._crm.current_user()
        return self._id


@contextmanager
def transactions(store: Store, *, dry_run: bool) -> Iterator[Transaction]:
    """The run's transactions: one per `tx()` normally (a page, the evaluation, ...); in a dry
    run every `tx()` is the one long transaction rolled back at the end."""
    if not dry_run:
        yield store.begin
        return
    conn = store.engine.connect()
    trans = conn.begin()

    @contextmanager
    def same() -> Iterator[Connection]:
        yield conn

    try:
        yield same
    finally:
        trans.rollback()
        conn.close()


@dataclass(frozen=True, slots=True)
class RunContext:
    """The immutable inputs of one run, and where it reports."""

    loaded: Loaded
    store: Store  # bound to the run's profile
    crm: Connector
    now: datetime
    full: bool
    dry_run: bool
    retry_failed: bool
    rules: CompiledRules  # bound to today (in the company's time zone)
    calendar: WeekendCalendar
    reviewers: frozenset[str]  # who may sign a review off: reviewers on the roster and managers
    tx: Transaction
    report: SyncReport
    progress: ProgressFn
    user: IntegrationUser
    budget: Budget

    @classmethod
    def of(cls, loaded: Loaded, store: Store, crm: Connector, *, now: datetime, full: bool,
           dry_run: bool, retry_failed: bool, tx: Transaction,
           progress: ProgressFn | None) -> RunContext:
        engineers = loaded.engineers
        now = now.replace(microsecond=0)  # event times round-trip through the CRM, which keeps seconds
        return cls(loaded=loaded, store=store, crm=crm, now=now, full=full, dry_run=dry_run,
                   retry_failed=retry_failed, rules=loaded.compiled_rules(now.astimezone(loaded.tz).date()),
                   calendar=loaded.calendar(),
                   reviewers=frozenset(e for e, eng in engineers.items() if eng.reviewer) | loaded.managers,
                   tx=tx, report=SyncReport(dry_run=dry_run),
                   progress=progress or (lambda _stage, _n: None), user=IntegrationUser(crm),
                   budget=Budget(crm, loaded.config.sync.api_budget))

    @property
    def objmap(self) -> ObjectMap:
        return self.loaded.mapping.opportunity

    @property
    def obj(self) -> str:
        return self.objmap.object

    @property
    def actmap(self) -> ObjectMap:
        """The action records' map (the audit trail: people's actions, the plugin's events)."""
        return self.loaded.mapping.action

    @property
    def act_obj(self) -> str:
        return self.actmap.object

    def names(self, **more: str) -> dict[str, str]:
        """People's names by CRM user id, for reasons people read: the roster's, and `more`
        (names the CRM gave with the records, such as an action's creator)."""
        return {**{e: eng.name for e, eng in self.engineers.items()}, **more}

    @property
    def profile(self) -> str:
        return self.loaded.config.profile

    @property
    def engineers(self) -> dict[str, Engineer]:
        return self.loaded.engineers

    @property
    def me(self) -> str:
        return self.user.id


# -- the failure queue -------------------------------------------------------------------
def quarantine(ctx: RunContext, conn: Connection, record_id: str, code: str, reason: str) -> None:
    """Park one record with its reason (listed by `presales status`, re-read by
    `presales sync --retry-failed`); the rest of the run goes on."""
    ctx.store.record_failure(conn, ctx.obj, record_id, code, reason, ctx.now)
    ctx.report.failures.append((record_id, code, reason))
    ctx.report.counts["quarantined"] += 1
    log.warning("record %s quarantined: %s %s", record_id, code, reason)


__all__ = ["EXIT_CONFIG", "EXIT_CRM", "EXIT_OK", "EXIT_PARTIAL", "BudgetReached", "FieldChange",
           "IntegrationUser", "ProgressFn", "RunContext", "SyncReport", "Transaction", "quarantine",
           "transactions"]
