"""Pure planning: the domain values a task should show in the CRM right now.

No I/O: the outlook (deadlines and light, from `rules.assess`) is an argument, so the sync
engine can re-evaluate every open task on each run (a task turns red overnight without any
CRM change)."""

from __future__ import annotations

from typing import Any

from presales_sync.rules import Outlook, Task

# Presales_Message__c is a Text(255).
MESSAGE_LIMIT = 255


def compose_message(rejection: str | None, look: Outlook) -> str | None:
    """What people should read on the opportunity: what the store noted on the task (such
    as its deal being deleted), why the light is not green, and whether the deadline is an
    estimate."""
    parts = [p for p in (rejection, look.warning) if p]
    if look.estimated:
        parts.append("deadline estimated: the official calendar for that year is not published yet")
    text = "; ".join(parts)
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    return text or None


def desired_values(task: Task, message: str | None, look: Outlook) -> dict[str, Any]:
    """Domain values to show in the CRM (people's commands are action records of their own,
    whose outcome is written on them: `sync.trail`)."""
    return {
        "engineer": task.engineer_id,
        "step": task.step.value,
        "status": task.status.value,
        "due_date": look.due,
        "response_due": look.response_due,
        "health": look.health.value if look.health else None,
        "rework_count": task.rework_count,
        "message": compose_message(message, look),
    }


__all__ = ["MESSAGE_LIMIT", "compose_message", "desired_values"]
