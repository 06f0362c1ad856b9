"""Escalation and reminder lists: open tasks that are overdue or due soon, grouped by
engineer and by manager, so a nightly job can mail or post them (`presales status`).

Pure apart from reading the store's rows it is given: the time is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from presales_sync.mappings import ObjectMap, typed
from presales_sync.rules import (
    Engineer,
    ExpressionError,
    Health,
    RulesSettings,
    WeekendCalendar,
    assess,
    priority_of,
)
from presales_sync.rules.policy import CompiledRules
from presales_sync.sync.store import StoredTask

UNASSIGNED = "(unassigned)"
NO_MANAGER = "(no manager)"


def managers_of(engineer_id: str | None, engineers: Mapping[str, Engineer],
                managers: frozenset[str]) -> list[str]:
    """The engineer's own manager if the roster names one, else every roster manager."""
    engineer = engineers.get(engineer_id or "")
    if engineer is not None and engineer.manager_id:
        return [engineer.manager_id]
    return sorted(managers) or [NO_MANAGER]


def escalations(tasks: Mapping[str, StoredTask], opportunities: Mapping[str, Mapping[str, Any]], *,
                objmap: ObjectMap, rules: CompiledRules, settings: RulesSettings,
                calendar: WeekendCalendar, engineers: Mapping[str, Engineer],
                managers: frozenset[str], now: datetime) -> dict[str, Any]:
    """Red (overdue) and yellow (due soon, or stalled) open tasks at `now`."""
    items: list[dict[str, Any]] = []
    for opp_id, st in sorted(tasks.items()):
        if not st.task.is_open:
            continue
        values = typed(objmap, opportunities.get(opp_id, {}))
        try:
            priority = priority_of(rules, values)[0]
        except ExpressionError:  # the sync reported it as RULE_ERROR; judge by the CRM's priority
            priority = settings.priority_or_default(values.get("priority"))
        look = assess(st.task, priority=priority, now=now, settings=settings, calendar=calendar)
        if look.health not in (Health.RED, Health.YELLOW):
            continue
        engineer = engineers.get(st.task.engineer_id or "")
        items.append({
            "opportunity_id": opp_id, "opportunity": values.get("name"),
            "account": values.get("account_name"), "priority": priority,
            "engineer_id": st.task.engineer_id, "engineer": engineer.name if engineer else None,
            "managers": managers_of(st.task.engineer_id, engineers, managers),
            "step": st.task.step.value, "status": st.task.status.value,
            "health": look.health.value if look.health else None, "reason": look.reason,
            "due_date": look.due.isoformat() if look.due else None,
            "response_due": look.response_due.isoformat() if look.response_due else None,
            "estimated": look.estimated,
        })
    by_engineer: dict[str, list[str]] = {}
    by_manager: dict[str, list[str]] = {}
    for item in items:
        by_engineer.setdefault(item["engineer_id"] or UNASSIGNED, []).append(item["opportunity_id"])
        for manager in item["managers"]:
            by_manager.setdefault(manager, []).append(item["opportunity_id"])
    return {
        "as_of": now.isoformat(),
        "overdue": sum(1 for i in items if i["health"] == Health.RED.value),
        "due_soon": sum(1 for i in items if i["health"] == Health.YELLOW.value),
        "items": items,
        "by_engineer": by_engineer,
        "by_manager": by_manager,
    }


__all__ = ["NO_MANAGER", "UNASSIGNED", "escalations", "managers_of"]
