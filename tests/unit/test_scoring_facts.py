"""Who a task's facts count for, and in which quarter (sync.scoring.gather_facts)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from presales_sync.rules import Command, apply_command, assign, close, create_task
from presales_sync.rules.kpi import Metric, Period
from presales_sync.sync.scoring import gather_facts
from presales_sync.sync.store import ActivityRow

SH = ZoneInfo("Asia/Shanghai")
Q3, Q4 = Period(2026, 3), Period(2026, 4)
REVIEWERS = frozenset({"R"})


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def walked():
    """E works the task; a rework in Q3 (first review), a pass in Q4; reassigned to F in Q4
    after E's sign-offs; the deal is won in Q4."""
    t = create_task("006X", at=at(9, 1), actor="S")
    t = assign(t, "E", at=at(9, 1), actor="I", reason="rr")
    for _ in range(2):
        t = apply_command(t, Command.SIGN_OFF, actor="E", at=at(9, 10), reviewers=REVIEWERS)
    t = apply_command(t, Command.REVIEW_REWORK, actor="R", at=at(9, 20), reviewers=REVIEWERS)
    t = apply_command(t, Command.SIGN_OFF, actor="E", at=at(10, 2), reviewers=REVIEWERS)
    t = apply_command(t, Command.REVIEW_PASS, actor="R", at=at(10, 5), reviewers=REVIEWERS)
    t = assign(t, "F", at=at(10, 6), actor="M", reason="manager")
    return close(t, at=at(11, 1), outcome="won", actor="S")


def test_quarters_and_people():
    task = walked()
    opps = {"006X": {"satisfaction": 4.5, "recognition": True}}
    acts = [(1, ActivityRow("E", date(2026, 9, 30), "document", "Template")),
            (2, ActivityRow("E", date(2026, 10, 1), "training", "K8s"))]
    q3 = gather_facts([task], opps, acts, Q3, SH, ["E", "F", "R"])
    q4 = gather_facts([task], opps, acts, Q4, SH, ["E", "F", "R"])
    # the first review (rework, Q3) is the first-pass fact of the task's engineer, in Q3 only
    assert [f.value for f in q3["F"][Metric.FIRST_PASS_RATE]] == [0.0]
    assert Metric.FIRST_PASS_RATE not in q4["F"]
    assert [f.source for f in q3["F"][Metric.REWORK_COUNT]] == ["006X@2026-09-20"]
    # E signed off steps, F owns the task now: both worked it; the reviewer did not
    for who in ("E", "F"):
        assert [f.source for f in q4[who][Metric.PROJECTS]] == ["006X"]
        assert [f.value for f in q4[who][Metric.WIN_RATE]] == [1.0]
        assert [f.value for f in q4[who][Metric.SATISFACTION]] == [4.5]
        assert len(q4[who][Metric.RECOGNITION]) == 1
        assert Metric.WIN_RATE not in q3[who]
    assert q4["R"] == {} and q3["R"] == {}
    assert [f.source for f in q3["E"][Metric.DOCUMENTS]] == ["activity 1: Template"]
    assert [f.source for f in q4["E"][Metric.TRAININGS]] == ["activity 2: K8s"]


def test_quarter_boundary_is_the_company_time_zone():
    # 2026-09-30 17:00 UTC is already 1 October in Shanghai: a Q4 event there
    t = create_task("006Y", at=datetime(2026, 9, 30, 17, tzinfo=UTC), actor="S")
    t = assign(t, "E", at=datetime(2026, 9, 30, 17, tzinfo=UTC), actor="I", reason="rr")
    assert Metric.PROJECTS in gather_facts([t], {}, [], Q4, SH, ["E"])["E"]
    assert gather_facts([t], {}, [], Q3, SH, ["E"])["E"] == {}
    assert Metric.PROJECTS in gather_facts([t], {}, [], Q3, ZoneInfo("UTC"), ["E"])["E"]


def test_a_deal_closed_after_its_task_was_done_counts_by_its_close_date():
    t = create_task("006Z", at=at(10, 1), actor="S")
    t = assign(t, "E", at=at(10, 1), actor="I", reason="rr")
    for _ in range(2):
        t = apply_command(t, Command.SIGN_OFF, actor="E", at=at(10, 2), reviewers=REVIEWERS)
    t = apply_command(t, Command.REVIEW_PASS, actor="R", at=at(10, 3), reviewers=REVIEWERS)
    for _ in range(2):  # Presentation -> Feedback -> Done: the task ends before the deal does
        t = apply_command(t, Command.SIGN_OFF, actor="E", at=at(10, 4), reviewers=REVIEWERS)
    lost = {"006Z": {"is_closed": True, "is_won": False, "close_date": "2027-01-05", "satisfaction": 3}}
    assert Metric.WIN_RATE not in gather_facts([t], lost, [], Q4, SH, ["E"])["E"]
    q1 = gather_facts([t], lost, [], Period(2027, 1), SH, ["E"])["E"]
    assert [f.value for f in q1[Metric.WIN_RATE]] == [0.0]
    assert [f.value for f in q1[Metric.SATISFACTION]] == [3]
    still_open = {"006Z": {"is_closed": False, "close_date": "2026-11-05"}}
    assert Metric.WIN_RATE not in gather_facts([t], still_open, [], Q4, SH, ["E"])["E"]
