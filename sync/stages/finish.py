"""Stage 6, finish: the run's report as the caller gets it, with the API calls it spent.
(The cursor already moved with each committed page; the run record and the lock are the
caller's, `engine.run_sync`.)"""

from __future__ import annotations

from presales_sync.sync.stages.context import RunContext, SyncReport


def finish(ctx: RunContext) -> SyncReport:
    ctx.report.api_calls = ctx.crm.api_calls()
    return ctx.report


__all__ = ["finish"]
