"""Stage 1, read: the pages of records the CRM changed since the cursor (less the lookback),
or the queued records by id (`--retry-failed`), streamed lazily one page at a time; and the
cursor move that commits with each page."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

from sqlalchemy import Connection

from presales_sync.connector import Page, RemoteRecord
from presales_sync.mappings import read_fields
from presales_sync.sync import cursor
from presales_sync.sync.stages.context import RunContext


def changed_pages(ctx: RunContext) -> Iterator[Page]:
    """The records changed since the cursor less the lookback (all of them on a full run),
    oldest stamp first. The next page is asked for only when the caller comes back for it,
    after its page is committed and the budget checked (`page_read`)."""
    with ctx.tx() as conn:
        at = None if ctx.full else ctx.store.get_cursor(conn, ctx.profile, ctx.obj)
    since = cursor.read_from(at, timedelta(seconds=ctx.loaded.config.sync.lookback_seconds),
                             full=ctx.full)
    yield from ctx.crm.read_changed(object_name=ctx.obj, fields=read_fields(ctx.objmap), since=since)


def queued_pages(ctx: RunContext, ids: Sequence[str]) -> Iterator[Page]:
    """The records of the failure queue, read again by id."""
    yield from ctx.crm.read_ids(object_name=ctx.obj, fields=read_fields(ctx.objmap), ids=ids)


def move_cursor(ctx: RunContext, conn: Connection, records: Sequence[RemoteRecord]) -> None:
    """Move the cursor past a page, in the page's transaction (a dry run leaves it)."""
    if records and not ctx.dry_run:
        ctx.store.set_cursor(conn, ctx.profile, ctx.obj,
                             cursor.moved_to((r.stamp for r in records), ctx.now), ctx.now)


def page_read(ctx: RunContext, records: Sequence[RemoteRecord]) -> None:
    """A page is committed: count it, and stop before the next page if the budget is spent."""
    ctx.report.counts["read"] += len(records)
    ctx.progress("read", len(records))
    ctx.budget.check()  # before the next page is asked for


__all__ = ["changed_pages", "move_cursor", "page_read", "queued_pages"]
