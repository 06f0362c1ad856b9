"""The warning light (红黄绿灯) of a task: red when overdue, yellow when due soon."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from presales_sync.rules.calendar import WorkCalendar


class Health(StrEnum):
    GREEN = "Green"
    YELLOW = "Yellow"
    RED = "Red"


def evaluate_health(
    *,
    due: date | None,
    today: date,
    calendar: WorkCalendar,
    yellow_within_days: int,
) -> tuple[Health, str]:
    """(light, reason) for a step due on `due`, seen on `today`.

    Red once today is past the due date; yellow when the due date is no later than
    `yellow_within_days` working days from today (0: due today, or on the next working day
    when today is not one); green otherwise, and when there is no due date, with reason "".
    """
    if due is None:
        return Health.GREEN, ""
    if today > due:
        return Health.RED, f"overdue since {due.isoformat()}"
    if due <= calendar.add_working_days(today, yellow_within_days):
        return Health.YELLOW, f"due {due.isoformat()}"
    return Health.GREEN, ""


__all__ = ["Health", "evaluate_health"]
