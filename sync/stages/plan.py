"""Stage 4, plan: the evaluated tasks' desired values diffed against the write-back ledger
(`sync.writeback.plan_writes`, the same diff `presales score` makes for users). Only changed
fields are sent; a task with nothing to send is settled until its next review moment. The
report lists the field changes (a sample of them on a big first sync)."""

from __future__ import annotations

from dataclasses import dataclass

from presales_sync.connector import RecordChange
from presales_sync.sync import ledger
from presales_sync.sync.stages.apply import Applied
from presales_sync.sync.stages.context import FieldChange, RunContext
from presales_sync.sync.stages.evaluate import Evaluation
from presales_sync.sync.writeback import plan_writes


@dataclass(frozen=True, slots=True)
class Plan:
    """The writes to make, one per record with the fields it changes."""

    changes: tuple[RecordChange, ...]


def plan(ctx: RunContext, evaluation: Evaluation, applied: Applied) -> Plan:
    report = ctx.report
    with ctx.tx() as conn:
        planned = plan_writes(evaluation.desired, ledger.known(ctx.store, conn, ctx.obj, evaluation.desired),
                              applied.names)
        owed = {c.id for c in planned.changes}
        unnamed = ctx.store.opportunity_values(conn, [i for i in owed if i not in applied.names])
        # a task with nothing to send is settled until its next review moment; one with a
        # write to make stays due until the CRM acknowledges it (see write)
        ctx.store.set_review_at(conn, {task_id: until for i, (task_id, until) in evaluation.review.items()
                                       if i not in owed})
    report.changes = [FieldChange(c.record_id, unnamed.get(c.record_id, {}).get("name") or c.name, c.field,
                                  c.old, c.new) for c in planned.shown]
    report.counts["field_changes"] += planned.field_count
    report.counts["records_to_write"] = len(planned.changes)
    return Plan(tuple(planned.changes))


__all__ = ["Plan", "plan"]
