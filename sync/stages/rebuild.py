"""Stage 0, rebuild: a store's first run against an org that already has the plugin's state
takes the tasks back from the CRM before it reads a deal, so it writes nothing a run with the
old store would not have written.

Every event of a task is in the CRM: the plugin's own event records and the applied action
records, each with its sequence number and the state after it. A task is their replay
(`rules.replay`) from its creation up to the first gap (events a crashed run had not written
yet are re-derived by the rules, as the lost store would have). The round-robin queue follows
from the plugin's assignments in the order they were made. Actions the CRM shows as taken up
are recorded as such; the pending ones are applied after the deals are read, as on any run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from presales_sync.rules import EventKind, TaskEvent, reconcile_queue, replay
from presales_sync.sync.stages.context import RunContext, log
from presales_sync.sync.stages.evaluate import RR_QUEUE_KEY
from presales_sync.sync.trail import APPLIED, ActionRecord


@dataclass(frozen=True, slots=True)
class Rebuilt:
    tasks: int = 0
    events: int = 0


def is_fresh(ctx: RunContext) -> bool:
    """A store that never synced this profile: no cursor and no task."""
    with ctx.tx() as conn:
        return ctx.store.get_cursor(conn, ctx.profile, ctx.obj) is None and ctx.store.count_tasks(conn) == 0


def histories(actions: Sequence[ActionRecord]) -> dict[str, list[TaskEvent]]:
    """Per deal, its events in order from the CRM's records, up to the first gap."""
    by_seq: dict[str, dict[int, TaskEvent]] = defaultdict(dict)
    for a in actions:
        if a.event is None or a.seq is None or not a.opportunity_id:
            continue
        if a.is_plugin_event or a.outcome == APPLIED:
            by_seq[a.opportunity_id].setdefault(a.seq, a.event)
    out: dict[str, list[TaskEvent]] = {}
    for opp, events in by_seq.items():
        chain: list[TaskEvent] = []
        while len(chain) in events:
            chain.append(events[len(chain)])
        if chain and chain[0].kind is EventKind.CREATED:
            out[opp] = chain
    return out


def rebuild(ctx: RunContext, actions: Sequence[ActionRecord]) -> Rebuilt:
    """Store the tasks the CRM's trail describes (their events already mirrored)."""
    found = histories(actions)
    if not found:
        return Rebuilt()
    assigned: list[tuple[datetime, str]] = []
    with ctx.tx() as conn:
        for opp, events in sorted(found.items()):
            task = replay(opp, events)
            ctx.store.save_task(conn, task, message=None, now=ctx.now, stored=None, mirrored=True)
            assigned += [(e.at, e.engineer_id) for e in events
                         if e.kind is EventKind.ASSIGNED and e.source is None and e.engineer_id
                         and not (e.note or "").startswith("account owner")]
        queue = list(reconcile_queue((), ctx.engineers))
        for _at, eid in sorted(assigned):
            if eid in queue:
                queue.remove(eid)
                queue.append(eid)
        ctx.store.set_state(conn, RR_QUEUE_KEY, queue)
    count = sum(len(e) for e in found.values())
    ctx.report.counts["rebuilt_tasks"] = len(found)
    ctx.report.counts["rebuilt_events"] = count
    log.info("rebuilt %d tasks (%d events) from the CRM's audit trail", len(found), count)
    return Rebuilt(len(found), count)


__all__ = ["Rebuilt", "histories", "is_fresh", "rebuild"]
