"""The knobs admins tune for the rules, validated.

`rules/default.yaml` holds the defaults below; reading that file (or an admin's copy) is the
caller's job — this module only validates the parsed mapping:
`RulesSettings.model_validate(yaml.safe_load(text))`.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.model import Step

PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3")

# Every step that can be late; Done has no deadline.
_TIMED_STEPS: tuple[Step, ...] = tuple(s for s in Step if s is not Step.DONE)


def _default_step_days() -> dict[Step, int]:
    return {
        Step.REQUIREMENTS: 2,
        Step.SOLUTION_DESIGN: 5,
        Step.INTERNAL_REVIEW: 2,
        Step.PRESENTATION: 3,
        Step.FEEDBACK: 5,
    }


def _default_response_hours() -> dict[str, int]:
    return {"P1": 4, "P2": 8, "P3": 16}


class RulesSettings(BaseModel):
    """Rule settings: working days per step, response hours per priority, warning band."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step_days: dict[Step, int] = Field(default_factory=_default_step_days)
    response_hours: dict[str, int] = Field(default_factory=_default_response_hours)
    default_priority: str = "P2"
    yellow_within_days: int = Field(default=1, ge=0)

    @field_validator("step_days")
    @classmethod
    def _check_step_days(cls, value: dict[Step, int]) -> dict[Step, int]:
        if Step.DONE in value:
            raise ValueError("Done has no deadline; remove it from step_days")
        missing = [str(s) for s in _TIMED_STEPS if s not in value]
        if missing:
            raise ValueError(f"missing steps: {', '.join(missing)}")
        negative = [f"{s}={n}" for s, n in value.items() if n < 0]
        if negative:
            raise ValueError(f"working days must be >= 0: {', '.join(negative)}")
        return value

    @field_validator("response_hours")
    @classmethod
    def _check_response_hours(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(PRIORITIES))
        if unknown:
            raise ValueError(f"unknown priorities {unknown}; use {', '.join(PRIORITIES)}")
        missing = [p for p in PRIORITIES if p not in value]
        if missing:
            raise ValueError(f"missing priorities: {', '.join(missing)}")
        too_small = [f"{p}={h}" for p, h in value.items() if h < 1]
        if too_small:
            raise ValueError(f"response hours must be >= 1: {', '.join(too_small)}")
        return value

    @model_validator(mode="after")
    def _check_default_priority(self) -> Self:
        if self.default_priority not in self.response_hours:
            raise ValueError(
                f"default_priority {self.default_priority!r} is not one of {', '.join(PRIORITIES)}"
            )
        return self


__all__ = ["PRIORITIES", "RulesSettings"]
