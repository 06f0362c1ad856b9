"""The knobs admins tune for the rules, validated.

`rules/default.yaml` holds the defaults below; reading that file (or an admin's copy) is the
caller's job — this module only validates the parsed mapping:
`RulesSettings.model_validate(yaml.safe_load(text))`. Expressions (`intake`, `when:`) are
plain text here; `rules.policy.compile_rules` checks them against the mapped fields.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from presales_sync.rules.model import Level, Step

PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3")
Priority = Literal["P1", "P2", "P3"]

# Every step that can be late; Done has no deadline.
_TIMED_STEPS: tuple[Step, ...] = tuple(s for s in Step if s is not Step.DONE)


def _default_step_days() -> dict[Step, int | dict[str, int]]:
    return {
        Step.REQUIREMENTS: {"P1": 1, "P2": 2, "P3": 3},
        Step.SOLUTION_DESIGN: {"P1": 3, "P2": 5, "P3": 8},
        Step.INTERNAL_REVIEW: 2,
        Step.PRESENTATION: 3,
        Step.FEEDBACK: 5,
    }


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriorityRule(_Strict):
    """Raise a request's priority when `when` holds (rules raise, never lower)."""

    when: str
    priority: Priority


class LevelGate(_Strict):
    """Only engineers of `min_level` or above may take a request for which `when` holds."""

    when: str
    min_level: Level
    reason: str = ""


class SkillRule(_Strict):
    """A request for which `when` holds needs an engineer with all of `skills`."""

    when: str
    skills: list[str] = Field(min_length=1)


class AssignmentSettings(_Strict):
    """Assignment policies, applied in the order documented in docs/rules.md."""

    account_owner: bool = True
    level_gates: list[LevelGate] = Field(default_factory=lambda: [
        LevelGate(when="amount >= 1000000", min_level=Level.SENIOR, reason="deal of 1,000,000 or more"),
    ])
    skill_rules: list[SkillRule] = Field(default_factory=list)
    industry_match: Literal["prefer", "require", "off"] = "prefer"


def _default_response_hours() -> dict[str, float]:
    return {"P1": 4, "P2": 8, "P3": 16}


class RulesSettings(BaseModel):
    """Rule settings: intake, priority, assignment policies, deadlines, warning lights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intake: str = "requested and not is_closed"
    priority_rules: list[PriorityRule] = Field(default_factory=lambda: [
        PriorityRule(when="amount >= 5000000", priority="P1"),
        PriorityRule(when="close_date != null and working_days_until(close_date) <= 5", priority="P1"),
    ])
    step_days: dict[Step, int | dict[str, int]] = Field(default_factory=_default_step_days)
    response_hours: dict[str, float] = Field(default_factory=_default_response_hours)
    default_priority: str = "P2"
    yellow_within_days: int = Field(default=1, ge=0)
    stalled_after_days: int = Field(default=10, ge=0)
    assignment: AssignmentSettings = Field(default_factory=AssignmentSettings)

    @field_validator("step_days")
    @classmethod
    def _check_step_days(cls, value: dict[Step, int | dict[str, int]]) -> dict[Step, int | dict[str, int]]:
        if Step.DONE in value:
            raise ValueError("Done has no deadline; remove it from step_days")
        missing = [str(s) for s in _TIMED_STEPS if s not in value]
        if missing:
            raise ValueError(f"missing steps: {', '.join(missing)}")
        shape: list[str] = []
        negative: list[str] = []
        for step, days in value.items():
            if not isinstance(days, dict):
                negative += [f"{step}={days}"] if days < 0 else []
                continue
            unknown = sorted(set(days) - set(PRIORITIES))
            absent = [p for p in PRIORITIES if p not in days]
            if unknown:
                shape.append(f"{step}: unknown priorities {unknown}; use {', '.join(PRIORITIES)}")
            if absent:
                shape.append(f"{step}: missing priorities {', '.join(absent)}")
            negative += [f"{step}.{p}={n}" for p, n in days.items() if n < 0]
        if negative:
            raise ValueError(f"working days must be >= 0: {', '.join(negative)}")
        if shape:
            raise ValueError("; ".join(shape))
        return value

    @field_validator("response_hours")
    @classmethod
    def _check_response_hours(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(PRIORITIES))
        if unknown:
            raise ValueError(f"unknown priorities {unknown}; use {', '.join(PRIORITIES)}")
        missing = [p for p in PRIORITIES if p not in value]
        if missing:
            raise ValueError(f"missing priorities: {', '.join(missing)}")
        too_small = [f"{p}={h:g}" for p, h in value.items() if not h >= 0.25]
        if too_small:
            raise ValueError(f"response hours must be >= 0.25: {', '.join(too_small)}")
        return value

    @model_validator(mode="after")
    def _check_default_priority(self) -> Self:
        if self.default_priority not in self.response_hours:
            raise ValueError(
                f"default_priority {self.default_priority!r} is not one of {', '.join(PRIORITIES)}"
            )
        return self

    def priority_or_default(self, priority: str | None) -> str:
        return priority if priority in PRIORITIES else self.default_priority

    def days_for(self, step: Step, priority: str | None) -> int:
        """Working days allowed for `step` at `priority` (the default priority if unknown)."""
        days = self.step_days[step]
        return days[self.priority_or_default(priority)] if isinstance(days, dict) else days

    def step_days_for(self, priority: str | None) -> dict[Step, int]:
        return {step: self.days_for(step, priority) for step in self.step_days}

    def expressions(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every admin expression with its key path in the rules file (for error lines)."""
        found: list[tuple[tuple[str | int, ...], str]] = [(("intake",), self.intake)]
        found += [(("priority_rules", i, "when"), r.when) for i, r in enumerate(self.priority_rules)]
        a = self.assignment
        found += [(("assignment", "level_gates", i, "when"), g.when) for i, g in enumerate(a.level_gates)]
        found += [(("assignment", "skill_rules", i, "when"), r.when) for i, r in enumerate(a.skill_rules)]
        return found


__all__ = ["PRIORITIES", "AssignmentSettings", "LevelGate", "Priority", "PriorityRule", "RulesSettings",
           "SkillRule"]
