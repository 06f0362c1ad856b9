"""Properties that must hold for any sequence of commands, actors and dates."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from presales_sync.rules import (
    STEP_ORDER,
    Command,
    DomainError,
    Engineer,
    EventKind,
    Step,
    Task,
    WeekendCalendar,
    apply_command,
    assign,
    close,
    create_task,
    replay,
    round_robin,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENGINEERS = ("eng-1", "eng-2")
# eng-2 is also a reviewer, so "author reviews own work" comes up whenever eng-2 owns a task.
REVIEWERS = frozenset({"rev-1", "rev-2", "eng-2"})
ACTORS = (*ENGINEERS, "rev-1", "rev-2", "sales-1")

# Weighted towards the commands that move a task, so many runs reach the later steps.
_command = st.sampled_from(
    [Command.SIGN_OFF] * 4
    + [Command.REVIEW_PASS] * 2
    + [Command.REVIEW_REWORK] * 2
    + [Command.HOLD, Command.RESUME]
)
_action = st.one_of(
    st.tuples(st.just("cmd"), _command, st.sampled_from(ACTORS)),
    st.tuples(st.just("assign"), st.sampled_from(ENGINEERS), st.just("mgr")),
    st.tuples(st.just("close"), st.sampled_from(["won", "lost"]), st.just("sales-1")),
)
_actions = st.lists(
    st.one_of(_action, st.tuples(st.just("cmd"), _command, st.sampled_from(ACTORS))),
    max_size=40,
)


def _step_move_allowed(before: Step, after: Step) -> bool:
    if before is after:
        return True
    if (before, after) == (Step.INTERNAL_REVIEW, Step.SOLUTION_DESIGN):
        return True
    return STEP_ORDER.index(after) == STEP_ORDER.index(before) + 1


def _run(
    actions: list[tuple[str, object, str]], first_engineer: str | None
) -> list[tuple[Task, Task | None]]:
    """Apply the actions; return (task before, task after or None when refused) per action."""
    task = create_task("opp-1", at=T0, actor="sales-1")
    if first_engineer is not None:
        task = assign(task, first_engineer, at=T0, actor="mgr", reason="first")
    steps: list[tuple[Task, Task | None]] = []
    for i, (kind, what, actor) in enumerate(actions):
        now = T0 + timedelta(hours=i + 1)
        before = task
        try:
            if kind == "cmd":
                assert isinstance(what, Command)
                task = apply_command(task, what, actor=actor, at=now, reviewers=REVIEWERS)
            elif kind == "assign":
                task = assign(task, str(what), at=now, actor=actor, reason="manager")
            else:
                task = close(task, at=now, outcome=str(what), actor=actor)
        except DomainError as err:
            assert err.reason and len(err.reason) <= 200
            assert task == before
            steps.append((before, None))
            continue
        steps.append((before, task))
    return steps


@settings(max_examples=300)
@given(actions=_actions, first=st.sampled_from([None, *ENGINEERS]))
def test_no_step_is_ever_skipped(actions, first):
    for before, after in _run(actions, first):
        if after is None:
            continue
        assert _step_move_allowed(before.step, after.step), (before.step, after.step)
        for event in after.events[1:]:
            assert event.from_step is not None and event.to_step is not None
            assert _step_move_allowed(event.from_step, event.to_step)
            if (event.from_step, event.to_step) == (Step.INTERNAL_REVIEW, Step.SOLUTION_DESIGN):
                assert event.outcome == "rework"


@settings(max_examples=300)
@given(actions=_actions, first=st.sampled_from([None, *ENGINEERS]))
def test_rework_count_equals_rework_events(actions, first):
    for _before, after in _run(actions, first):
        if after is not None:
            reworks = sum(1 for e in after.events if e.outcome == "rework")
            assert after.rework_count == reworks


@settings(max_examples=300)
@given(actions=_actions, first=st.sampled_from([None, *ENGINEERS]))
def test_events_only_append_and_chain(actions, first):
    for before, after in _run(actions, first):
        if after is None or after is before:  # refused, or a no-op (same owner, re-close)
            continue
        assert len(after.events) == len(before.events) + 1
        assert after.events[: len(before.events)] == before.events
        last = after.events[-1]
        assert (last.from_step, last.from_status) == (before.step, before.status)
        assert (last.to_step, last.to_status) == (after.step, after.status)
        assert last.at >= before.events[-1].at
        if after.step is not before.step:
            assert after.step_started_at == last.at
        else:
            assert after.step_started_at == before.step_started_at
    # the whole history is one unbroken chain of states
    final = next((a for _b, a in reversed(_run(actions, first)) if a is not None), None)
    if final is not None:
        assert final.events[0].kind is EventKind.CREATED
        for prev, nxt in zip(final.events, final.events[1:], strict=False):
            assert (prev.to_step, prev.to_status) == (nxt.from_step, nxt.from_status)


@settings(max_examples=300)
@given(actions=_actions, first=st.sampled_from([None, *ENGINEERS]))
def test_a_task_is_its_history(actions, first):
    """Replaying any task's events gives the task back: the CRM's copy of the history is
    enough to rebuild a lost store."""
    for _before, after in _run(actions, first):
        if after is not None:
            assert replay(after.opportunity_id, after.events) == after


def test_replay_needs_the_creation():
    task = create_task("opp-1", at=T0, actor="sales-1")
    held = apply_command(assign(task, "eng-1", at=T0, actor="mgr", reason="r"), Command.HOLD, actor="eng-1",
                         at=T0 + timedelta(hours=1), reviewers=REVIEWERS)
    assert replay("opp-1", held.events).held_status is held.held_status is not None
    try:
        replay("opp-1", held.events[1:])
    except ValueError as err:
        assert "does not start with its creation" in str(err)
    else:
        raise AssertionError("a history without its creation was replayed")


def test_property_checker_can_fail():
    """The step rule the properties use rejects a skipped step and a backwards jump."""
    assert not _step_move_allowed(Step.REQUIREMENTS, Step.INTERNAL_REVIEW)
    assert not _step_move_allowed(Step.PRESENTATION, Step.SOLUTION_DESIGN)
    assert not _step_move_allowed(Step.SOLUTION_DESIGN, Step.REQUIREMENTS)
    assert _step_move_allowed(Step.INTERNAL_REVIEW, Step.SOLUTION_DESIGN)


# --- round robin ------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    n=st.integers(min_value=1, max_value=7),
    k=st.integers(min_value=0, max_value=60),
    data=st.data(),
)
def test_round_robin_is_fair_under_equal_eligibility(n, k, data):
    ids = [f"e{i}" for i in range(n)]
    roster = {eid: Engineer(crm_user_id=eid, name=eid, capacity=10_000) for eid in ids}
    # any stored starting queue: a permutation of some of them plus a stale id
    start = data.draw(st.permutations(ids))[: data.draw(st.integers(0, n))]
    queue: tuple[str, ...] = (*start, "gone")
    counts: Counter[str] = Counter()
    for _ in range(k):
        decision = round_robin(queue, roster, counts)
        assert decision.engineer_id is not None
        assert decision.skipped == ()
        counts[decision.engineer_id] += 1
        queue = decision.queue
        assert sorted(queue) == sorted(ids)
        totals = [counts[eid] for eid in ids]
        assert max(totals) - min(totals) <= 1


# --- calendar ---------------------------------------------------------------------------

_dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@settings(max_examples=300)
@given(start=_dates, n=st.integers(min_value=0, max_value=40))
def test_add_working_days_never_lands_on_a_weekend(start, n):
    result = WeekendCalendar().add_working_days(start, n)
    assert result.weekday() < 5
    assert result >= start
    if n >= 1:
        assert result > start
        days = (result - start).days
        after = [start + timedelta(days=d) for d in range(1, days + 1)]
        assert sum(1 for d in after if d.weekday() < 5) == n


@settings(max_examples=300)
@given(a=_dates, b=_dates, n=st.integers(min_value=0, max_value=40))
def test_add_working_days_is_monotonic_in_start(a, b, n):
    cal = WeekendCalendar()
    lo, hi = min(a, b), max(a, b)
    assert cal.add_working_days(lo, n) <= cal.add_working_days(hi, n)


@given(start=_dates, n=st.integers(min_value=0, max_value=40))
def test_add_working_days_increases_with_n(start, n):
    cal = WeekendCalendar()
    # 0 and 1 meet when start is not a working day (Saturday: both are Monday)
    assert cal.add_working_days(start, n) <= cal.add_working_days(start, n + 1)
    if n >= 1 or cal.is_working_day(start):
        assert cal.add_working_days(start, n) < cal.add_working_days(start, n + 1)
