"""Working days and step due dates.

`WorkCalendar` is the seam: today `WeekendCalendar` knows only Saturdays and Sundays; a
holiday-aware calendar (national holidays and China's make-up working days, 调休) only has
to answer `is_working_day` differently — subclass `WeekendCalendar` and override it, or
implement the protocol from scratch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol, runtime_checkable

import holidays
from holidays import HolidayBase

from presales_sync.rules.model import Status, Step, Task

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


# `time(9, 0)` would read like a clock call to the purity check; these are constants.
_DEFAULT_WORK_START = time.fromisoformat("09:00")
_DEFAULT_WORK_END = time.fromisoformat("18:00")


class WeekendCalendar:
    """Monday to Friday are working days; `add_working_days` and `add_working_hours` only use
    `is_working_day`, so a subclass that overrides it gets matching deadlines.

    `work_start`/`work_end` are the working hours in `tz` (needed only by `add_working_hours`).
    """

    def __init__(self, *, extra_holidays: frozenset[date] = frozenset(),
                 extra_working_days: frozenset[date] = frozenset(),
                 work_start: time = _DEFAULT_WORK_START, work_end: time = _DEFAULT_WORK_END,
                 tz: tzinfo | None = None) -> None:
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_working_days = frozenset(extra_working_days)
        both = self.extra_holidays & self.extra_working_days
        if both:
            days = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"days listed both as extra holidays and extra working days: {days}")
        if work_start.tzinfo is not None or work_end.tzinfo is not None:
            raise ValueError("work_start and work_end must be naive times (the zone is `tz`)")
        if not work_start < work_end:
            raise ValueError(f"work_start ({work_start}) must be before work_end ({work_end})")
        self.work_start = work_start
        self.work_end = work_end
        self.tz = tz
        # A calendar never changes once built: answers are memoised (a run asks about the same
        # few hundred days for every open task).
        self._working: dict[date, bool] = {}
        self._added: dict[tuple[date, int], date] = {}
        self._counted: dict[tuple[date, date], int] = {}

    def is_estimated(self, d: date) -> bool:
        """Whether `d`'s working days are a guess (never, for a fixed weekly pattern)."""
        return False

    def is_working_day(self, d: date) -> bool:
        known = self._working.get(d)
        if known is None:
            if d in self.extra_working_days:
                known = True
            elif d in self.extra_holidays:
                known = False
            else:
                known = self._officially_working(d)
            self._working[d] = known
        return known

    def _officially_working(self, d: date) -> bool:
        return d.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        key = (start, n)
        found = self._added.get(key)
        if found is not None:
            return found
        if n == 0:
            day = self._next_working(start)
        else:
            # Count working days strictly after `start`: Saturday + 1 is Monday, not Tuesday.
            day = start
            for _ in range(n):
                day = self._next_working(day + timedelta(days=1))
        self._added[key] = day
        return day

    def count_working_days(self, start: date, end: date) -> int:
        """Working days from `start` to `end`, both included (0 when end < start); memoised,
        since rules ask it for the same few close dates over and over."""
        key = (start, end)
        count = self._counted.get(key)
        if count is None:
            count = sum(self.is_working_day(start + timedelta(days=i)) for i in range((end - start).days + 1))
            self._counted[key] = count
        return count

    def _next_working(self, d: date) -> date:
        for _ in range(_MAX_GAP_DAYS):
            if self.is_working_day(d):
                return d
            d += timedelta(days=1)
        raise ValueError(f"no working day within {_MAX_GAP_DAYS} days of {d}; check the calendar")

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """`start` plus `hours` of working time: only time inside [work_start, work_end) on
        working days in `tz` counts. A start outside working time begins at the next working
        moment. A deadline ending exactly at work_end stays at work_end of that day. The
        result is aware, in `tz`."""
        if self.tz is None:
            raise ValueError("add_working_hours needs the calendar's tz")
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(f"hours must be a finite number >= 0, got {hours}")
        tz = self.tz
        remaining = timedelta(hours=hours)
        cur = start.astimezone(UTC)  # elapsed-time arithmetic in UTC (DST-safe)
        day = start.astimezone(tz).date()
        gap = 0
        while True:
            if self.is_working_day(day):
                gap = 0
                opens = datetime.combine(day, self.work_start, tzinfo=tz).astimezone(UTC)
                closes = datetime.combine(day, self.work_end, tzinfo=tz).astimezone(UTC)
                begin = max(cur, opens)
                if begin < closes:
                    available = closes - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(tz)
                    remaining -= available
            else:
                gap += 1
                if gap > _MAX_GAP_DAYS:
                    raise ValueError(
                        f"no working day within {_MAX_GAP_DAYS} days of {day}; check the calendar"
                    )
            day += timedelta(days=1)
            cur = datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)  # later days from midnight

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"



