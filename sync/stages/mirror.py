"""Stage 5a, mirror: the audit trail into the CRM, before the deals' own fields are written.

Two writes at most, each in the CRM's own batches: the outcome on every action record the run
took up (Applied with the event it became, or Refused with the reason), and an upsert of the
plugin's own event records on their external-id key. What the CRM acknowledges is marked in
the store in the same transaction as the answer; a batch whose answer is lost is sent again
next run and updates what the first send created (never a duplicate). The trail goes first so
a crash between the two leaves the CRM's history ahead of the deal's fields, never behind:
a store rebuilt from it then writes only what the lost one would have written.
"""

from __future__ import annotations

from dataclasses import dataclass

from presales_sync.connector import RecordChange, RecordUpsert, WriteResult
from presales_sync.mappings import outbound
from presales_sync.rules import EventKind, TaskEvent
from presales_sync.sync import trail
from presales_sync.sync.stages.context import RunContext, log
from presales_sync.sync.store import ActionRow


@dataclass(frozen=True, slots=True)
class TrailPlan:
    """The trail writes the run owes the CRM."""

    outcomes: tuple[RecordChange, ...]  # on people's action records, by record id
    events: tuple[RecordUpsert, ...]  # the plugin's own event records, by key
    event_ids: tuple[tuple[str, int], ...]  # (opportunity id, seq) of each of `events`


def plan_trail(ctx: RunContext) -> TrailPlan:
    """Everything not yet in the CRM, from the store (so a crashed run's writes are owed too)."""
    with ctx.tx() as conn:
        actions = ctx.store.unwritten_actions(conn)
        applied = ctx.store.load_tasks(conn, {a.opportunity_id for a in actions if a.seq is not None})
        pending = ctx.store.unmirrored_events(conn)
        # a deal deleted in the CRM took its action records with it: nothing to write there
        gone = {opp for opp, _, e in pending if e.kind is EventKind.CLOSED and e.outcome == "deleted"}
        if gone and not ctx.dry_run:
            ctx.store.mark_mirrored(conn, [(opp, seq) for opp, seq, _ in pending if opp in gone])
        pending = [p for p in pending if p[0] not in gone]
    actmap = ctx.actmap
    outcomes = tuple(RecordChange(a.crm_id, outbound(actmap, trail.outcome(_event(a, applied), a.seq,
                                                                            a.reason)))
                     for a in actions)
    events = tuple(RecordUpsert(trail.event_key(opp, seq), outbound(actmap, trail.plugin_event(opp, seq, e)))
                   for opp, seq, e in pending)
    ctx.report.counts["actions_to_write"] = len(outcomes)
    ctx.report.counts["events_to_write"] = len(events)
    return TrailPlan(outcomes, events, tuple((opp, seq) for opp, seq, _ in pending))


def _event(a: ActionRow, tasks: dict) -> TaskEvent | None:  # type: ignore[type-arg]
    stored = tasks.get(a.opportunity_id)
    if stored is None or a.seq is None or a.seq >= len(stored.task.events):
        return None
    return stored.task.events[a.seq]


def write_trail(ctx: RunContext, plan: TrailPlan) -> None:
    """Send the plan within the API budget; a record-level failure waits for the next run."""
    if plan.outcomes:
        fitted, stop = ctx.budget.fit(list(plan.outcomes))
        results = ctx.crm.write(object_name=ctx.act_obj, changes=fitted)
        done = [c.id for c, r in zip(fitted, results, strict=True) if r.ok or r.gone]
        _failed(ctx, "action", [(c.id, r) for c, r in zip(fitted, results, strict=True)])
        with ctx.tx() as conn:
            ctx.store.mark_actions_written(conn, done)
        ctx.report.counts["actions_written"] = len(done)
        if stop is not None:
            raise stop
    if plan.events:
        fitted_events, stop = ctx.budget.fit(list(plan.events))
        results = ctx.crm.upsert(object_name=ctx.act_obj, key_field=ctx.actmap.outbound["key"].field,
                                 records=fitted_events)
        ids = plan.event_ids[: len(fitted_events)]
        done_events = [i for i, r in zip(ids, results, strict=True) if r.ok]
        _failed(ctx, "event", [(u.key, r) for u, r in zip(fitted_events, results, strict=True)])
        with ctx.tx() as conn:
            ctx.store.mark_mirrored(conn, done_events)
        ctx.report.counts["events_written"] = len(done_events)
        if stop is not None:
            raise stop


def _failed(ctx: RunContext, what: str, results: list[tuple[str, WriteResult]]) -> None:
    for record, r in results:
        if not (r.ok or r.gone):
            ctx.report.counts[f"{what}_write_failed"] += 1
            code = r.error_code or "WRITE_FAILED"
            ctx.report.failures.append((record, code, f"{what} record: {r.message}"))
            log.warning("%s record %s not written: %s %s (retried next run)", what, record, r.error_code,
                        r.message)


__all__ = ["TrailPlan", "plan_trail", "write_trail"]
