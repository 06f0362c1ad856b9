"""The rules file and the calendar as the config loader sees them: expression errors name the
rules file's line and key; the calendar accepts a country code or a full block."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from presales_sync.mappings import FileProblems
from presales_sync.rules import BusinessCalendar, WeekendCalendar
from presales_sync.sync import config as config_mod


def _write(tmp_path: Path, *, rules: str | None = None, calendar: object = None) -> Path:
    (tmp_path / "engineers.yaml").write_text(
        "engineers:\n  - {crm_user_id: 005A, name: A, manager: 005M}\nmanagers: [005M]\n", encoding="utf-8")
    cfg: dict[str, object] = {"crm": {"kind": "salesforce", "instance_url": "https://x.my.salesforce.com"}}
    if rules is not None:
        (tmp_path / "rules.yaml").write_text(rules, encoding="utf-8")
        cfg["rules"] = "rules.yaml"
    if calendar is not None:
        cfg["calendar"] = calendar
    path = tmp_path / "presales.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_misspelt_field_in_an_expression_names_file_line_key_and_suggestion(tmp_path: Path) -> None:
    rules = ("# my rules\n"
             "intake: requested and not is_closed\n"
             "assignment:\n"
             "  level_gates:\n"
             "    - {when: 'ammount >= 1000000', min_level: senior}\n")
    with pytest.raises(FileProblems) as err:
        config_mod.load(_write(tmp_path, rules=rules))
    (problem,) = err.value.problems
    assert str(problem) == (f"{tmp_path / 'rules.yaml'}:5: assignment.level_gates.0.when: "
                            "unknown name 'ammount' (column 1); did you mean 'amount'?")


def test_default_rules_and_roster_manager_load(tmp_path: Path) -> None:
    loaded = config_mod.load(_write(tmp_path))
    assert loaded.engineers["005A"].manager_id == "005M"
    assert type(loaded.calendar()) is WeekendCalendar
    assert loaded.compiled_rules(date(2026, 11, 23)).intake.text == "requested and not is_closed"


def test_calendar_shorthand_and_full_block(tmp_path: Path) -> None:
    cn = config_mod.load(_write(tmp_path, calendar="CN")).calendar()
    assert isinstance(cn, BusinessCalendar) and cn.is_working_day(date(2026, 2, 14))  # 调休
    block = {"country": "US", "subdivision": "CA", "extra_holidays": ["2026-12-24"],
             "extra_working_days": ["2026-11-28"], "work_start": "08:30", "work_end": "17:30"}
    us = config_mod.load(_write(tmp_path, calendar=block)).calendar()
    assert not us.is_working_day(date(2026, 12, 24)) and us.is_working_day(date(2026, 11, 28))
    assert str(us.work_start) == "08:30:00" and us.tz is not None


@pytest.mark.parametrize(("calendar", "message"), [
    ("XX", "unknown country or subdivision 'XX'"),
    ({"country": "weekends", "subdivision": "CA"}, "a subdivision needs a country"),
    ({"country": "CN", "work_start": "18:00", "work_end": "09:00"}, "must be before work_end"),
])
def test_bad_calendar_is_a_config_problem(tmp_path: Path, calendar: object, message: str) -> None:
    with pytest.raises(FileProblems) as err:
        config_mod.load(_write(tmp_path, calendar=calendar))
    assert message in str(err.value) and "presales.yaml" in str(err.value) and "calendar" in str(err.value)
