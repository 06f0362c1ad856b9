"""Health bands: red when overdue, yellow when due within N working days, else green."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from presales_sync.rules import Health, WeekendCalendar, evaluate_health

CAL = WeekendCalendar()
THU = date(2026, 3, 5)
FRI, SAT, SUN, MON, TUE = (THU + timedelta(days=d) for d in (1, 2, 3, 4, 5))


def health(due: date | None, today: date, within: int = 1) -> tuple[Health, str]:
    return evaluate_health(due=due, today=today, calendar=CAL, yellow_within_days=within)


def test_values_are_the_crm_picklist():
    assert [h.value for h in Health] == ["Green", "Yellow", "Red"]


def test_red_when_today_is_past_due():
    assert health(THU, FRI) == (Health.RED, "overdue since 2026-03-05")
    assert health(FRI, MON) == (Health.RED, "overdue since 2026-03-06")


@pytest.mark.parametrize(
    ("due", "today", "within", "expected"),
    [
        (FRI, FRI, 1, Health.YELLOW),  # due today
        (MON, FRI, 1, Health.YELLOW),  # due next working day
        (TUE, FRI, 1, Health.GREEN),  # two working days away
        (TUE, FRI, 2, Health.YELLOW),
        (FRI, FRI, 0, Health.YELLOW),  # 0: only the due day itself
        (MON, FRI, 0, Health.GREEN),
        (MON, SAT, 0, Health.YELLOW),  # weekend: the next working day counts as "today"
        (MON, SUN, 1, Health.YELLOW),
        (TUE, SUN, 1, Health.GREEN),  # Tuesday is two working days after Sunday
    ],
)
def test_yellow_band_in_working_days(due: date, today: date, within: int, expected: Health):
    light, reason = health(due, today, within)
    assert light is expected
    assert reason == (f"due {due.isoformat()}" if expected is Health.YELLOW else "")


def test_green_far_from_due_and_without_due_date():
    assert health(TUE + timedelta(days=7), THU) == (Health.GREEN, "")
    assert health(None, THU) == (Health.GREEN, "")
