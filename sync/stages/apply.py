"""Stage 2, apply: each page of CRM records into the store, in the page's transaction.

A record is stored (its opportunity and what the ledger saw), then what the deal itself says
becomes task events: intake (a new opportunity that needs presales gets a task, at the CRM's
time of the change) and closing with the opportunity. People's commands are action records
of their own (`stages.actions`), never fields of the deal: the deal's last editor is not the
one who signed off. A record that cannot be applied is quarantined and the page goes on."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from presales_sync.connector import RemoteRecord
from presales_sync.mappings import ValueError_, inbound, observed, typed
from presales_sync.rules import (
    ExpressionError,
    close,
    create_task,
    needs_presales,
)
from presales_sync.sync import cursor, ledger
from presales_sync.sync.stages.context import RunContext, quarantine
from presales_sync.sync.store import OpportunityRow, StoredTask, store_fault

log = logging.getLogger("presales.sync")

# Failure-queue codes of records parked by the run itself (not failed writes): only
# `--retry-failed` takes them up again.
QUARANTINE_CODES = frozenset({"BAD_VALUE", "RULE_ERROR", "STORE_ERROR", "DELETED"})


@dataclass(frozen=True, slots=True)
class FailureQueue:
    """The failure queue of this object as the run found it, less what the run cleared."""

    waiting: frozenset[str]  # records in the queue
    owed: frozenset[str]  # … of which a write to the CRM failed (not quarantined reads)

    def without(self, ids: Iterable[str]) -> FailureQueue:
        return FailureQueue(self.waiting - frozenset(ids), self.owed)


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying pages did, for the stages after it."""

    touched: frozenset[str] = frozenset()  # opportunities whose task the pages changed or kept
    names: Mapping[str, str] = field(default_factory=dict)  # … their names, for the diff report
    reassigned: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)  # by a manager
    cleared: frozenset[str] = frozenset()  # records taken out of the failure queue

    @classmethod
    def combine(cls, parts: Iterable[Applied]) -> Applied:
        """The pages' results in order (a later page's name or reassignment wins)."""
        touched: set[str] = set()
        names: dict[str, str] = {}
        reassigned: dict[str, tuple[str | None, str]] = {}
        cleared: set[str] = set()
        for part in parts:
            touched |= part.touched
            names.update(part.names)
            reassigned.update(part.reassigned)
            cleared |= part.cleared
        return cls(frozenset(touched), names, reassigned, frozenset(cleared))


def failure_queue(ctx: RunContext) -> FailureQueue:
    with ctx.tx() as conn:
        queued = [f for f in ctx.store.failures(conn) if f["object"] == ctx.obj]
    return FailureQueue(frozenset(f["record_id"] for f in queued),
                        frozenset(f["record_id"] for f in queued if f["error_code"] not in QUARANTINE_CODES))


@dataclass
class _Page:
    """What one page applies, gathered record by record (private to `apply_page`)."""

    touched: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    reassigned: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    cleared: set[str] = field(default_factory=set)


def apply_page(ctx: RunContext, conn: Connection, records: Sequence[RemoteRecord], queue: FailureQueue,
               *, force: bool = False) -> Applied:
    """Apply one page in its transaction. A record already applied (an older stamp, or the
    same stamp and values: a re-read inside the lookback, our own echo) is skipped unless
    `force` (`--retry-failed`)."""
    records = _dedupe(ctx, records)
    ids = [r.id for r in records]
    store = ctx.store
    stamps = store.stamps(conn, ids)
    tasks = store.load_tasks(conn, ids)
    known = ledger.known(store, conn, ctx.obj, ids)
    tied = ledger.tied_values(store, conn, records, stamps)
    page = _Page()
    for rec in records:
        prev = stamps.get(rec.id)
        seen = cursor.compare(rec.stamp, prev)
        if not force and (seen is cursor.Seen.OLDER or (
                seen is cursor.Seen.TIE and ledger.same_version(ctx.objmap, rec, tied.get(rec.id)))):
            ctx.report.counts["unchanged"] += 1  # re-read inside the lookback window
            continue
        try:
            with conn.begin_nested():  # one bad record rolls back alone
                applied = _apply_record(ctx, conn, page, rec, prev is not None, tasks.get(rec.id),
                                        known.get(rec.id, {}))
        except SQLAlchemyError as err:
            if store_fault(err, store.where) is not None:
                raise  # the store failed, not this record: the page rolls back (Store.begin)
            applied = False
            cause = getattr(err, "orig", None) or err
            quarantine(ctx, conn, rec.id, "STORE_ERROR", f"could not be stored: {type(cause).__name__}")
        if applied and rec.id in queue.waiting and rec.id not in page.cleared:
            store.clear_failures(conn, ctx.obj, [rec.id])
            page.cleared.add(rec.id)
    return Applied(frozenset(page.touched), page.names, page.reassigned, frozenset(page.cleared))


