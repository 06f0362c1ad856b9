"""Stage 5, write: the planned changes through the one write-back path (`sync.writeback`):
in the CRM's own batches, within the API budget; each acknowledged record updates the ledger
and settles its task until its review moment, a failed one is kept in the failure queue
with its error and retried next run, one deleted in the CRM has its task closed. A run with
nothing to write makes no call."""

from __future__ import annotations

from sqlalchemy import Connection

from presales_sync.sync.stages.apply import close_deleted
from presales_sync.sync.stages.context import RunContext, log
from presales_sync.sync.stages.evaluate import Evaluation
from presales_sync.sync.stages.plan import Plan
from presales_sync.sync.writeback import DELETED, write_back


def write(ctx: RunContext, plan: Plan, evaluation: Evaluation) -> None:
    if not plan.changes:
        return
    review = evaluation.review

    def gone(conn: Connection, opp_id: str, code: str) -> str:
        close_deleted(ctx, conn, opp_id)
        return f"deleted in the CRM ({code}); its task was closed"

    def settled(conn: Connection, written: list[str]) -> None:
        ctx.store.set_review_at(conn, {review[i][0]: review[i][1] for i in written if i in review})

    done = write_back(ctx.crm, ctx.store, ctx.obj, list(plan.changes), now=ctx.now, budget=ctx.budget,
                      on_gone=gone, acknowledged=settled)
    for record_id, why in done.gone:  # quarantined: only --retry-failed takes them up again
        ctx.report.failures.append((record_id, DELETED, why))
        ctx.report.counts["quarantined"] += 1
        log.warning("record %s quarantined: %s %s", record_id, DELETED, why)
    ctx.report.failures.extend(done.failed)
    ctx.report.counts["written"] = len(done.written)
    ctx.report.counts["write_failed"] = done.attempted - len(done.written)
    ctx.progress("write", done.attempted)
    if done.stopped is not None:
        raise done.stopped


__all__ = ["write"]
