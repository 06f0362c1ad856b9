"""Stage 3, evaluate: the rules over the open tasks that are due (time moves even when the CRM
does not: a task turns yellow, then red, overnight), assignment of the unassigned ones, and
the CRM values each evaluated task should show."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from presales_sync.mappings import outbound, typed
from presales_sync.rules import (
    ExpressionError,
    Health,
    assess,
    assign,
    breach,
    choose,
    priority_of,
    requirement_of,
)
from presales_sync.sync.config import Loaded
from presales_sync.sync.plan import desired_values
from presales_sync.sync.stages.apply import Applied, FailureQueue
from presales_sync.sync.stages.context import RunContext
from presales_sync.sync.store import StoredTask

RR_QUEUE_KEY = "assignment.round_robin.queue"
ACCOUNT_OWNERS_KEY = "assignment.account_owners"
FINGERPRINT_KEY = "evaluate.fingerprint"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What the rules decided for the evaluated tasks."""

    desired: Mapping[str, dict[str, Any]]  # opportunity id → CRM field → value it should show
    review: Mapping[str, tuple[int, datetime | None]]  # opportunity id → (task id, review moment)


def evaluate(ctx: RunContext, applied: Applied, queue: FailureQueue) -> Evaluation:
    """Rules for the tasks that changed in this run and the open tasks whose review moment
    has come (`Outlook.valid_until`, kept as `tasks.review_at`): a quiet run costs what
    is due, not every open task. A changed rules file, roster, mapping or calendar (or
    `--full`) re-evaluates every open task."""
    store, settings, counts = ctx.store, ctx.loaded.rules, ctx.report.counts
    with ctx.tx() as conn:
        fingerprint = _fingerprint(ctx.loaded)
        everything = ctx.full or store.get_state(conn, FINGERPRINT_KEY) != fingerprint
        tasks = store.open_tasks(conn) if everything else store.open_tasks_to_review(conn, ctx.now)
        # changed in this run, or with a write still owed to the CRM
        tasks.update(store.load_tasks(conn, (applied.touched | queue.owed) - set(tasks)))
        opps = {i: typed(ctx.objmap, v) for i, v in store.opportunity_values(conn, tasks).items()}
        tasks = _assign(ctx, conn, tasks, opps, applied.reassigned)
        desired: dict[str, dict[str, Any]] = {}
        review: dict[str, tuple[int, datetime | None]] = {}
        for opp_id, st in tasks.items():
            priority = _priority(ctx, opp_id, opps.get(opp_id, {}))
            look = assess(st.task, priority=priority, now=ctx.now, settings=settings,
                          calendar=ctx.calendar)
            if look.health is Health.RED:  # red is overdue: the first response or the step
                st = _breached(ctx, conn, st, look.reason)
            if look.health is not None:
                counts[f"health_{look.health.value.lower()}"] += 1
            desired[opp_id] = outbound(ctx.objmap, desired_values(st.task, st.message, look))
            review[opp_id] = (st.id, look.valid_until)
        store.set_state(conn, FINGERPRINT_KEY, fingerprint)
        counts["evaluated"] = len(tasks)
        counts["open_tasks"] = store.count_open_tasks(conn)
    return Evaluation(desired, review)


def _breached(ctx: RunContext, conn: Connection, st: StoredTask, reason: str) -> StoredTask:
    """A deadline passed: once per step, an `sla_breached` event (an event record in the CRM)."""
    task = breach(st.task, reason=reason, at=ctx.now, actor=ctx.me)
    if task is st.task:
        return st
    ctx.report.counts["sla_breached"] += 1
    return ctx.store.save_task(conn, task, message=st.message, now=ctx.now, stored=st)


def _fingerprint(loaded: Loaded) -> str:
    """What the outlook of every task depends on besides the task and the time."""
    parts = [loaded.rules.model_dump_json(), loaded.config.calendar.model_dump_json(),
             loaded.config.timezone, loaded.mapping.model_dump_json(),
             repr(sorted(loaded.engineers.items())), repr(sorted(loaded.managers))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _priority(ctx: RunContext, opp_id: str, values: dict[str, Any]) -> str:
    try:
        return priority_of(ctx.rules, values)[0]
    except ExpressionError as err:
        ctx.report.failures.append((opp_id, "RULE_ERROR", f"priority_rules: {err}"))
        return ctx.loaded.rules.priority_or_default(values.get("priority"))


def _assign(ctx: RunContext, conn: Connection, tasks: dict[str, StoredTask],
            opps: dict[str, dict[str, Any]],
            reassigned: Mapping[str, tuple[str | None, str]]) -> dict[str, StoredTask]:
    """Deal unassigned open tasks by the assignment policies (rules.assignment); each
    decision is stored on the task as an `assigned` event with its reason."""
    store, engineers, counts = ctx.store, ctx.engineers, ctx.report.counts
    load: Counter[str] = Counter(store.open_load(conn))
    queue = tuple(store.get_state(conn, RR_QUEUE_KEY, []) or [])
    owners: dict[str, str] = dict(store.get_state(conn, ACCOUNT_OWNERS_KEY, {}) or {})
    for opp_id, (before, after) in reassigned.items():
        account = opps.get(opp_id, {}).get("account_id")
        if account and owners.get(account) in (None, before):
            owners[account] = after  # a manager's choice makes the new engineer the owner
    pending = sorted((st for st in tasks.values() if st.task.is_open and not st.task.engineer_id),
                     key=lambda s: s.id)
    if not any(e.active and load[eid] < e.capacity for eid, e in engineers.items()):
        counts["unassigned"] += len(pending)  # nobody can take work: no dealing
        pending = []
    for st in pending:
        opp_id = st.task.opportunity_id
        values = opps.get(opp_id, {})
        account = values.get("account_id")
        try:
            priority, raised = priority_of(ctx.rules, values)
            owner = owners.get(account) if account else None
            need = requirement_of(ctx.rules, values, account_owner=owner)
        except ExpressionError as err:
            ctx.report.failures.append((opp_id, "RULE_ERROR", f"assignment: {err}"))
            continue
        decision = choose(queue, engineers, load, need)
        queue = decision.queue
        if decision.engineer_id is None:
            counts["unassigned"] += 1
            continue
        reason = decision.reason + (f"; {raised}" if raised else "") + f"; priority {priority}"
        task = assign(st.task, decision.engineer_id, at=ctx.now, actor=ctx.me, reason=reason)
        load[decision.engineer_id] += 1
        if account and account not in owners:
            owners[account] = decision.engineer_id
        tasks[opp_id] = store.save_task(conn, task, message=st.message, now=ctx.now, stored=st)
        counts["assigned"] += 1
        counts[f"assigned_by_{decision.policy.replace(' ', '_')}"] += 1
    store.set_state(conn, RR_QUEUE_KEY, list(queue))
    store.set_state(conn, ACCOUNT_OWNERS_KEY, owners)
    return tasks


__all__ = ["ACCOUNT_OWNERS_KEY", "FINGERPRINT_KEY", "RR_QUEUE_KEY", "Evaluation", "evaluate"]
