"""The presales domain, pure: a task walks five steps (五步法) by commands people set in the
CRM; engineers are dealt work by round robin; each step has a due date in working days and
a warning light. Everything here is a function of plain values — the current time, the
roster and the settings are arguments — so the sync layer decides when and what to store.
"""

from presales_sync.rules.assignment import (
    LEVEL_RANK,
    Assignment,
    Requirement,
    choose,
    reconcile_queue,
    round_robin,
)
from presales_sync.rules.calendar import BusinessCalendar, WeekendCalendar, WorkCalendar, step_due_date
from presales_sync.rules.expressions import Expression, ExpressionError
from presales_sync.rules.health import Health, evaluate_health
from presales_sync.rules.kpi import (
    Band,
    Dimension,
    Fact,
    KpiSettings,
    Metric,
    Period,
    Scorecard,
    score_quarter,
    score_year,
)
from presales_sync.rules.model import (
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
from presales_sync.rules.policy import (
    CompiledRules,
    RulesProblems,
    compile_rules,
    needs_presales,
    priority_of,
    requirement_of,
)
from presales_sync.rules.settings import PRIORITIES, AssignmentSettings, RulesSettings
from presales_sync.rules.sla import Outlook, assess, first_response_at, last_progress_at, requested_at
from presales_sync.rules.workflow import apply_command, assign, breach, close, create_task, reassign, replay

__all__ = [
    "LEVEL_RANK",
    "PRIORITIES",
    "STEP_ORDER",
    "Assignment",
    "AssignmentSettings",
    "Band",
    "BusinessCalendar",
    "Command",
    "CompiledRules",
    "Dimension",
    "DomainError",
    "Engineer",
    "EventKind",
    "Expression",
    "ExpressionError",
    "Fact",
    "Health",
    "KpiSettings",
    "Level",
    "Metric",
    "Outlook",
    "Period",
    "Requirement",
    "RulesProblems",
    "RulesSettings",
    "Scorecard",
    "Status",
    "Step",
    "Task",
    "TaskEvent",
    "WeekendCalendar",
    "WorkCalendar",
    "apply_command",
    "assess",
    "assign",
    "breach",
    "choose",
    "close",
    "compile_rules",
    "create_task",
    "evaluate_health",
    "first_response_at",
    "last_progress_at",
    "needs_presales",
    "priority_of",
    "reassign",
    "reconcile_queue",
    "replay",
    "requested_at",
    "requirement_of",
    "round_robin",
    "score_quarter",
    "score_year",
    "step_due_date",
]
