"""Deadlines and the light of a task (rules.sla.assess) on China's official calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from presales_sync.rules import (
    BusinessCalendar,
    Command,
    Health,
    RulesSettings,
    apply_command,
    assess,
    assign,
    close,
    create_task,
)

SH = ZoneInfo("Asia/Shanghai")
CN = BusinessCalendar("CN", tz=SH)
S = RulesSettings()


def task_at(at: datetime, engineer: str = "005E"):
    t = create_task("006X", at=at, actor="005S")
    return assign(t, engineer, at=at, actor="me", reason="test")


# Requests at 10:00 in the week of the 2026 Spring Festival: Saturday 14 Feb is an official
# make-up working day (调休); 15–23 Feb are off. Response: 09:00–18:00 working hours;
# Requirements step: 1 / 2 / 3 working days for P1 / P2 / P3.
CN_WEEK = [
    # day, P1 response, P1 due, P2 response, P2 due, P3 response, P3 due
    (9, "02-09 14:00", "02-10", "02-09 18:00", "02-11", "02-10 17:00", "02-12"),
    (12, "02-12 14:00", "02-13", "02-12 18:00", "02-14", "02-13 17:00", "02-24"),
    (13, "02-13 14:00", "02-14", "02-13 18:00", "02-24", "02-14 17:00", "02-25"),
    (14, "02-14 14:00", "02-24", "02-14 18:00", "02-25", "02-24 17:00", "02-26"),
    (15, "02-24 13:00", "02-24", "02-24 17:00", "02-25", "02-25 16:00", "02-26"),
]


@pytest.mark.parametrize("row", CN_WEEK, ids=[f"feb{r[0]}" for r in CN_WEEK])
def test_cn_deadlines_around_the_spring_festival_make_up_day(row):
    day, *expected = row
    at = datetime(2026, 2, day, 10, 0, tzinfo=SH)
    got = []
    for priority in ("P1", "P2", "P3"):
        look = assess(task_at(at), priority=priority, now=at, settings=S, calendar=CN)
        got += [f"{look.response_due:%m-%d %H:%M}", f"{look.due:%m-%d}"]
        assert not look.estimated
    assert got == expected


def test_first_response_overdue_is_red_until_the_engineer_acts():
    at = datetime(2026, 3, 2, 10, 0, tzinfo=SH)  # Monday
    t = task_at(at)
    late = datetime(2026, 3, 2, 18, 30, tzinfo=SH)  # P1: 4 working hours → 14:00
    look = assess(t, priority="P1", now=late, settings=S, calendar=CN)
    assert look.health is Health.RED
    assert look.reason == "first response overdue since 2026-03-02 14:00"
    assert look.warning == "Red: first response overdue since 2026-03-02 14:00"
    signed = apply_command(t, Command.SIGN_OFF, actor="005E", at=late, reviewers=frozenset())
    look = assess(signed, priority="P1", now=late, settings=S, calendar=CN)
    assert look.responded_at == late and look.health is Health.GREEN


def test_step_overdue_red_and_due_soon_yellow():
    at = datetime(2026, 3, 2, 10, 0, tzinfo=SH)
    t = apply_command(task_at(at), Command.SIGN_OFF, actor="005E", at=at, reviewers=frozenset())
    # Solution Design, P2: 5 working days from Monday 2 March → Monday 9 March
    assert assess(t, priority="P2", now=at, settings=S, calendar=CN).due == date(2026, 3, 9)
    friday = assess(t, priority="P2", now=at + timedelta(days=4), settings=S, calendar=CN)
    assert (friday.health, friday.reason) == (Health.YELLOW, "Solution Design due 2026-03-09")
    tuesday = assess(t, priority="P2", now=at + timedelta(days=8), settings=S, calendar=CN)
    assert (tuesday.health, tuesday.reason) == (Health.RED, "Solution Design overdue since 2026-03-09")


def test_no_progress_for_ten_working_days_is_yellow():
    at = datetime(2026, 3, 2, 10, 0, tzinfo=SH)
    t = apply_command(task_at(at), Command.SIGN_OFF, actor="005E", at=at, reviewers=frozenset())
    relaxed = S.model_copy(update={"step_days": {**S.step_days, "Solution Design": 30}})
    nine = assess(t, priority="P2", now=datetime(2026, 3, 13, 12, tzinfo=SH), settings=relaxed, calendar=CN)
    assert nine.health is Health.GREEN
    ten = assess(t, priority="P2", now=datetime(2026, 3, 16, 12, tzinfo=SH), settings=relaxed, calendar=CN)
    assert (ten.health, ten.reason) == (Health.YELLOW, "no progress for 10 working days (since 2026-03-02)")
    off = relaxed.model_copy(update={"stalled_after_days": 0})
    assert assess(t, priority="P2", now=datetime(2026, 3, 16, 12, tzinfo=SH), settings=off,
                  calendar=CN).health is Health.GREEN


def test_unpublished_year_is_estimated_and_said_so():
    at = datetime(2027, 3, 1, 10, 0, tzinfo=SH)  # CN 2027 make-up days not published yet
    look = assess(task_at(at), priority="P2", now=at, settings=S, calendar=CN)
    assert look.estimated and look.due is not None


def test_held_and_closed_tasks():
    at = datetime(2026, 3, 2, 10, 0, tzinfo=SH)
    held = apply_command(task_at(at), Command.HOLD, actor="005E", at=at, reviewers=frozenset())
    much_later = at + timedelta(days=60)
    assert assess(held, priority="P2", now=much_later, settings=S, calendar=CN).health is Health.GREEN
    done = close(task_at(at), at=at, outcome="won", actor="005S")
    look = assess(done, priority="P2", now=much_later, settings=S, calendar=CN)
    assert (look.health, look.due) == (None, None)
