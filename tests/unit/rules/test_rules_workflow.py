"""Each workflow transition and each refusal, one at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from presales_sync.rules import (
    Command,
    DomainError,
    EventKind,
    Status,
    Step,
    Task,
    apply_command,
    assign,
    close,
    create_task,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENG = "eng-1"
OTHER = "eng-2"
REVIEWER = "rev-1"
REVIEWERS = frozenset({REVIEWER, "rev-2"})


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def assigned_task() -> Task:
    task = create_task("opp-1", at=T0, actor="sales-1")
    return assign(task, ENG, at=at(1), actor="system", reason="round robin")


def cmd(task: Task, command: Command, actor: str = ENG, hours: int = 2) -> Task:
    return apply_command(task, command, actor=actor, at=at(hours), reviewers=REVIEWERS)


def at_step(step: Step) -> Task:
    """A task walked to `step` through the real transitions."""
    task = assigned_task()
    path = {
        Step.REQUIREMENTS: [],
        Step.SOLUTION_DESIGN: [(Command.SIGN_OFF, ENG)],
        Step.INTERNAL_REVIEW: [(Command.SIGN_OFF, ENG)] * 2,
        Step.PRESENTATION: [(Command.SIGN_OFF, ENG)] * 2 + [(Command.REVIEW_PASS, REVIEWER)],
        Step.FEEDBACK: [(Command.SIGN_OFF, ENG)] * 2
        + [(Command.REVIEW_PASS, REVIEWER), (Command.SIGN_OFF, ENG)],
    }[step]
    for i, (command, actor) in enumerate(path):
        task = cmd(task, command, actor, hours=2 + i)
    assert task.step is step
    return task


def refused(task: Task, command: Command, actor: str, match: str) -> DomainError:
    with pytest.raises(DomainError, match=match) as info:
        cmd(task, command, actor, hours=50)
    assert info.value.reason == str(info.value)
    assert len(info.value.reason) <= 200
    return info.value


# --- creation and assignment ------------------------------------------------------------


def test_create_task_starts_at_requirements_new_with_one_created_event():
    task = create_task("opp-1", at=T0, actor="sales-1")
    assert (task.opportunity_id, task.step, task.status) == ("opp-1", Step.REQUIREMENTS, Status.NEW)
    assert task.engineer_id is None
    assert task.step_started_at == T0
    assert task.rework_count == 0
    (event,) = task.events
    assert event.kind is EventKind.CREATED
    assert (event.at, event.actor) == (T0, "sales-1")
    assert (event.from_step, event.to_step) == (None, Step.REQUIREMENTS)
    assert (event.from_status, event.to_status) == (None, Status.NEW)


def test_create_task_rejects_naive_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        create_task("opp-1", at=datetime(2026, 3, 2, 9, 0), actor="sales-1")


def test_assign_sets_engineer_and_moves_new_to_assigned_with_reason():
    task = create_task("opp-1", at=T0, actor="sales-1")
    done = assign(task, ENG, at=at(1), actor="mgr", reason="round robin: assigned to eng-1")
    assert done.engineer_id == ENG
    assert done.status is Status.ASSIGNED
    assert done.step is Step.REQUIREMENTS
    assert done.step_started_at == T0  # the step did not change
    event = done.events[-1]
    assert event.kind is EventKind.ASSIGNED
    assert event.note == "round robin: assigned to eng-1"
    assert (event.actor, event.at) == ("mgr", at(1))
    assert (event.from_status, event.to_status) == (Status.NEW, Status.ASSIGNED)
    assert done.events[:-1] == task.events


def test_reassign_keeps_status_and_records_event():
    task = at_step(Step.SOLUTION_DESIGN)
    assert task.status is Status.IN_PROGRESS
    moved = assign(task, OTHER, at=at(10), actor="mgr", reason="customer asked for eng-2")
    assert moved.engineer_id == OTHER
    assert moved.status is Status.IN_PROGRESS
    assert moved.step is Step.SOLUTION_DESIGN
    assert moved.events[-1].kind is EventKind.ASSIGNED
    assert len(moved.events) == len(task.events) + 1
    # the new engineer signs off, the old one no longer can
    refused(moved, Command.SIGN_OFF, ENG, "Only the assigned engineer")
    assert cmd(moved, Command.SIGN_OFF, OTHER).step is Step.INTERNAL_REVIEW


def test_assign_same_engineer_is_a_no_op():
    task = assigned_task()
    assert assign(task, ENG, at=at(5), actor="mgr", reason="again") is task


def test_assign_refused_on_closed_task():
    task = close(assigned_task(), at=at(3), outcome="lost", actor="sales-1")
    with pytest.raises(DomainError, match="closed"):
        assign(task, OTHER, at=at(4), actor="mgr", reason="x")


def test_assign_refuses_empty_engineer():
    with pytest.raises(DomainError, match="No engineer"):
        assign(create_task("opp-1", at=T0, actor="s"), "", at=at(1), actor="mgr", reason="x")


def test_assign_on_a_held_new_task_resumes_as_assigned():
    task = create_task("opp-1", at=T0, actor="sales-1")
    held = cmd(task, Command.HOLD, REVIEWER)
    assert held.held_status is Status.NEW
    owned = assign(held, ENG, at=at(3), actor="mgr", reason="x")
    assert owned.status is Status.ON_HOLD
    assert cmd(owned, Command.RESUME, ENG, hours=4).status is Status.ASSIGNED


# --- sign off -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "to_step", "to_status"),
    [
        (Step.REQUIREMENTS, Step.SOLUTION_DESIGN, Status.IN_PROGRESS),
        (Step.SOLUTION_DESIGN, Step.INTERNAL_REVIEW, Status.WAITING_REVIEW),
        (Step.PRESENTATION, Step.FEEDBACK, Status.PRESENTED),
        (Step.FEEDBACK, Step.DONE, Status.CLOSED),
    ],
)
def test_sign_off_moves_one_step(step: Step, to_step: Step, to_status: Status):
    task = at_step(step)
    done = cmd(task, Command.SIGN_OFF, ENG, hours=40)
    assert (done.step, done.status) == (to_step, to_status)
    assert done.step_started_at == at(40)
    event = done.events[-1]
    assert event.kind is EventKind.SIGNED_OFF
    assert (event.actor, event.at) == (ENG, at(40))
    assert (event.from_step, event.to_step) == (step, to_step)
    assert (event.from_status, event.to_status) == (task.status, to_status)
    assert done.events[:-1] == task.events


def test_sign_off_by_someone_else_is_refused():
    task = assigned_task()
    refused(task, Command.SIGN_OFF, OTHER, "Only the assigned engineer")
    refused(task, Command.SIGN_OFF, REVIEWER, "Only the assigned engineer")


def test_sign_off_without_engineer_is_refused():
    task = create_task("opp-1", at=T0, actor="sales-1")
    refused(task, Command.SIGN_OFF, ENG, "No engineer assigned")


def test_sign_off_at_internal_review_is_refused():
    task = at_step(Step.INTERNAL_REVIEW)
    refused(task, Command.SIGN_OFF, ENG, "Review Pass or Review Rework")


def test_done_task_is_closed_and_refuses_everything():
    task = cmd(at_step(Step.FEEDBACK), Command.SIGN_OFF, ENG, hours=40)
    assert not task.is_open
    for command in Command:
        refused(task, command, ENG, "closed")


# --- review ---------------------------------------------------------------------------


def test_review_pass_moves_to_presentation():
    task = at_step(Step.INTERNAL_REVIEW)
    done = cmd(task, Command.REVIEW_PASS, REVIEWER, hours=30)
    assert (done.step, done.status) == (Step.PRESENTATION, Status.IN_PROGRESS)
    assert done.rework_count == 0
    assert done.step_started_at == at(30)
    event = done.events[-1]
    assert (event.kind, event.outcome, event.actor) == (EventKind.REVIEWED, "pass", REVIEWER)


def test_review_rework_goes_back_to_solution_design_and_counts():
    task = at_step(Step.INTERNAL_REVIEW)
    done = cmd(task, Command.REVIEW_REWORK, REVIEWER, hours=30)
    assert (done.step, done.status) == (Step.SOLUTION_DESIGN, Status.REWORK)
    assert done.rework_count == 1
    assert done.step_started_at == at(30)
    event = done.events[-1]
    assert (event.kind, event.outcome) == (EventKind.REVIEWED, "rework")
    assert (event.from_step, event.to_step) == (Step.INTERNAL_REVIEW, Step.SOLUTION_DESIGN)
    # the author fixes it and sends it back for review
    again = cmd(done, Command.SIGN_OFF, ENG, hours=31)
    assert (again.step, again.status) == (Step.INTERNAL_REVIEW, Status.WAITING_REVIEW)
    twice = cmd(again, Command.REVIEW_REWORK, "rev-2", hours=32)
    assert twice.rework_count == 2


@pytest.mark.parametrize("command", [Command.REVIEW_PASS, Command.REVIEW_REWORK])
def test_author_cannot_review_own_work_even_as_reviewer(command: Command):
    task = at_step(Step.INTERNAL_REVIEW)
    with pytest.raises(DomainError, match="own solution"):
        apply_command(task, command, actor=ENG, at=at(30), reviewers=REVIEWERS | {ENG})


@pytest.mark.parametrize("command", [Command.REVIEW_PASS, Command.REVIEW_REWORK])
def test_review_by_non_reviewer_is_refused(command: Command):
    refused(at_step(Step.INTERNAL_REVIEW), command, OTHER, "not a reviewer")


@pytest.mark.parametrize("step", [Step.REQUIREMENTS, Step.SOLUTION_DESIGN, Step.PRESENTATION])
@pytest.mark.parametrize("command", [Command.REVIEW_PASS, Command.REVIEW_REWORK])
def test_review_outside_internal_review_is_refused(step: Step, command: Command):
    refused(at_step(step), command, REVIEWER, "only valid at Internal Review")


# --- hold and resume ------------------------------------------------------------------


@pytest.mark.parametrize("actor", [ENG, REVIEWER])
def test_hold_and_resume_restore_previous_status(actor: str):
    task = at_step(Step.INTERNAL_REVIEW)
    held = cmd(task, Command.HOLD, actor, hours=30)
    assert held.status is Status.ON_HOLD
    assert held.held_status is Status.WAITING_REVIEW
    assert held.step is Step.INTERNAL_REVIEW
    assert held.step_started_at == task.step_started_at
    assert held.events[-1].kind is EventKind.HELD
    assert (held.events[-1].from_status, held.events[-1].to_status) == (
        Status.WAITING_REVIEW,
        Status.ON_HOLD,
    )
    back = cmd(held, Command.RESUME, actor, hours=31)
    assert back.status is Status.WAITING_REVIEW
    assert back.held_status is None
    assert back.events[-1].kind is EventKind.RESUMED
    assert len(back.events) == len(task.events) + 2


def test_hold_by_outsider_is_refused():
    refused(assigned_task(), Command.HOLD, OTHER, "assigned engineer or a manager")


def test_resume_by_outsider_is_refused():
    held = cmd(assigned_task(), Command.HOLD, ENG)
    refused(held, Command.RESUME, OTHER, "assigned engineer or a manager")


@pytest.mark.parametrize(
    "command", [Command.SIGN_OFF, Command.REVIEW_PASS, Command.REVIEW_REWORK, Command.HOLD]
)
def test_held_task_refuses_everything_but_resume(command: Command):
    held = cmd(at_step(Step.INTERNAL_REVIEW), Command.HOLD, ENG, hours=30)
    actor = ENG if command in (Command.SIGN_OFF, Command.HOLD) else REVIEWER
    refused(held, command, actor, "on hold; set Resume")


def test_resume_when_not_held_is_refused():
    refused(assigned_task(), Command.RESUME, ENG, "not on hold")


# --- close ----------------------------------------------------------------------------


def test_close_keeps_step_and_records_outcome():
    task = at_step(Step.PRESENTATION)
    done = close(task, at=at(40), outcome="won", actor="sales-1")
    assert (done.step, done.status) == (Step.PRESENTATION, Status.CLOSED)
    assert done.step_started_at == task.step_started_at
    event = done.events[-1]
    assert (event.kind, event.outcome, event.actor) == (EventKind.CLOSED, "won", "sales-1")
    assert (event.from_status, event.to_status) == (Status.IN_PROGRESS, Status.CLOSED)
    for command in Command:
        refused(done, command, ENG, "closed")


def test_close_is_idempotent():
    done = close(assigned_task(), at=at(5), outcome="lost", actor="sales-1")
    assert close(done, at=at(6), outcome="won", actor="other") is done


def test_close_a_held_task_clears_hold():
    held = cmd(assigned_task(), Command.HOLD, ENG)
    done = close(held, at=at(5), outcome="lost", actor="sales-1")
    assert done.status is Status.CLOSED
    assert done.held_status is None
    refused(done, Command.RESUME, ENG, "closed")
