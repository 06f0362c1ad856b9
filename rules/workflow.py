"""The five-step workflow (五步法) as a pure state machine over the frozen `Task`.

Every accepted transition returns a new `Task` whose `events` is the old tuple plus exactly one
`TaskEvent`; a refused command raises `DomainError` and leaves the task untouched. The reasons
are written back to a 255-character CRM text field, so they are short and say what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from presales_sync.rules.model import Command, DomainError, Engineer, EventKind, Status, Step, Task, TaskEvent

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
    source: str | None = None,
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
        engineer_id=after.engineer_id,
        source=source,
    )
    started = at if after.step is not before.step else before.step_started_at
    return replace(after, step_started_at=started, events=(*before.events, event))


def create_task(opportunity_id: str, *, at: datetime, actor: str, note: str | None = None,
                source: str | None = None) -> Task:
    """A new task at Requirements, status New, with its CREATED event (`at`: when the
    rep asked, as the CRM recorded it)."""
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
        note=note,
        source=source,
    )
    return Task(
        opportunity_id=opportunity_id,
        step=Step.REQUIREMENTS,
        status=Status.NEW,
        step_started_at=at,
        events=(event,),
    )


def assign(task: Task, engineer_id: str, *, at: datetime, actor: str, reason: str,
           source: str | None = None) -> Task:
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
    return _record(task, after, kind=EventKind.ASSIGNED, at=at, actor=actor, note=reason, source=source)


def reassign(task: Task, engineer_id: str | None, *, actor: str, at: datetime, managers: frozenset[str],
             engineers: Mapping[str, Engineer], names: Mapping[str, str], note: str | None = None,
             source: str | None = None) -> Task:
    """A presales manager's Reassign action: the task goes to `engineer_id`, an active engineer
    of the roster; anyone else's, or to someone else, is refused (`DomainError`). The event's
    note is the manager's `note`, else who moved it from whom to whom; `names` turns user ids
    into people's names for it and for the reasons."""
    _require_aware(at)
    if not task.is_open:
        raise DomainError("Task is closed; Reassign is no longer accepted.")
    if actor not in managers:
        raise DomainError(f"Only a presales manager can reassign; {names.get(actor, actor)} is not one.")
    if not engineer_id:
        raise DomainError("Reassign names no engineer; fill in New Engineer.")
    engineer = engineers.get(engineer_id)
    if engineer is None or not engineer.active:
        raise DomainError(f"{names.get(engineer_id, engineer_id)} is not an active presales engineer "
                          "in the roster.")
    if engineer_id == task.engineer_id:
        raise DomainError(f"The task is already with {names.get(engineer_id, engineer_id)}.")
    before = names.get(task.engineer_id, task.engineer_id) if task.engineer_id else "nobody"
    reason = note or (f"reassigned by {names.get(actor, actor)} from {before} to "
                      f"{names.get(engineer_id, engineer_id)}")
    return assign(task, engineer_id, at=at, actor=actor, source=source, reason=reason)


def apply_command(
    task: Task,
    command: Command,
    *,
    actor: str,
    at: datetime,
    reviewers: frozenset[str],
    note: str | None = None,
    source: str | None = None,
    names: Mapping[str, str] | None = None,
) -> Task:
    """Apply a person's workflow command, or raise `DomainError(reason)`.

    `reviewers` are the people allowed to review (and to hold or resume any task), such as
    the roster's reviewers and managers. `note` (the rework or hold reason) and `source` (the
    action record) are kept on the event; `names` words the reasons with people's names.
    Request and Reassign are not workflow steps: `create_task` and `reassign` take them.
    """
    _require_aware(at)
    names = names or {}
    if not task.is_open:
        raise DomainError(f"Task is closed; {command} is no longer accepted.")
    if task.status is Status.ON_HOLD and command is not Command.RESUME:
        raise DomainError(f"Task is on hold; set Resume before {command}.")
    if command is Command.SIGN_OFF:
        return _sign_off(task, actor=actor, at=at, note=note, source=source, names=names)
    if command in (Command.REVIEW_PASS, Command.REVIEW_REWORK):
        return _review(task, command, actor=actor, at=at, reviewers=reviewers, note=note, source=source,
                       names=names)
    if command is Command.HOLD:
        _require_owner_or_reviewer(task, command, actor, reviewers)
        after = replace(task, status=Status.ON_HOLD, held_status=task.status)
        return _record(task, after, kind=EventKind.HELD, at=at, actor=actor, note=note, source=source)
    if command is Command.RESUME:
        if task.status is not Status.ON_HOLD:
            raise DomainError("Task is not on hold; Resume is not needed.")
        _require_owner_or_reviewer(task, command, actor, reviewers)
        after = replace(task, status=task.held_status or Status.IN_PROGRESS, held_status=None)
        return _record(task, after, kind=EventKind.RESUMED, at=at, actor=actor, note=note, source=source)
    raise DomainError(f"{command} is not a workflow step; it is applied on its own.")


