"""Stage 2b, actions: the action records people made in the CRM since the action cursor, each
taken up once, in the order they were made, through the workflow rules.

Who and when are the record's own creator and creation time (never the deal's last editor,
never the time of the sync), so several sign-offs between two syncs apply one after the other
at their own times, whoever edited the deal in between. Each action is applied (it becomes a
task event that names it as its source) or refused with a reason that names people; both are
recorded in the store with the page and the cursor move, and the outcome is written on the
record afterwards (`stages.mirror`). Records the sync already took up (a re-read inside the
lookback, the echo of our own outcome write) and the plugin's own event records are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

from sqlalchemy import Connection

from presales_sync.connector import Page, RemoteRecord
from presales_sync.mappings import ValueError_, read_fields
from presales_sync.rules import (
    Command,
    DomainError,
    Task,
    apply_command,
    create_task,
    reassign,
)
from presales_sync.sync import cursor, trail
from presales_sync.sync.stages.apply import Applied
from presales_sync.sync.stages.context import RunContext, log
from presales_sync.sync.store import ActionRow, StoredTask
from presales_sync.sync.trail import ActionRecord


def action_pages(ctx: RunContext) -> Iterator[Page]:
    """The action records changed since the action cursor less the lookback (all of them on
    a store's first run), oldest stamp first."""
    with ctx.tx() as conn:
        at = ctx.store.get_cursor(conn, ctx.profile, ctx.act_obj)
    since = cursor.read_from(at, timedelta(seconds=ctx.loaded.config.sync.lookback_seconds), full=False)
    yield from ctx.crm.read_changed(object_name=ctx.act_obj, fields=read_fields(ctx.actmap), since=since)


def parse_page(ctx: RunContext, records: Sequence[RemoteRecord]) -> list[ActionRecord]:
    """The page's records as actions; a malformed one is reported and skipped (it stays in the
    CRM, unchanged, for a person to fix)."""
    out: list[ActionRecord] = []
    for rec in records:
        try:
            out.append(trail.parse(ctx.actmap, rec))
        except ValueError_ as err:
            ctx.report.failures.append((rec.id, "BAD_VALUE", f"action record: {err}"))
            ctx.report.counts["bad_actions"] += 1
    return out


def apply_actions(ctx: RunContext, conn: Connection, actions: Sequence[ActionRecord]) -> Applied:
    """Take up the pending actions among `actions` in the order they were made (`order`)."""
    store, counts = ctx.store, ctx.report.counts
    known = store.known_actions(conn, [a.id for a in actions])
    fresh: dict[str, ActionRecord] = {}
    for a in actions:
        if a.is_plugin_event or a.id in known or a.id in fresh:
            continue
        if not a.is_pending:  # a record some store took up before this one knew of it
            store.record_action(conn, _taken_elsewhere(a), ctx.now, written=True)
            counts["actions_taken_before"] += 1
            continue
        fresh[a.id] = a
    pending = sorted(fresh.values(), key=lambda a: a.order)
    if not pending:
        return Applied()
    stored = store.load_tasks(conn, {a.opportunity_id for a in pending if a.opportunity_id})
    tasks: dict[str, Task | None] = {o: s.task for o, s in stored.items()}
    reassigned: dict[str, tuple[str | None, str]] = {}
    for a in pending:
        opp = a.opportunity_id or ""
        before = tasks.get(opp)
        try:
            after = _apply(ctx, a, before)
        except DomainError as err:
            store.record_action(conn, _row(a, "refused", reason=err.reason), ctx.now)
            ctx.report.rejected.append((a.id, err.reason))
            counts["commands_rejected"] += 1
            log.info("action %s (%s on %s) refused: %s", a.id, a.command, opp, err.reason)
            continue
        tasks[opp] = after
        if before is not None and after.engineer_id != before.engineer_id and after.engineer_id:
            reassigned[opp] = (before.engineer_id, after.engineer_id)
            counts["reassigned"] += 1
        store.record_action(conn, _row(a, "applied", seq=len(after.events) - 1), ctx.now)
        counts["commands_applied"] += 1
    touched = _save(ctx, conn, stored, tasks)
    return Applied(touched=frozenset(touched), reassigned=reassigned)


def _apply(ctx: RunContext, a: ActionRecord, task: Task | None) -> Task:
    """One action on its deal's task (None: the deal has none yet), or DomainError."""
    names = ctx.names(**({a.created_by: a.created_by_name} if a.created_by and a.created_by_name else {}))
    actor = a.created_by or ""
    try:
        command = Command(a.command or "")
    except ValueError:
        raise DomainError(f"'{a.command or ''}' is not an action; use one of: "
                          + ", ".join(c.value for c in Command) + ".") from None
    if not a.opportunity_id:
        raise DomainError("The action names no deal.")
    if command is Command.REQUEST:
        if task is not None:
            raise DomainError(f"Presales was already requested for this deal; its task is at {task.step} "
                              f"({task.status}).")
        ctx.report.counts["tasks_created"] += 1
        return create_task(a.opportunity_id, at=a.created_at, actor=actor, note=a.note, source=a.id)
    if task is None:
        raise DomainError(f"This deal has no presales task; add a Request action first, then {command}.")
    if command is Command.REASSIGN:
        return reassign(task, a.new_engineer, actor=actor, at=a.created_at, managers=ctx.loaded.managers,
                        engineers=ctx.engineers, names=names, note=a.note, source=a.id)
    return apply_command(task, command, actor=actor, at=a.created_at, reviewers=ctx.reviewers, note=a.note,
                         source=a.id, names=names)


def _save(ctx: RunContext, conn: Connection, stored: dict[str, StoredTask],
          tasks: dict[str, Task | None]) -> set[str]:
    """Store the tasks the actions changed (a new one from a Request, too)."""
    touched: set[str] = set()
    for opp, task in tasks.items():
        before = stored.get(opp)
        if task is None or (before is not None and task is before.task):
            continue
        message = before.message if before else None
        ctx.store.save_task(conn, task, message=message, now=ctx.now, stored=before)
        if before is not None:
            ctx.store.set_review_at(conn, {before.id: None})
        touched.add(opp)
    return touched


def _row(a: ActionRecord, outcome: str, *, seq: int | None = None, reason: str | None = None) -> ActionRow:
    return ActionRow(a.id, a.opportunity_id or "", a.command, a.created_by, a.created_at,
                     "applied" if outcome == "applied" else "refused", reason, seq)


def _taken_elsewhere(a: ActionRecord) -> ActionRow:
    return _row(a, "applied" if a.outcome == trail.APPLIED else "refused", seq=a.seq,
                reason=None if a.outcome == trail.APPLIED else "taken up before this store")


def move_action_cursor(ctx: RunContext, conn: Connection, records: Sequence[RemoteRecord]) -> None:
    """Move the action cursor past a page, in the page's transaction (a dry run leaves it)."""
    if records and not ctx.dry_run:
        ctx.store.set_cursor(conn, ctx.profile, ctx.act_obj,
                             cursor.moved_to((r.stamp for r in records), ctx.now), ctx.now)


__all__ = ["action_pages", "apply_actions", "move_action_cursor", "parse_page"]
