"""Stage 4, plan: the evaluated tasks' desired values diffed against the write-back ledger.
Only changed fields are sent; a task with nothing to send is settled until its next review
moment. The report lists the field changes (a sample of them on a big first sync)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from presales_sync.connector import RecordChange
from presales_sync.sync import ledger
from presales_sync.sync.stages.apply import Applied
from presales_sync.sync.stages.context import FieldChange, RunContext
from presales_sync.sync.stages.evaluate import Evaluation

# Field changes listed in a report (`--dry-run`, `--json`); `counts.field_changes` has them all.
CHANGES_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Plan:
    """The writes to make, one per record with the fields it changes."""

    changes: tuple[RecordChange, ...]


def plan(ctx: RunContext, evaluation: Evaluation, applied: Applied) -> Plan:
    report = ctx.report
    with ctx.tx() as conn:
        known = ledger.known(ctx.store, conn, ctx.obj, evaluation.desired)
        deltas = {i: d for i, want in evaluation.desired.items()
                  if (d := ledger.diff(want, known.get(i, {})))}
        names = ctx.store.opportunity_values(conn, [i for i in deltas if i not in applied.names])
        # a task with nothing to send is settled until its next review moment; one with a
        # write to make stays due until the CRM acknowledges it (see write)
        ctx.store.set_review_at(conn, {task_id: until for i, (task_id, until) in evaluation.review.items()
                                       if i not in deltas})
    changes: list[RecordChange] = []
    for opp_id, delta in deltas.items():
        held = known.get(opp_id, {})
        changes.append(RecordChange(opp_id, delta))
        name = applied.names.get(opp_id) or names.get(opp_id, {}).get("name") or opp_id
        report.counts["field_changes"] += len(delta)
        room = CHANGES_KEPT - len(report.changes)
        if room > 0:  # a first sync of a big org changes millions of fields: keep a sample
            report.changes.extend(itertools.islice(
                (FieldChange(opp_id, name, f, held.get(f), v) for f, v in delta.items()), room))
    report.counts["records_to_write"] = len(changes)
    return Plan(tuple(changes))


__all__ = ["CHANGES_KEPT", "Plan", "plan"]