def _sign_off(task: Task, *, actor: str, at: datetime, note: str | None, source: str | None,
              names: Mapping[str, str]) -> Task:
    if task.engineer_id is None:
        raise DomainError("No engineer assigned; a manager must assign one before Sign Off.")
    if actor != task.engineer_id:
        raise DomainError(
            f"Only the assigned engineer ({names.get(task.engineer_id, task.engineer_id)}) can sign "
            f"off {task.step}; {names.get(actor, actor)} is not."
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
    return _record(task, after, kind=EventKind.SIGNED_OFF, at=at, actor=actor, note=note, source=source)


def _review(
    task: Task, command: Command, *, actor: str, at: datetime, reviewers: frozenset[str],
    note: str | None, source: str | None, names: Mapping[str, str],
) -> Task:
    if task.step is not Step.INTERNAL_REVIEW:
        raise DomainError(
            f"{command} is only valid at Internal Review; the task is at {task.step}."
        )
    if actor == task.engineer_id:
        raise DomainError("Authors cannot review their own solution; ask another reviewer.")
    if actor not in reviewers:
        raise DomainError(f"{names.get(actor, actor)} is not a reviewer; ask a reviewer to set {command}.")
    if command is Command.REVIEW_PASS:
        after = replace(task, step=Step.PRESENTATION, status=Status.IN_PROGRESS)
        return _record(task, after, kind=EventKind.REVIEWED, at=at, actor=actor, outcome="pass", note=note,
                       source=source)
    after = replace(
        task,
        step=Step.SOLUTION_DESIGN,
        status=Status.REWORK,
        rework_count=task.rework_count + 1,
    )
    return _record(task, after, kind=EventKind.REVIEWED, at=at, actor=actor, outcome="rework", note=note,
                   source=source)


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


def breach(task: Task, *, reason: str, at: datetime, actor: str) -> Task:
    """Record that the task's deadline passed (`reason` says which): once per step, so a task
    that stays red is not recorded again on every run. Step and status do not change."""
    _require_aware(at)
    if not task.is_open:
        return task
    started = task.step_started_at
    for event in reversed(task.events):
        if started is not None and event.at < started:
            break
        if event.kind is EventKind.SLA_BREACHED and event.from_step is task.step:
            return task
    return _record(task, task, kind=EventKind.SLA_BREACHED, at=at, actor=actor, note=reason)


def _held_after(task: Task, event: TaskEvent) -> Status | None:
    """The status a hold keeps, after `event` (as `apply_command` / `assign` / `close` set it)."""
    if event.kind is EventKind.HELD:
        return event.from_status
    if event.kind is EventKind.ASSIGNED:
        return Status.ASSIGNED if task.held_status is Status.NEW else task.held_status
    if event.kind in (EventKind.RESUMED, EventKind.CLOSED):
        return None
    return task.held_status


def replay(opportunity_id: str, events: Sequence[TaskEvent]) -> Task:
    """The task its events describe: what `create_task` and the transitions after it built,
    recovered from the history alone (the CRM's copy of it, when the store is lost)."""
    if not events or events[0].kind is not EventKind.CREATED:
        raise ValueError(f"the history of {opportunity_id} does not start with its creation")
    task = Task(opportunity_id=opportunity_id, step_started_at=events[0].at, events=(events[0],))
    for event in events[1:]:
        step = event.to_step or task.step
        status = event.to_status or task.status
        held = _held_after(task, event)
        rework = task.rework_count + (event.kind is EventKind.REVIEWED and event.outcome == "rework")
        task = replace(task, step=step, status=status, held_status=held, rework_count=rework,
                       engineer_id=event.engineer_id if event.engineer_id else task.engineer_id,
                       step_started_at=event.at if step is not task.step else task.step_started_at,
                       events=(*task.events, event))
    return task


__all__ = ["apply_command", "assign", "breach", "close", "create_task", "reassign", "replay"]
