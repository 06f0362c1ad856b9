"""Working days and step due dates.

`WorkCalendar` is the seam: today `WeekendCalendar` knows only Saturdays and Sundays; a
holiday-aware calendar (national holidays and China's make-up working days, 调休) only has
to answer `is_working_day` differently — subclass `WeekendCalendar` and override it, or
implement the protocol from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta, tzinfo
from typing import Protocol, runtime_checkable

from rules.model import Status, Step, Task

# No real calendar has this many non-working days in a row; a longer run means a
# misconfigured calendar, and we would rather fail than loop forever.
_MAX_GAP_DAYS = 62


@runtime_checkable
class WorkCalendar(Protocol):
    def is_working_day(self, d: date) -> bool:
        """Whether people work on this day."""
        ...

    def add_working_days(self, start: date, n: int) -> date:
        """n = 0: `start` if it is a working day, else the next one; n ≥ 1: the n-th working
        day after `start`."""
        ...


class WeekendCalendar:
    """Monday to Friday are working days; `add_working_days` only uses `is_working_day`,
    so a subclass that overrides `is_working_day` gets a matching `add_working_days`."""

    def is_working_day(self, d: date) -> bool:
        return d.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return self._next_working(start)
        # Count working days strictly after `start`: Saturday + 1 is Monday, not Tuesday.
        day = start
        for _ in range(n):
            day = self._next_working(day + timedelta(days=1))
        return day

    def _next_working(self, d: date) -> date:
        for _ in range(_MAX_GAP_DAYS):
            if self.is_working_day(d):
                return d
            d += timedelta(days=1)
        raise ValueError(f"no working day within {_MAX_GAP_DAYS} days of {d}; check the calendar")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def step_due_date(
    task: Task,
    *,
    step_days: Mapping[Step, int],
    calendar: WorkCalendar,
    tz: tzinfo,
) -> date | None:
    """Due date of the task's current step: its start date in `tz` plus the step's working days.

    None when there is nothing to be due: the task is Done or closed, or its step never
    started. A held task keeps its due date (holding does not stop the clock).
    """
    if task.step is Step.DONE or task.status is Status.CLOSED or task.step_started_at is None:
        return None
    started = task.step_started_at
    if started.tzinfo is None or started.utcoffset() is None:
        raise ValueError("task.step_started_at must be timezone-aware")
    if task.step not in step_days:
        raise ValueError(f"no step_days setting for step {task.step}")
    return calendar.add_working_days(started.astimezone(tz).date(), step_days[task.step])


__all__ = ["WeekendCalendar", "WorkCalendar", "step_due_date"]
