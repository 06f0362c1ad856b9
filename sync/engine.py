"""One sync run: the only orchestration with I/O, read as its stages (`sync.stages`).

(on a store's first run: check the org's marker, rebuild the tasks from the CRM's audit
trail) → read changed opportunities and apply them → read new action records and take them
up as task events → evaluate rules for every due open task → plan the diff against the
write-back ledger, and the trail owed to the CRM → check the marker, write the trail, then
the deals' fields → finish the report. A page, its task changes and the cursor move commit
together; the cursor never passes what is committed, so a crash is finished by the next
run. A dry run is one transaction, rolled back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from presales_sync.connector import Connector, RemoteRecord
from presales_sync.sync.config import Loaded
from presales_sync.sync.runs import recorded_run
from presales_sync.sync.stages.actions import action_pages, apply_actions, move_action_cursor, parse_page
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
from presales_sync.sync.stages.mirror import plan_trail, write_trail
from presales_sync.sync.stages.owner import claim
from presales_sync.sync.stages.plan import plan
from presales_sync.sync.stages.read import changed_pages, move_cursor, page_read, queued_pages
from presales_sync.sync.stages.rebuild import is_fresh, rebuild
from presales_sync.sync.stages.write import write
from presales_sync.sync.store import Store
from presales_sync.sync.trail import ActionRecord

log = logging.getLogger("presales.sync")


def _run(loaded: Loaded, store: Store, crm: Connector, *, now: datetime, full: bool, dry_run: bool,
         progress: ProgressFn | None, retry_failed: bool, take_over: bool) -> SyncReport:
    """The stages in order, on the store bound to the config's profile."""
    store = store.for_profile(loaded.config.profile)
    with transactions(store, dry_run=dry_run) as tx:
        ctx = RunContext.of(loaded, store, crm, now=now, full=full, dry_run=dry_run,
                            retry_failed=retry_failed, tx=tx, progress=progress)
        fresh = is_fresh(ctx)
        queue = failure_queue(ctx)
        try:
            if fresh or take_over:
                claim(ctx, take_over=take_over)  # before anything is read
            trail = _rebuild(ctx) if fresh else None
            retried = _retry_failed(ctx, queue) if retry_failed else Applied()
            applied = _read_and_apply(ctx, queue.without(retried.cleared))
            acted = _take_up_actions(ctx, trail)
            applied = Applied.combine((retried, applied, acted))
            evaluation = evaluate(ctx, applied, queue)
            changes = plan(ctx, evaluation, applied)
            owed = plan_trail(ctx)
            if not dry_run and (changes.changes or owed.outcomes or owed.events):
                if not (fresh or take_over):
                    claim(ctx, take_over=False)  # another store may have taken the org over
                write_trail(ctx, owed)
                write(ctx, changes, evaluation)
        except BudgetReached as stop:
            ctx.report.stopped = str(stop)
            log.warning("%s", stop)
    return finish(ctx)


@dataclass(frozen=True, slots=True)
class _Trail:
    """Every action record of the org, as the first run of a store read them."""

    actions: list[ActionRecord]
    raw: list[RemoteRecord]  # for the action cursor


def _rebuild(ctx: RunContext) -> _Trail:
    """A store's first run: every action record of the org, and the tasks they describe."""
    trail = _Trail([], [])
    for page in action_pages(ctx):
        trail.actions.extend(parse_page(ctx, page.records))
        trail.raw.extend(page.records)
        ctx.report.counts["actions_read"] += len(page.records)
        ctx.budget.check()
    rebuild(ctx, trail.actions)
    return trail


def _take_up_actions(ctx: RunContext, trail: _Trail | None) -> Applied:
    """The action records since the cursor (or those the rebuild read), page by page: each
    page's outcomes and the action cursor move commit together."""
    if trail is not None:
        with ctx.tx() as conn:
            done = apply_actions(ctx, conn, trail.actions)
            move_action_cursor(ctx, conn, trail.raw)
        return done
    parts: list[Applied] = []
    for page in action_pages(ctx):
        with ctx.tx() as conn:
            parts.append(apply_actions(ctx, conn, parse_page(ctx, page.records)))
            move_action_cursor(ctx, conn, page.records)
        ctx.report.counts["actions_read"] += len(page.records)
        ctx.budget.check()
    return Applied.combine(parts)


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
             retry_failed: bool = False, take_over: bool = False) -> SyncReport:
    """One sync run under the profile's lock (LockHeld when another run holds it), recorded
    like every job (`sync.runs`). `take_over` makes this store the org's (`stages.owner`)."""
    with recorded_run(store, loaded.config.profile, "sync", now=now, dry_run=dry_run,
                      api_calls=crm.api_calls) as record:
        report = _run(loaded, store, crm, now=now, full=full, dry_run=dry_run,
                      progress=progress, retry_failed=retry_failed, take_over=take_over)
        record.ended(report.exit_code, dict(report.counts))
        return report


__all__ = ["EXIT_CONFIG", "EXIT_CRM", "EXIT_OK", "EXIT_PARTIAL", "BudgetReached", "FieldChange", "ProgressFn",
           "SyncReport", "run_sync"]
