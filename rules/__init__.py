"""The presales domain, pure: a task walks five steps (五步法) by commands people set in the
CRM; engineers are dealt work by round robin; each step has a due date in working days and
a warning light. Everything here is a function of plain values — the current time, the
roster and the settings are arguments — so the sync layer decides when and what to store.
"""

from rules.assignment import Assignment, reconcile_queue, round_robin
from rules.calendar import BusinessCalendar, WeekendCalendar, WorkCalendar, step_due_date
from rules.expressions import Expression, ExpressionError
from rules.health import Health, evaluate_health
from rules.model import (
    STEP_ORDER,
    Command,
    DomainError,
    Engineer,
    EventKind,
    Level,
    Status,
    Step,
    Task,
    TaskEvent,
)
from rules.settings import PRIORITIES, RulesSettings
from rules.workflow import apply_command, assign, close, create_task

__all__ = [
    "PRIORITIES",
    "STEP_ORDER",
    "Assignment",
    "BusinessCalendar",
    "Command",
    "DomainError",
    "Engineer",
    "EventKind",
    "Expression",
    "ExpressionError",
    "Health",
    "Level",
    "RulesSettings",
    "Status",
    "Step",
    "Task",
    "TaskEvent",
    "WeekendCalendar",
    "WorkCalendar",
    "apply_command",
    "assign",
    "close",
    "create_task",
    "evaluate_health",
    "reconcile_queue",
    "round_robin",
    "step_due_date",
]
