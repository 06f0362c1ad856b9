"""Working days (weekends only for now) and step due dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from presales_sync.rules import (
    Command,
    RulesSettings,
    Step,
    WeekendCalendar,
    WorkCalendar,
    apply_command,
    assign,
    close,
    create_task,
    step_due_date,
)

CAL = WeekendCalendar()
FRI = date(2026, 3, 6)
SAT, SUN, MON, TUE = (FRI + timedelta(days=d) for d in (1, 2, 3, 4))
SHANGHAI = timezone(timedelta(hours=8))
STEP_DAYS = RulesSettings().step_days_for("P2")


def test_weekdays_work_weekends_do_not():
    assert [CAL.is_working_day(MON + timedelta(days=d)) for d in range(7)] == [
        True, True, True, True, True, False, False,
    ]  # fmt: skip


def test_friday_plus_one_is_monday():
    assert CAL.add_working_days(FRI, 1) == MON
    assert CAL.add_working_days(FRI, 2) == TUE
    assert CAL.add_working_days(FRI, 5) == FRI + timedelta(days=7)


@pytest.mark.parametrize("start", [SAT, SUN])
def test_weekend_start_counts_from_monday(start: date):
    assert CAL.add_working_days(start, 0) == MON
    assert CAL.add_working_days(start, 1) == MON
    assert CAL.add_working_days(start, 2) == TUE


def test_zero_days_on_a_working_day_is_that_day():
    assert CAL.add_working_days(FRI, 0) == FRI


def test_negative_days_are_rejected():
    with pytest.raises(ValueError, match=">= 0"):
        CAL.add_working_days(FRI, -1)


def test_a_holiday_calendar_only_overrides_is_working_day():
    class OneHoliday(WeekendCalendar):
        def is_working_day(self, d: date) -> bool:
            return d != MON and super().is_working_day(d)

    cal = OneHoliday()
    assert isinstance(cal, WorkCalendar)
    assert cal.add_working_days(FRI, 1) == TUE
    assert cal.add_working_days(SAT, 0) == TUE


def test_a_calendar_without_working_days_fails_instead_of_looping():
    class Never(WeekendCalendar):
        def is_working_day(self, d: date) -> bool:
            return False

    with pytest.raises(ValueError, match="no working day"):
        Never().add_working_days(FRI, 1)


def test_step_due_date_counts_from_the_local_start_date():
    # 2026-03-05 20:00 UTC is already Friday 04:00 in Shanghai
    task = create_task("opp-1", at=datetime(2026, 3, 5, 20, 0, tzinfo=UTC), actor="s")
    assert step_due_date(task, step_days=STEP_DAYS, calendar=CAL, tz=UTC) == date(2026, 3, 9)
    assert step_due_date(task, step_days=STEP_DAYS, calendar=CAL, tz=SHANGHAI) == TUE


def test_step_due_date_follows_the_current_step():
    task = create_task("opp-1", at=datetime(2026, 3, 2, 9, tzinfo=UTC), actor="s")
    task = assign(task, "e", at=datetime(2026, 3, 2, 10, tzinfo=UTC), actor="m", reason="r")
    signed_at = datetime(2026, 3, 6, 9, tzinfo=UTC)  # Friday
    task = apply_command(task, Command.SIGN_OFF, actor="e", at=signed_at, reviewers=frozenset())
    assert task.step is Step.SOLUTION_DESIGN
    due = step_due_date(task, step_days=STEP_DAYS, calendar=CAL, tz=UTC)
    assert due == date(2026, 3, 13)  # five working days after Friday


def test_step_due_date_is_none_for_closed_done_or_unstarted():
    task = create_task("opp-1", at=datetime(2026, 3, 2, 9, tzinfo=UTC), actor="s")
    closed = close(task, at=datetime(2026, 3, 3, tzinfo=UTC), outcome="lost", actor="s")
    assert step_due_date(closed, step_days=STEP_DAYS, calendar=CAL, tz=UTC) is None
    unstarted = type(task)(opportunity_id="opp-2")
    assert step_due_date(unstarted, step_days=STEP_DAYS, calendar=CAL, tz=UTC) is None
    done = type(task)(opportunity_id="opp-3", step=Step.DONE, step_started_at=task.step_started_at)
    assert step_due_date(done, step_days=STEP_DAYS, calendar=CAL, tz=UTC) is None


def test_step_due_date_rejects_naive_start():
    naive = type(create_task("o", at=datetime(2026, 3, 2, tzinfo=UTC), actor="s"))(
        opportunity_id="o", step_started_at=datetime(2026, 3, 2, 9)
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        step_due_date(naive, step_days=STEP_DAYS, calendar=CAL, tz=UTC)
