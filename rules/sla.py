"""Deadlines and the warning light of one task, seen at a given moment.

Pure: the time, the calendar and the settings are arguments, so the sync re-evaluates every
open task on each run and a task turns red overnight without any CRM change.

- Response deadline: the request time plus the priority's `response_hours` of working time.
  The first response is the assigned engineer's first command (a sign-off or a hold).
- Step deadline: the step's start date plus the priority's `step_days` working days.
- Red: the step or the unanswered first response is overdue. Yellow: the step is due within
  `yellow_within_days` working days, or nothing moved for `stalled_after_days` working days.
- A deadline that falls in a year whose official calendar is not published yet is flagged
  `estimated`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo

from presales_sync.rules.calendar import WeekendCalendar, step_due_date
from presales_sync.rules.health import Health, evaluate_health
from presales_sync.rules.model import EventKind, Status, Task
from presales_sync.rules.settings import RulesSettings

_RESPONSES = (EventKind.SIGNED_OFF, EventKind.HELD)
_PROGRESS = (EventKind.CREATED, EventKind.ASSIGNED, EventKind.SIGNED_OFF, EventKind.REVIEWED,
             EventKind.RESUMED)


@dataclass(frozen=True, slots=True)
class Outlook:
    due: date | None
    response_due: datetime | None
    responded_at: datetime | None
    health: Health | None
    reason: str
    estimated: bool = False
    # Until when this outlook stays true if the task does not change (None: for good).
    valid_until: datetime | None = None

    @property
    def warning(self) -> str | None:
        """The text for people (Presales_Message__c) when the light is not green."""
        if self.health in (Health.YELLOW, Health.RED) and self.reason:
            return f"{self.health}: {self.reason}"
        return None


def requested_at(task: Task) -> datetime | None:
    return task.events[0].at if task.events else None


def first_response_at(task: Task) -> datetime | None:
    """When the engineer first acted on the task: their first sign-off or hold."""
    for event in task.events:
        if event.kind in _RESPONSES:
            return event.at
    return None


def last_progress_at(task: Task) -> datetime | None:
    moments = [e.at for e in task.events if e.kind in _PROGRESS]
    return max(moments) if moments else None


def working_days_between(calendar: WeekendCalendar, start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    return calendar.count_working_days(start + timedelta(days=1), end) if end > start else 0


def response_due(task: Task, *, priority: str | None, settings: RulesSettings,
                 calendar: WeekendCalendar) -> datetime | None:
    start = requested_at(task)
    if start is None:
        return None
    hours = settings.response_hours[settings.priority_or_default(priority)]
    return calendar.add_working_hours(start, hours)


def assess(task: Task, *, priority: str | None, now: datetime, settings: RulesSettings,
           calendar: WeekendCalendar) -> Outlook:
    """Deadlines and light of `task` at `now` (the calendar's tz is the company's zone)."""
    tz = calendar.tz
    if tz is None:
        raise ValueError("assess needs a calendar with a time zone")
    if task.status is Status.CLOSED:
        return Outlook(None, None, first_response_at(task), None, "")
    look = _assess_open(task, priority=priority, now=now, settings=settings, calendar=calendar, tz=tz)
    # Lights and reasons move with the local date, and red comes at the response deadline.
    until = datetime.combine(now.astimezone(tz).date() + timedelta(days=1), time.min, tzinfo=tz)
    if look.response_due is not None and look.responded_at is None and now < look.response_due:
        until = min(until, look.response_due)
    return replace(look, valid_until=until)


def _assess_open(task: Task, *, priority: str | None, now: datetime, settings: RulesSettings,
                 calendar: WeekendCalendar, tz: tzinfo) -> Outlook:
    step_days = {task.step: settings.days_for(task.step, priority)} if task.step in settings.step_days else {}
    due = step_due_date(task, step_days=step_days, calendar=calendar, tz=tz)
    answer_by = response_due(task, priority=priority, settings=settings, calendar=calendar)
    responded = first_response_at(task)
    estimated = bool(
        (due is not None and calendar.is_estimated(due))
        or (answer_by is not None and responded is None and calendar.is_estimated(answer_by.date())))
    if task.status is Status.ON_HOLD:
        return Outlook(due, answer_by, responded, Health.GREEN, "", estimated)
    today = now.astimezone(tz).date()
    if answer_by is not None and responded is None and now > answer_by:
        reason = f"first response overdue since {answer_by.astimezone(tz):%Y-%m-%d %H:%M}"
        return Outlook(due, answer_by, responded, Health.RED, reason, estimated)
    health, reason = evaluate_health(due=due, today=today, calendar=calendar,
                                     yellow_within_days=settings.yellow_within_days)
    if health is not Health.GREEN:
        reason = f"{task.step} {reason}"
    elif settings.stalled_after_days:
        last = last_progress_at(task)
        if last is not None:
            idle = working_days_between(calendar, last.astimezone(tz).date(), today)
            if idle >= settings.stalled_after_days:
                health = Health.YELLOW
                reason = f"no progress for {idle} working days (since {last.astimezone(tz):%Y-%m-%d})"
    return Outlook(due, answer_by, responded, health, reason, estimated)


__all__ = ["Outlook", "assess", "first_response_at", "last_progress_at", "requested_at", "response_due",
           "working_days_between"]
