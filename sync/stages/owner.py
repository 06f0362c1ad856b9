"""Which store syncs the org: a marker the plugin owns in the CRM (`mapping.org_marker`).

Two stores on one org undo each other: each takes the other's writes for people's changes and
restores its own. The marker names the store that syncs the org by its address (the profile
and the store's file or URL, hashed), so a lost store re-created at the same address is the
same store and is rebuilt from the CRM, while a store anywhere else is refused (exit 2) until
the admin says `--take-over`. The marker is read when it matters and otherwise costs nothing:
on a store's first run (before anything is read), on `--take-over`, and before a run writes
(an idle run stays at one query per object).
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass

from presales_sync.sync.stages.context import RunContext, log
from presales_sync.sync.store import OrgHasAnotherStore


@dataclass(frozen=True, slots=True)
class Marker:
    """The marker's value: ``<address>;<host>;<since>`` (255 characters at most)."""

    address: str
    host: str
    since: str

    def render(self) -> str:
        return f"{self.address};{self.host[:80]};{self.since}"

    @classmethod
    def parse(cls, value: str) -> Marker:
        address, _, rest = value.partition(";")
        host, _, since = rest.partition(";")
        return cls(address, host or "?", since or "?")


def address(ctx: RunContext) -> str:
    """This store's address as the marker keeps it (no secret: a hash of the profile and the
    store's redacted location)."""
    return hashlib.sha256(f"{ctx.profile}|{ctx.store.where}".encode()).hexdigest()[:24]


def claim(ctx: RunContext, *, take_over: bool) -> None:
    """Check (and on a first run or `take_over`, set) the marker; OrgHasAnotherStore when
    another store syncs the org. A dry run checks and sets nothing."""
    marker = ctx.loaded.mapping.org_marker
    mine = address(ctx)
    ctx.budget.check()
    held = ctx.crm.org_setting(marker.name, container=marker.container)
    if held is not None and Marker.parse(held).address == mine:
        return
    if held is not None and not take_over:
        other = Marker.parse(held)
        raise OrgHasAnotherStore(
            f"this {ctx.loaded.config.crm.kind} org is synced by another store (on host {other.host}, since "
            f"{other.since}), not by {ctx.store.where}: two stores would undo each other's writes. Nothing "
            f"was read or written. Point `store:` at that store, or if it is gone for good, run "
            f"`presales sync --take-over` to make this one the org's store")
    if ctx.dry_run:
        log.info("dry run: the org marker would name this store")
        return
    ctx.budget.check()
    value = Marker(mine, socket.gethostname(), ctx.now.isoformat()).render()
    ctx.crm.set_org_setting(marker.name, value, container=marker.container)
    ctx.report.counts["org_marker_set"] += 1
    log.info("the org's marker now names this store (%s)%s", ctx.store.where,
             " (taken over)" if held is not None else "")


__all__ = ["Marker", "address", "claim"]
