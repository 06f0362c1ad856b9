"""The presales domain as plain, immutable values: steps, statuses, commands, engineers,
tasks and their events. No I/O here; the sync layer stores and loads these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Step(StrEnum):
    """The five steps (五步法) in order, then Done."""

    REQUIREMENTS = "Requirements"
    SOLUTION_DESIGN = "Solution Design"
    INTERNAL_REVIEW = "Internal Review"
    PRESENTATION = "Presentation"
    FEEDBACK = "Feedback"
    DONE = "Done"


STEP_ORDER: tuple[Step, ...] = tuple(Step)


class Status(StrEnum):
    NEW = "New"
    ASSIGNED = "Assigned"
    IN_PROGRESS = "In Progress"
    REWORK = "Rework"
    WAITING_REVIEW = "Waiting Review"
    PRESENTED = "Presented"
    CLOSED = "Closed"
    ON_HOLD = "On Hold"


class Command(StrEnum):
    """What people ask for in the CRM, one action record each (``Presales_Action__c``)."""

    REQUEST = "Request"
    SIGN_OFF = "Sign Off"
    REVIEW_PASS = "Review Pass"
    REVIEW_REWORK = "Review Rework"
    HOLD = "Hold"
    RESUME = "Resume"
    REASSIGN = "Reassign"


class Level(StrEnum):
    JUNIOR = "junior"
    INTERMEDIATE = "intermediate"
    SENIOR = "senior"
    EXPERT = "expert"


class EventKind(StrEnum):
    CREATED = "created"
    ASSIGNED = "assigned"
    SIGNED_OFF = "signed_off"
    REVIEWED = "reviewed"
    HELD = "held"
    RESUMED = "resumed"
    CLOSED = "closed"
    SLA_BREACHED = "sla_breached"  # a deadline passed (the first response or the step's)


@dataclass(frozen=True, slots=True)
class Engineer:
    crm_user_id: str
    name: str
    level: Level = Level.JUNIOR
    reviewer: bool = False
    skills: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    capacity: int = 5
    active: bool = True
    manager_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One immutable fact in a task's history: who did what, when, from where to where."""

    kind: EventKind
    at: datetime
    actor: str
    from_step: Step | None
    to_step: Step | None
    from_status: Status | None
    to_status: Status | None
    outcome: str | None = None
    note: str | None = None
    #: Who holds the task after the event (so a task can be replayed from its events alone).
    engineer_id: str | None = None
    #: The CRM record of the person's action that caused the event (None: the plugin's own).
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """A presales task for one opportunity. `events` only ever grows."""

    opportunity_id: str
    step: Step = Step.REQUIREMENTS
    status: Status = Status.NEW
    engineer_id: str | None = None
    rework_count: int = 0
    step_started_at: datetime | None = None
    held_status: Status | None = None
    events: tuple[TaskEvent, ...] = field(default_factory=tuple)

    @property
    def is_open(self) -> bool:
        return self.status is not Status.CLOSED


class DomainError(Exception):
    """A command the workflow refuses; `reason` is written back to the CRM for people."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


__all__ = [
    "STEP_ORDER",
    "Command",
    "DomainError",
    "Engineer",
    "EventKind",
    "Level",
    "Status",
    "Step",
    "Task",
    "TaskEvent",
]
