"""Pure planning: the domain values a task should show in the CRM right now.

No I/O: the time, calendar and settings are arguments, so the sync engine can re-evaluate
every open task on each run (a task turns red overnight without any CRM change)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rules import (
    Health,
    RulesSettings,
    Status,
    Task,
    WorkCalendar,
    evaluate_health,
    step_due_date,
)


@dataclass(frozen=True, slots=True)
class Outlook:
    due: Any
    health: Health | None
    health_reason: str


def outlook(task: Task, *, now: datetime, settings: RulesSettings, calendar: WorkCalendar,
            tz: ZoneInfo) -> Outlook:
    due = step_due_date(task, step_days=settings.step_days, calendar=calendar, tz=tz)
    if task.status is Status.CLOSED:
        return Outlook(None, None, "")
    if task.status is Status.ON_HOLD:
        return Outlook(due, Health.GREEN, "")
    health, reason = evaluate_health(due=due, today=now.astimezone(tz).date(), calendar=calendar,
                                     yellow_within_days=settings.yellow_within_days)
    return Outlook(due, health, reason)


def desired_values(task: Task, message: str | None, look: Outlook) -> dict[str, Any]:
    """Domain values to show in the CRM. The sign-off command field is always cleared:
    a command is consumed once applied (or refused, with the reason in the message)."""
    return {
        "engineer": task.engineer_id,
        "step": task.step.value,
        "status": task.status.value,
        "due_date": look.due,
        "health": look.health.value if look.health else None,
        "rework_count": task.rework_count,
        "message": message,
        "command": None,
    }


__all__ = ["Outlook", "desired_values", "outlook"]
