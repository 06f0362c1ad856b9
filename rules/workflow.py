"""The five-step workflow (五步法) as a pure state machine over the frozen `Task`.

Every accepted transition returns a new `Task` whose `events` is the old tuple plus exactly one
`TaskEvent`; a refused command raises `DomainError` and leaves the task untouched. The reasons
are written back to a 255-character CRM text field, so they are short and say what to do.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from presales_sync.rules.model import Command, DomainError, EventKind, Status, Step, Task, TaskEvent

# Sign Off at these steps moves the task on; Internal Review is absent on purpose: it ends
# with a review by someone other than the author, never with the author's own sign-off.
_SIGN_OFF: dict[Step, tuple[Step, Status]] = {
    Step.REQUIREMENTS: (Step.SOLUTION_DESIGN, Status.IN_PROGRESS),
    Step.SOLUTION_DESIGN: (Step.INTERNAL_REVIEW, Status.WAITING_REVIEW),
    Step.PRESENTATION: (Step.FEEDBACK, Status.PRESENTED),
    Step.FEEDBACK: (Step.DONE, Status.CLOSED),
}


def _require_aware(at: datetime) -> None:
    # A naive time would be read in the host's zone later (due dates), a hidden clock.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("`at` must be a timezone-aware datetime")


def _record(
    before: Task,
    after: Task,
    *,
    kind: EventKind,
    at: datetime,
    actor: str,
    outcome: str | None = None,
    note: str | None = None,
) -> Task:
    """Finish one transition: append exactly one event describing `before` → `after`."""
    _require_aware(at)
    event = TaskEvent(
        kind=kind,
        at=at,
        actor=actor,
        from_step=before.step,
        to_step=after.step,
        from_status=before.status,
        to_status=after.status,
        outcome=outcome,
        note=note,
    )
    started = at if after.step is not before.step else before.step_started_at
    return replace(after, step_started_at=started, events=(*before.events, event))


def create_task(opportunity_id: str, *, at: datetime, actor: str) -> Task:
    """A new task at Requirements, status New, with its CREATED event."""
    _require_aware(at)
    if not opportunity_id:
        raise ValueError("opportunity_id must not be empty")
    event = TaskEvent(
        kind=EventKind.CREATED,
        at=at,
        actor=actor,
        from_step=None,
        to_step=Step.REQUIREMENTS,
        from_status=None,
        to_status=Status.NEW,
    )
    return Task(
        opportunity_id=opportunity_id,
        step=Step.REQUIREMENTS,
        status=Status.NEW,
        step_started_at=at,
        events=(event,),
    )


def assign(task: Task, engineer_id: str, *, at: datetime, actor: str, reason: str) -> Task:
    """Set (or change) the task's engineer; New becomes Assigned, other statuses stay.

    Assigning the engineer who already holds the task is not a change and returns the task
    as it is, so a sync run that re-reads the same owner records nothing new.
    """
    if not task.is_open:
        raise DomainError("Task is closed; it cannot be assigned.")
    if not engineer_id:
        raise DomainError("No engineer given; pick a presales engineer to assign.")
    if engineer_id == task.engineer_id:
        return task
    status = Status.ASSIGNED if task.status is Status.NEW else task.status
    # A task held before anyone owned it resumes as Assigned, not New.
    held = Status.ASSIGNED if task.held_status is Status.NEW else task.held_status
    after = replace(task, engineer_id=engineer_id, status=status, held_status=held)
    return _record(task, after, kind=EventKind.ASSIGNED, at=at, actor=actor, note=reason)


def apply_command(
    task: Task,
    command: Command,
    *,
    actor: str,
    at: datetime,
    reviewers: frozenset[str],
) -> Task:
    """Apply a command from the CRM's sign-off field, or raise `DomainError(reason)`.

    `reviewers` are the people allowed to review (and to hold or resume any task), such as
    the roster's reviewers and managers.
    """
    _require_aware(at)
    if not task.is_open:
        raise DomainError(f"Task is closed; {command} is no longer accepted.")
    if task.status is Status.ON_HOLD and command is not Command.RESUME:
        raise DomainError(f"Task is on hold; set Resume before {command}.")
    if command is Command.SIGN_OFF:
        return _sign_off(task, actor=actor, at=at)
    if command in (Command.REVIEW_PASS, Command.REVIEW_REWORK):
        return _review(task, command, actor=actor, at=at, reviewers=reviewers)
    if command is Command.HOLD:
        _require_owner_or_reviewer(task, command, actor, reviewers)
        after = replace(task, status=Status.ON_HOLD, held_status=task.status)
        return _record(task, after, kind=EventKind.HELD, at=at, actor=actor)
    if command is Command.RESUME:
        if task.status is not Status.ON_HOLD:
            raise DomainError("Task is not on hold; Resume is not needed.")
        _require_owner_or_reviewer(task, command, actor, reviewers)
        after = replace(task, status=task.held_status or Status.IN_PROGRESS, held_status=None)
        return _record(task, after, kind=EventKind.RESUMED, at=at, actor=actor)
    raise DomainError(f"Unknown command {command!r}.")  # pragma: no cover - enum is closed


def _sign_off(task: Task, *, actor: str, at: datetime) -> Task:
    if task.engineer_id is None:
        raise DomainError("No engineer assigned; a manager must assign one before Sign Off.")
    if actor != task.engineer_id:
        raise DomainError(
            f"Only the assigned engineer ({task.engineer_id}) can sign off {task.step}."
        )
    if task.step is Step.INTERNAL_REVIEW:
        raise DomainError(
            "Internal Review ends with Review Pass or Review Rework by a reviewer, not Sign Off."
        )
    target = _SIGN_OFF.get(task.step)
    if target is None:
        raise DomainError(f"Nothing to sign off at {task.step}.")
    step, status = target
    after = replace(task, step=step, status=status)
    return _record(task, after, kind=EventKind.SIGNED_OFF, at=at, actor=actor)


def _review(
    task: Task, command: Command, *, actor: str, at: datetime, reviewers: frozenset[str]
) -> Task:
    if task.step is not Step.INTERNAL_REVIEW:
        raise DomainError(
            f"{command} is only valid at Internal Review; the task is at {task.step}."
        )
    if actor == task.engineer_id:
        raise DomainError("Authors cannot review their own solution; ask another reviewer.")
    if actor not in reviewers:
        raise DomainError(f"{actor} is not a reviewer; ask a reviewer to set {command}.")
    if command is Command.REVIEW_PASS:
        after = replace(task, step=Step.PRESENTATION, status=Status.IN_PROGRESS)
        return _record(task, after, kind=EventKind.REVIEWED, at=at, actor=actor, outcome="pass")
    after = replace(
        task,
        step=Step.SOLUTION_DESIGN,
        status=Status.REWORK,
        rework_count=task.rework_count + 1,
    )
    return _record(task, after, kind=EventKind.REVIEWED, at=at, actor=actor, outcome="rework")


def _require_owner_or_reviewer(
    task: Task, command: Command, actor: str, reviewers: frozenset[str]
) -> None:
    if actor != task.engineer_id and actor not in reviewers:
        raise DomainError(f"Only the assigned engineer or a manager/reviewer can set {command}.")


def close(task: Task, *, at: datetime, outcome: str, actor: str) -> Task:
    """The opportunity closed (outcome "won" or "lost"): status Closed, step unchanged.

    Closing an already closed task returns it unchanged, so a re-read close is harmless.
    """
    if not task.is_open:
        return task
    after = replace(task, status=Status.CLOSED, held_status=None)
    return _record(task, after, kind=EventKind.CLOSED, at=at, actor=actor, outcome=outcome)


__all__ = ["apply_command", "assign", "close", "create_task"]