def close_deleted(ctx: RunContext, conn: Connection, opp_id: str) -> None:
    """The CRM no longer has the record: its open task is closed as deleted."""
    stored = ctx.store.load_tasks(conn, [opp_id]).get(opp_id)
    ctx.report.counts["deleted_in_crm"] += 1
    if stored is not None and stored.task.is_open:
        task = close(stored.task, at=ctx.now, outcome="deleted", actor=ctx.me)
        ctx.store.save_task(conn, task, message="deleted in the CRM", now=ctx.now, stored=stored)
        ctx.report.counts["tasks_closed"] += 1


def _dedupe(ctx: RunContext, records: Sequence[RemoteRecord]) -> list[RemoteRecord]:
    """One copy of each record of a page: the newest stamp, the later copy on a tie. A
    CRM's page can repeat a record (offset paging while people edit); two copies would
    both be inserted as new."""
    kept: dict[str, RemoteRecord] = {}
    for rec in records:
        if rec.id not in kept or rec.stamp >= kept[rec.id].stamp:
            kept[rec.id] = rec
    if len(kept) < len(records):
        ctx.report.counts["repeated_in_page"] += len(records) - len(kept)
        log.info("%d records repeated within one page; each applied once", len(records) - len(kept))
    return list(kept.values())


def _apply_record(ctx: RunContext, conn: Connection, page: _Page, rec: RemoteRecord, exists: bool,
                  stored: StoredTask | None, known: dict[str, Any]) -> bool:
    """Apply one CRM record; False when it was quarantined instead."""
    counts = ctx.report.counts
    try:
        values = inbound(ctx.objmap, rec.fields)
        seen = observed(ctx.objmap, rec.fields)
    except ValueError_ as err:
        counts["bad_records"] += 1
        quarantine(ctx, conn, rec.id, "BAD_VALUE", str(err))
        return False
    ctx.store.upsert_opportunity(conn, OpportunityRow(rec.id, rec.stamp, values), exists)
    ledger.observed(ctx.store, conn, ctx.obj, rec.id, seen, ctx.now, known)

    task = stored.task if stored else None
    message = stored.message if stored else None
    if stored is not None:
        # committed with the page: even if this run dies before evaluating, the next one
        # evaluates the task again (its opportunity changed)
        ctx.store.set_review_at(conn, {stored.id: None})
    if task is None:
        try:
            wanted = needs_presales(ctx.rules, typed(ctx.objmap, values))
        except (ExpressionError, ValueError) as err:
            counts["bad_records"] += 1
            quarantine(ctx, conn, rec.id, "RULE_ERROR", f"intake: {err}")
            return False
        if not wanted:
            return True
        actor = values.get("last_modified_by") or values.get("owner_id") or ctx.me
        # the request's time is the CRM's: the record's stamp when it first asks for presales
        task = create_task(rec.id, at=min(rec.stamp, ctx.now).replace(microsecond=0), actor=actor)
        counts["tasks_created"] += 1
    before = task
    if values.get("is_closed") and task.is_open:
        task = close(task, at=min(rec.stamp, ctx.now).replace(microsecond=0),
                     outcome="won" if values.get("is_won") else "lost",
                     actor=values.get("last_modified_by") or ctx.me)
        counts["tasks_closed"] += 1
    if stored is None or task is not before or message != stored.message:
        ctx.store.save_task(conn, task, message=message, now=ctx.now, stored=stored)
    page.touched.add(rec.id)
    page.names[rec.id] = values.get("name") or rec.id  # for the diff report (touched only)
    return True


__all__ = ["QUARANTINE_CODES", "Applied", "FailureQueue", "apply_page", "close_deleted", "failure_queue"]
