"""Stage 5, write: the planned changes to the CRM in its own batches, within the API budget;
each acknowledged record updates the ledger and settles its task until its review moment, a
failed one is kept in the failure queue with its error and retried next run, one deleted in
the CRM has its task closed. A run with nothing to write makes no call."""

from __future__ import annotations

from presales_sync.sync import ledger
from presales_sync.sync.stages.apply import close_deleted
from presales_sync.sync.stages.context import (
    BudgetReached,
    RunContext,
    budget_reached,
    calls_left,
    check_budget,
    quarantine,
)
from presales_sync.sync.stages.evaluate import Evaluation
from presales_sync.sync.stages.plan import Plan


def write(ctx: RunContext, plan: Plan, evaluation: Evaluation) -> None:
    changes = list(plan.changes)
    if not changes:
        return
    check_budget(ctx)
    left = calls_left(ctx)
    stop: BudgetReached | None = None
    batch = ctx.crm.write_batch  # the CRM's own: Zoho writes 100 a call, Salesforce 200
    if left is not None and -(-len(changes) // batch) > left:
        changes = changes[: left * batch]  # write what the budget allows, then stop
        stop = budget_reached(ctx)
    results = ctx.crm.write(object_name=ctx.obj, changes=changes) if changes else []
    by_id = {c.id: c for c in changes}
    review = evaluation.review
    with ctx.tx() as conn:
        ok_ids = []
        for res in results:
            if res.ok:
                ledger.acknowledged(ctx.store, conn, ctx.obj, res.id, by_id[res.id].fields, ctx.now)
                ok_ids.append(res.id)
            elif res.gone:
                close_deleted(ctx, conn, res.id)
                quarantine(ctx, conn, res.id, "DELETED",
                           f"deleted in the CRM ({res.error_code}); its task was closed")
            else:
                ctx.store.record_failure(conn, ctx.obj, res.id, res.error_code, res.message, ctx.now)
                ctx.report.failures.append((res.id, res.error_code or "", res.message or ""))
        ctx.store.clear_failures(conn, ctx.obj, ok_ids)
        ctx.store.set_review_at(conn, {review[i][0]: review[i][1] for i in ok_ids if i in review})
    ctx.report.counts["written"] = len(ok_ids)
    ctx.report.counts["write_failed"] = len(results) - len(ok_ids)
    ctx.progress("write", len(results))
    if stop is not None:
        raise stop


__all__ = ["write"]
