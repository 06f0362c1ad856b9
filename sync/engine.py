"""One sync run: the only orchestration with I/O, read as its stages (`sync.stages`).

read changed opportunities → apply them and people's commands as task events → evaluate
rules for every due open task → plan the diff against the write-back ledger → batched
writes, ledger updated → finish the report. A page, its task changes and the cursor move
commit together; the cursor never passes what is committed, so a crash is finished by the
next run. A dry run is one transaction, rolled back.
"""

from __future__ import annotations

import logging
from datetime import datetime

from presales_sync.connector import Connector
from presales_sync.sync.config import Loaded
from presales_sync.sync.runs import recorded_run
from presales_sync.sync.stages.apply import Applied, FailureQueue, apply_page, close_deleted, failure_queue
from presales_sync.sync.stages.context import (
    EXIT_CONFIG,
    EXIT_CRM,
    EXIT_OK,
    EXIT_PARTIAL,
    BudgetReached,
    FieldChange,
    ProgressFn,
    RunContext,
    SyncReport,
    transactions,
)
from presales_sync.sync.stages.evaluate import evaluate
from presales_sync.sync.stages.finish import finish
from presales_sync.sync.stages.plan import plan
from presales_sync.sync.stages.read import changed_pages, move_cursor, page_read, queued_pages
from presales_sync.sync.stages.write import write
from presales_sync.sync.store import Store

log = logging.getLogger("presales.sync")


def _run(loaded: Loaded, store: Store, crm: Connector, *, now: datetime, full: bool, dry_run: bool,
         progress: ProgressFn | None, retry_failed: bool) -> SyncReport:
    """The stages in order, on the store bound to the config's profile."""
    store = store.for_profile(loaded.config.profile)
    with transactions(store, dry_run=dry_run) as tx:
        ctx = RunContext.of(loaded, store, crm, now=now, full=full, dry_run=dry_run,
                            retry_failed=retry_failed, tx=tx, progress=progress)
        queue = failure_queue(ctx)
        try:
            retried = _retry_failed(ctx, queue) if retry_failed else Applied()
            applied = _read_and_apply(ctx, queue.without(retried.cleared))
            applied = Applied.combine((retried, applied))
            evaluation = evaluate(ctx, applied, queue)
            changes = plan(ctx, evaluation, applied)
            if not dry_run:
                write(ctx, changes, evaluation)
        except BudgetReached as stop:
            ctx.report.stopped = str(stop)
            log.warning("%s", stop)
    return finish(ctx)


def _read_and_apply(ctx: RunContext, queue: FailureQueue) -> Applied:
    """Read → apply, page by page: each page and the cursor move in one transaction."""
    parts: list[Applied] = []
    for page in changed_pages(ctx):
        with ctx.tx() as conn:
            parts.append(apply_page(ctx, conn, page.records, queue))
            move_cursor(ctx, conn, page.records)
        queue = queue.without(parts[-1].cleared)
        page_read(ctx, page.records)
    return Applied.combine(parts)


def _retry_failed(ctx: RunContext, queue: FailureQueue) -> Applied:
    """`--retry-failed`: read the queued records again by id and apply them whatever their
    stamp; one the CRM no longer has was deleted, so its task is closed and it leaves the queue."""
    if not queue.waiting:
        return Applied()
    parts: list[Applied] = []
    seen: set[str] = set()
    for page in queued_pages(ctx, sorted(queue.waiting)):
        with ctx.tx() as conn:
            parts.append(apply_page(ctx, conn, page.records, queue, force=True))
        queue = queue.without(parts[-1].cleared)
        seen.update(r.id for r in page.records)
        ctx.report.counts["retried"] += len(page.records)
        ctx.budget.check()
    gone = queue.waiting - seen
    with ctx.tx() as conn:
        for opp_id in sorted(gone):
            close_deleted(ctx, conn, opp_id)
        ctx.store.clear_failures(conn, ctx.obj, gone)
    return Applied.combine(parts)


def run_sync(loaded: Loaded, store: Store, crm: Connector, *, now: datetime, full: bool = False,
             dry_run: bool = False, progress: ProgressFn | None = None,
             retry_failed: bool = False) -> SyncReport:
    """One sync run under the profile's lock (LockHeld when another run holds it), recorded
    like every job (`sync.runs`)."""
    with recorded_run(store, loaded.config.profile, "sync", now=now, dry_run=dry_run,
                      api_calls=crm.api_calls) as record:
        report = _run(loaded, store, crm, now=now, full=full, dry_run=dry_run,
                      progress=progress, retry_failed=retry_failed)
        record.ended(report.exit_code, dict(report.counts))
        return report


__all__ = ["EXIT_CONFIG", "EXIT_CRM", "EXIT_OK", "EXIT_PARTIAL", "BudgetReached", "FieldChange", "ProgressFn",
           "SyncReport", "run_sync"]