# Countries whose working calendar for a year is only known once the government publishes it.
# China: the State Council notice (usually in November) lists the make-up working days (调休);
# before it is out, `holidays` has the statutory days but no make-up days for that year.
_PUBLISHED_SCHEDULE_COUNTRIES = frozenset({"CN"})


class BusinessCalendar(WeekendCalendar):
    """Working days of a country (optionally a subdivision) per the `holidays` library, plus
    company overrides, and working hours in a time zone.

    * A day is a working day when it is in `extra_working_days`; else not when it is in
      `extra_holidays`; else per the official calendar: not a weekend day and not a public
      holiday, except that China's official make-up working days on weekends
      (`weekend_workdays`, 调休) are working days.
    * The official calendar is loaded lazily, one `holidays` object per year, and cached.
    * Unknown country or subdivision → ValueError.
    * `tz` is only needed by `add_working_hours`.
    """

    def __init__(
        self,
        country: str,
        subdivision: str | None = None,
        *,
        extra_holidays: frozenset[date] = frozenset(),
        extra_working_days: frozenset[date] = frozenset(),
        work_start: time = _DEFAULT_WORK_START,
        work_end: time = _DEFAULT_WORK_END,
        tz: tzinfo | None = None,
    ) -> None:
        self.country = country.strip().upper()
        self.subdivision = subdivision.strip() if subdivision is not None else None
        super().__init__(extra_holidays=extra_holidays, extra_working_days=extra_working_days,
                         work_start=work_start, work_end=work_end, tz=tz)
        self._years: dict[int, HolidayBase] = {}
        self._estimated: dict[int, bool] = {}
        self._load(years=())  # validates country and subdivision without loading any year

    def _load(self, years: int | tuple[int, ...]) -> HolidayBase:
        try:
            return holidays.country_holidays(
                self.country, subdiv=self.subdivision, years=years, expand=False, language="en_US"
            )
        except NotImplementedError as e:
            where = self.country if self.subdivision is None else f"{self.country}/{self.subdivision}"
            raise ValueError(f"unknown country or subdivision {where!r}: {e}") from e

    def _official(self, year: int) -> HolidayBase:
        cal = self._years.get(year)
        if cal is None:
            cal = self._years[year] = self._load(years=year)
        return cal

    def _officially_working(self, d: date) -> bool:
        return bool(self._official(d.year).is_working_day(d))

    def is_estimated(self, d: date) -> bool:
        """Whether working days in `d`'s year are an estimate because the official calendar
        for that year is not published yet.

        Rule: only countries whose calendar is decreed year by year count (China); for them a
        year is unpublished when `holidays` lists no make-up working day (`weekend_workdays`)
        in that year — the State Council notice always has some, and `holidays` adds them
        once it is out. Other countries' holidays are fixed by law: never an estimate.
        """
        if self.country not in _PUBLISHED_SCHEDULE_COUNTRIES:
            return False
        estimated = self._estimated.get(d.year)
        if estimated is None:
            estimated = self._estimated[d.year] = not any(
                w.year == d.year for w in self._official(d.year).weekend_workdays)
        return estimated

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.country!r}, {self.subdivision!r}, "
            f"extra_holidays={len(self.extra_holidays)} days, "
            f"extra_working_days={len(self.extra_working_days)} days, "
            f"work_start={self.work_start}, work_end={self.work_end}, tz={self.tz!r})"
        )


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


__all__ = ["BusinessCalendar", "WeekendCalendar", "WorkCalendar", "step_due_date"]
