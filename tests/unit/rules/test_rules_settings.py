"""Rule settings: defaults, the shipped YAML, and what admins get wrong."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from presales_sync.rules import RulesSettings, Step

DEFAULT_YAML = Path(__file__).resolve().parents[3] / "rules" / "default.yaml"


def test_defaults():
    s = RulesSettings()
    assert s.step_days_for("P2") == {
        Step.REQUIREMENTS: 2,
        Step.SOLUTION_DESIGN: 5,
        Step.INTERNAL_REVIEW: 2,
        Step.PRESENTATION: 3,
        Step.FEEDBACK: 5,
    }
    assert s.days_for(Step.REQUIREMENTS, "P1") == 1
    assert s.days_for(Step.SOLUTION_DESIGN, "P3") == 8
    assert s.days_for(Step.SOLUTION_DESIGN, None) == 5  # unknown priority: the default's
    assert s.intake == "requested and not is_closed"
    assert s.stalled_after_days == 10
    assert s.response_hours == {"P1": 4, "P2": 8, "P3": 16}
    assert s.default_priority == "P2"
    assert s.yellow_within_days == 1


def test_shipped_yaml_validates_and_equals_the_defaults():
    with DEFAULT_YAML.open(encoding="utf-8") as fh:
        loaded = RulesSettings.model_validate(yaml.safe_load(fh))
    assert loaded == RulesSettings()
    assert all(isinstance(k, Step) for k in loaded.step_days)


def test_shipped_yaml_explains_every_knob():
    text = DEFAULT_YAML.read_text(encoding="utf-8")
    for knob in RulesSettings.model_fields:
        line = text.index(f"\n{knob}:")
        assert "#" in text[max(0, line - 300) : line], f"{knob} has no comment above it"


def test_frozen():
    with pytest.raises(pydantic.ValidationError):
        RulesSettings().yellow_within_days = 3  # type: ignore[misc]


def _invalid(data: dict[str, object], match: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=match):
        RulesSettings.model_validate(data)


def _step_days(**override: int) -> dict[str, int]:
    days = {str(k): v for k, v in RulesSettings().step_days.items()}
    days.update({k.replace("_", " "): v for k, v in override.items()})
    return days


def test_unknown_key_rejected():
    _invalid({"yelow_within_days": 2}, "yelow_within_days")


def test_missing_step_rejected():
    days = _step_days()
    del days["Presentation"]
    _invalid({"step_days": days}, "missing steps: Presentation")


def test_negative_days_rejected():
    _invalid({"step_days": _step_days(Feedback=-1)}, "must be >= 0: Feedback=-1")


def test_zero_days_allowed():
    assert RulesSettings.model_validate({"step_days": _step_days(Feedback=0)})


def test_done_and_unknown_steps_rejected():
    _invalid({"step_days": {**_step_days(), "Done": 1}}, "Done has no deadline")
    _invalid({"step_days": {**_step_days(), "Demo": 1}}, "step_days.Demo")


def test_response_hours_need_exactly_p1_p2_p3():
    _invalid({"response_hours": {"P1": 4, "P2": 8}}, "missing priorities: P3")
    _invalid({"response_hours": {"P1": 4, "P2": 8, "P3": 16, "P4": 1}}, "unknown priorities")
    _invalid({"response_hours": {"P1": 0, "P2": 8, "P3": 16}}, "must be >= 0.25")


def test_default_priority_must_be_known():
    _invalid({"default_priority": "P9"}, "default_priority 'P9'")


def test_yellow_within_days_not_negative():
    _invalid({"yellow_within_days": -1}, "greater than or equal to 0")
