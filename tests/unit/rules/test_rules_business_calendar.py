"""BusinessCalendar: official holidays (with China's make-up working days), company overrides,
estimated years, and working-hour deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from presales_sync.rules import Step, WeekendCalendar, WorkCalendar, create_task, step_due_date
from presales_sync.rules.calendar import BusinessCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
CN = BusinessCalendar("CN", tz=SHANGHAI)
US = BusinessCalendar("US", tz=NEW_YORK)


def sh(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def test_is_a_work_calendar():
    assert isinstance(CN, WorkCalendar)


# --- official calendars ---------------------------------------------------------------------


def test_cn_2026_make_up_day_and_day_off():
    assert date(2026, 2, 14).weekday() == 5
    assert CN.is_working_day(date(2026, 2, 14))  # Saturday make-up day (调休)
    assert not CN.is_working_day(date(2026, 2, 21))  # an ordinary Saturday
    assert date(2026, 2, 20).weekday() == 4
    assert not CN.is_working_day(date(2026, 2, 20))  # a weekday given off
    assert CN.add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)


def test_cn_2026_national_day_week():
    assert not any(CN.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert date(2026, 10, 10).weekday() == 5
    assert CN.is_working_day(date(2026, 10, 10))


def test_de_subdivision():
    assert not BusinessCalendar("DE", "BY").is_working_day(date(2026, 1, 6))  # Epiphany in Bavaria
    assert BusinessCalendar("DE").is_working_day(date(2026, 1, 6))


def test_us_observed_independence_day():
    assert not US.is_working_day(date(2026, 7, 3))
    assert US.is_working_day(date(2026, 7, 2))


@pytest.mark.parametrize(("country", "subdivision"), [("XX", None), ("DE", "ZZ"), ("US", "XX")])
def test_unknown_country_or_subdivision(country: str, subdivision: str | None):
    with pytest.raises(ValueError, match="unknown country or subdivision"):
        BusinessCalendar(country, subdivision)


def test_country_code_is_case_insensitive():
    assert not BusinessCalendar("cn").is_working_day(date(2026, 2, 20))


# --- company overrides -----------------------------------------------------------------------


def test_extra_days_override_the_official_calendar():
    cal = BusinessCalendar(
        "CN",
        extra_holidays=frozenset({date(2026, 3, 4), date(2026, 2, 14)}),
        extra_working_days=frozenset({date(2026, 3, 7), date(2026, 10, 2)}),
    )
    assert not cal.is_working_day(date(2026, 3, 4))  # Wednesday, company day off
    assert not cal.is_working_day(date(2026, 2, 14))  # official make-up day, company day off
    assert cal.is_working_day(date(2026, 3, 7))  # Saturday, company working day
    assert cal.is_working_day(date(2026, 10, 2))  # National Day, company working day
    assert cal.add_working_days(date(2026, 3, 3), 1) == date(2026, 3, 5)
    assert cal.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 7)


def test_extra_days_cannot_be_both():
    with pytest.raises(ValueError, match="both"):
        BusinessCalendar("US", extra_holidays=frozenset({date(2026, 1, 2)}),
                         extra_working_days=frozenset({date(2026, 1, 2)}))  # fmt: skip


def test_work_hours_must_be_ordered():
    with pytest.raises(ValueError, match="before"):
        BusinessCalendar("US", work_start=time(18, 0), work_end=time(9, 0))


# --- estimated years -------------------------------------------------------------------------


def _cn_make_up_days_in(year: int) -> list[date]:
    official = holidays.country_holidays("CN", years=year, language="en_US")
    return [d for d in official.weekend_workdays if d.year == year]


def test_is_estimated():
    # The rule, checked against the library's own data rather than a list of years.
    assert _cn_make_up_days_in(2026) != []
    assert _cn_make_up_days_in(2027) == []
    assert CN.is_estimated(date(2026, 6, 1)) is False
    assert CN.is_estimated(date(2027, 6, 1)) is True
    assert US.is_estimated(date(2027, 6, 1)) is False


# --- working hours ---------------------------------------------------------------------------


def test_hours_friday_evening_to_monday():
    assert sh(2026, 3, 6).weekday() == 4
    got = CN.add_working_hours(sh(2026, 3, 6, 17), 2)
    assert got == sh(2026, 3, 9, 10)
    assert got.tzinfo is SHANGHAI


def test_hours_start_on_saturday_counts_from_monday_morning():
    assert CN.add_working_hours(sh(2026, 3, 7, 11), 1.5) == sh(2026, 3, 9, 10, 30)


def test_hours_start_in_another_zone_is_converted():
    start = datetime(2026, 3, 6, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    assert CN.add_working_hours(start, 3) == sh(2026, 3, 6, 12)


def test_hours_cross_a_cn_holiday():
    # Wednesday 2026-09-30 16:00: 2 h that day, National Day week 10-01..07 off, 1 h on 10-08.
    assert CN.is_working_day(date(2026, 9, 30)) and CN.is_working_day(date(2026, 10, 8))
    assert CN.add_working_hours(sh(2026, 9, 30, 16), 3) == sh(2026, 10, 8, 10)


def test_hours_ending_at_work_end_stay_that_day():
    assert CN.add_working_hours(sh(2026, 3, 6, 9), 9) == sh(2026, 3, 6, 18)
    assert CN.add_working_hours(sh(2026, 3, 6, 17), 1) == sh(2026, 3, 6, 18)


def test_hours_zero_outside_working_time_moves_to_next_opening():
    assert CN.add_working_hours(sh(2026, 3, 6, 18), 0) == sh(2026, 3, 9, 9)
    assert CN.add_working_hours(sh(2026, 3, 6, 12), 0) == sh(2026, 3, 6, 12)


def test_hours_reject_bad_input():
    with pytest.raises(ValueError, match="aware"):
        CN.add_working_hours(datetime(2026, 3, 6, 9), 1)
    with pytest.raises(ValueError, match=">= 0"):
        CN.add_working_hours(sh(2026, 3, 6, 9), -1)
    with pytest.raises(ValueError, match="tz"):
        BusinessCalendar("CN").add_working_hours(sh(2026, 3, 6, 9), 1)


def test_step_due_date_accepts_a_business_calendar():
    task = create_task("opp-1", at=sh(2026, 2, 12, 10), actor="s")
    step_days = {Step.REQUIREMENTS: 5}
    assert step_due_date(task, step_days=step_days, calendar=CN, tz=SHANGHAI) == date(2026, 2, 26)
    assert step_due_date(task, step_days=step_days, calendar=WeekendCalendar(), tz=SHANGHAI) == date(
        2026, 2, 19
    )


# --- properties ------------------------------------------------------------------------------

CALENDARS = st.sampled_from([CN, US])
DAYS = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))
STARTS = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31))


@settings(max_examples=150, deadline=None)
@given(CALENDARS, DAYS, st.integers(0, 30), st.integers(0, 40))
def test_add_working_days_lands_on_working_day_and_is_monotone(
    cal: BusinessCalendar, start: date, n: int, later: int
):
    got = cal.add_working_days(start, n)
    assert cal.is_working_day(got)
    assert got >= start
    assert cal.add_working_days(start + timedelta(days=later), n) >= got


def _inside_working_time(cal: BusinessCalendar, t: datetime) -> bool:
    local = t.astimezone(cal.tz)
    return cal.is_working_day(local.date()) and cal.work_start <= local.time() <= cal.work_end


@settings(max_examples=150, deadline=None)
@given(CALENDARS, STARTS, st.floats(0, 60), st.floats(0, 200))
def test_add_working_hours_stays_in_working_time_and_is_monotone(
    cal: BusinessCalendar, naive: datetime, hours: float, later_hours: float
):
    assert cal.tz is not None
    start = naive.replace(tzinfo=cal.tz)
    got = cal.add_working_hours(start, hours)
    assert got.tzinfo is cal.tz
    assert got >= start
    assert _inside_working_time(cal, got)
    assert cal.add_working_hours(start + timedelta(hours=later_hours), hours) >= got


# --- oracle ----------------------------------------------------------------------------------


def test_cn_agrees_with_chinese_calendar_2024_to_2026():
    cal = BusinessCalendar("CN")
    day, disagreements = date(2024, 1, 1), []
    while day <= date(2026, 12, 31):
        if cal.is_working_day(day) != chinese_calendar.is_workday(day):
            disagreements.append(day)
        day += timedelta(days=1)
    assert disagreements == []
