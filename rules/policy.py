"""The admin's rules compiled against the mapped fields: intake, priority, assignment needs.

`compile_rules` checks every expression of a `RulesSettings` once (unknown names with a
suggestion, regex refused, type errors) and reports all problems with their key paths, so
the config loader can point at the file's lines. The compiled rules are then plain
functions of a record's domain values; `today` and the calendar are arguments, never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from presales_sync.rules.assignment import LEVEL_RANK, Requirement
from presales_sync.rules.calendar import WorkCalendar
from presales_sync.rules.expressions import Expression, ExpressionError, ExpressionLimits
from presales_sync.rules.model import Level
from presales_sync.rules.settings import PRIORITIES, RulesSettings

KeyPath = tuple[str | int, ...]


class RulesProblems(ValueError):
    """Expressions that do not compile, each with its key path in the rules file."""

    def __init__(self, problems: list[tuple[KeyPath, ExpressionError]]):
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, k))}: {e}" for k, e in problems))


@dataclass(frozen=True, slots=True)
class CompiledRules:
    settings: RulesSettings
    intake: Expression
    priority_rules: tuple[tuple[Expression, str], ...]
    level_gates: tuple[tuple[Expression, Level, str], ...]
    skill_rules: tuple[tuple[Expression, frozenset[str]], ...]


def compile_rules(settings: RulesSettings, *, fields: Mapping[str, type], today: date,
                  calendar: WorkCalendar | None = None,
                  limits: ExpressionLimits | None = None) -> CompiledRules:
    """Compile every expression of `settings` against `fields` (domain name → Python type)
    within the cost `limits` (the defaults when None); raise RulesProblems listing all that fail."""
    compiled: dict[KeyPath, Expression] = {}
    problems: list[tuple[KeyPath, ExpressionError]] = []
    for path, text in settings.expressions():
        try:
            compiled[path] = Expression.compile(text, fields=fields, today=today, calendar=calendar,
                                                limits=limits)
        except ExpressionError as err:
            problems.append((path, err))
    if problems:
        raise RulesProblems(problems)
    a = settings.assignment
    return CompiledRules(
        settings=settings,
        intake=compiled[("intake",)],
        priority_rules=tuple((compiled[("priority_rules", i, "when")], r.priority)
                             for i, r in enumerate(settings.priority_rules)),
        level_gates=tuple((compiled[("assignment", "level_gates", i, "when")], g.min_level,
                           g.reason or g.when) for i, g in enumerate(a.level_gates)),
        skill_rules=tuple((compiled[("assignment", "skill_rules", i, "when")], frozenset(r.skills))
                          for i, r in enumerate(a.skill_rules)),
    )


def needs_presales(rules: CompiledRules, values: Mapping[str, Any]) -> bool:
    """Whether an opportunity without a task asks for presales (the intake expression)."""
    return rules.intake.evaluate(values)


def priority_of(rules: CompiledRules, values: Mapping[str, Any]) -> tuple[str, str | None]:
    """(priority, why it was raised or None). Sales' choice (or the default) stands unless the
    first matching priority rule asks for something more urgent."""
    stated = rules.settings.priority_or_default(values.get("priority"))
    for expression, priority in rules.priority_rules:
        if expression.evaluate(values):
            if PRIORITIES.index(priority) < PRIORITIES.index(stated):
                return priority, f"priority raised to {priority}: {expression.text}"
            break
    return stated, None


def requirement_of(rules: CompiledRules, values: Mapping[str, Any], *,
                   account_owner: str | None) -> Requirement:
    """What an engineer must have to take this request, and who owns its account."""
    min_level: Level | None = None
    level_reason = ""
    for expression, level, reason in rules.level_gates:
        if expression.evaluate(values) and (min_level is None or LEVEL_RANK[level] > LEVEL_RANK[min_level]):
            min_level, level_reason = level, reason
    skills: frozenset[str] = frozenset()
    for expression, needed in rules.skill_rules:
        if expression.evaluate(values):
            skills |= needed
    a = rules.settings.assignment
    industry = values.get("industry") if a.industry_match != "off" else None
    return Requirement(
        min_level=min_level, level_reason=level_reason, skills=skills,
        industry=str(industry) if industry else None, industry_match=a.industry_match,
        account=values.get("account_name") or values.get("account_id"),
        account_owner=account_owner if a.account_owner else None,
    )


__all__ = ["CompiledRules", "RulesProblems", "compile_rules", "needs_presales", "priority_of",
           "requirement_of"]
