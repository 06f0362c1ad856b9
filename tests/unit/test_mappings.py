"""The mapping language and its loader: errors name file, line and key; transforms keep
missing, None and falsy apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from presales_sync import mappings
from presales_sync.mappings import FileProblems, canonical, inbound, observed, outbound
from presales_sync.sync.ledger import changed_by_crm, diff

DEFAULT = mappings.default_mapping_path("salesforce")


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "mapping.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _default_text() -> str:
    return DEFAULT.read_text(encoding="utf-8")


def test_default_mapping_loads() -> None:
    m = mappings.load_mapping(DEFAULT)
    assert m.opportunity.object == "Opportunity"
    assert m.opportunity.outbound["step"].field == "Presales_Step__c"


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "version: 1\ncrm: salesforce\nopportunity: [\n  oops: {\n")
    with pytest.raises(FileProblems) as e:
        mappings.load_mapping(p)
    (problem,) = e.value.problems
    assert problem.file == str(p) and problem.line is not None and "malformed YAML" in problem.message


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    text = _default_text().replace("  inbound:", "  inbund:", 1)
    p = _write(tmp_path, text)
    with pytest.raises(FileProblems) as e:
        mappings.load_mapping(p)
    msgs = [str(x) for x in e.value.problems]
    unknown = [x for x in e.value.problems if x.key == "opportunity.inbund"]
    assert unknown, msgs
    assert "did you mean 'inbound'" in unknown[0].message
    expected_line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("  inbund:"))
    assert unknown[0].line == expected_line


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    text = _default_text().replace("{field: Amount, type: number, scale: 2}", "{field: Amount, type: money}")
    p = _write(tmp_path, text)
    with pytest.raises(FileProblems) as e:
        mappings.load_mapping(p)
    (problem,) = e.value.problems
    assert problem.key == "opportunity.inbound.amount.type"
    assert problem.line == next(i for i, line in enumerate(text.splitlines(), 1) if "type: money" in line)


def test_duplicate_outbound_target_is_refused(tmp_path: Path) -> None:
    text = _default_text().replace("{field: Presales_Health__c}", "{field: Presales_Status__c}")
    with pytest.raises(FileProblems, match="both write Presales_Status__c"):
        mappings.load_mapping(_write(tmp_path, text))


def test_missing_required_mapping_is_named(tmp_path: Path) -> None:
    lines = [x for x in _default_text().splitlines() if not x.strip().startswith("requested:")]
    with pytest.raises(FileProblems, match=r"opportunity\.inbound\.requested"):
        mappings.load_mapping(_write(tmp_path, "\n".join(lines)))


def test_bad_field_name_is_refused(tmp_path: Path) -> None:
    text = _default_text().replace("{field: StageName}", "{field: \"StageName; DROP\"}")
    with pytest.raises(FileProblems, match="not a CRM field API name"):
        mappings.load_mapping(_write(tmp_path, text))


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    ("integer", 0, 0), ("integer", 0.0, 0), ("integer", 3.0, 3), ("number", 0, 0.0),
    ("boolean", False, False), ("boolean", "false", False), ("string", "", None),
    ("string", None, None), ("date", "2026-11-20", "2026-11-20"),
    ("datetime", "2026-11-20T08:15:02.000+0000", "2026-11-20T08:15:02.000Z"),
    ("datetime", "2026-11-20T16:15:02+08:00", "2026-11-20T08:15:02.000Z"),
])
def test_canonical_values(kind: str, raw: object, expected: object) -> None:
    got = canonical(kind, raw)  # type: ignore[arg-type]
    assert got == expected and type(got) is type(expected)


def test_inbound_keeps_absent_none_and_falsy_apart() -> None:
    m = mappings.load_mapping(DEFAULT).opportunity
    absent = inbound(m, {})
    assert absent["requested"] is False and absent["priority"] == "P2" and absent["amount"] is None
    present = inbound(m, {"Amount": 0, "Presales_Requested__c": False, "Presales_Priority__c": None,
                          "Presales_Engineer__c": ""})
    assert present["amount"] == 0.0 and present["amount"] is not None
    assert present["requested"] is False
    assert present["priority"] == "P2"  # a null falls back to the mapping's default
    assert present["engineer"] is None


def test_value_maps_translate_both_ways(tmp_path: Path) -> None:
    text = _default_text().replace(
        "step:             {field: Presales_Step__c}",
        "step:             {field: Presales_Step__c, values: {Requirements: 需求收集, Done: 完成}}")
    m = mappings.load_mapping(_write(tmp_path, text)).opportunity
    assert outbound(m, {"step": "Requirements"}) == {"Presales_Step__c": "需求收集"}
    assert outbound(m, {"step": "Presentation"}) == {"Presales_Step__c": "Presentation"}


def test_echo_of_our_write_is_no_diff() -> None:
    m = mappings.load_mapping(DEFAULT).opportunity
    sent = outbound(m, {"rework_count": 1, "due_date": "2026-11-27", "message": None})
    read_back = observed(m, {"Presales_Rework_Count__c": 1.0, "Presales_Due_Date__c": "2026-11-27",
                             "Presales_Message__c": None})
    assert diff(sent, read_back) == {}
    assert diff(sent, {**read_back, "Presales_Rework_Count__c": 2}) == {"Presales_Rework_Count__c": 1}
    assert diff({"X__c": None}, {}) == {"X__c": None}  # never seen: send, even a null


def test_changed_by_crm() -> None:
    assert changed_by_crm("E__c", {"E__c": "005B"}, {"E__c": "005A"})
    assert not changed_by_crm("E__c", {"E__c": "005A"}, {"E__c": "005A"})
    assert not changed_by_crm("E__c", {}, {"E__c": "005A"})
    assert changed_by_crm("E__c", {"E__c": "005A"}, {})


def test_scale_and_timezone_transforms() -> None:
    assert canonical("number", 1234.5678, scale=2) == 1234.57
    assert canonical("number", 0, scale=2) == 0.0
    local = canonical("datetime", "2026-11-20T16:15:02", timezone="Asia/Shanghai")
    assert local == "2026-11-20T08:15:02.000Z"
    with pytest.raises(ValueError, match="time zone"):
        canonical("datetime", "2026-11-20T16:15:02")


def test_options_must_fit_the_type(tmp_path: Path) -> None:
    text = _default_text().replace("{field: CloseDate, type: date}",
                                   "{field: CloseDate, type: date, scale: 2}")
    with pytest.raises(FileProblems, match="scale: only for type number"):
        mappings.load_mapping(_write(tmp_path, text))
    text = _default_text().replace("{field: CloseDate, type: date}",
                                   "{field: CloseDate, type: datetime, timezone: Mars/Olympus}")
    with pytest.raises(FileProblems, match="unknown time zone"):
        mappings.load_mapping(_write(tmp_path, text))


def test_the_full_example_in_docs_loads(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "mappings.md").read_text(encoding="utf-8")
    block = text.split("## Full example")[1].split("```yaml")[1].split("```")[0]
    m = mappings.load_mapping(_write(tmp_path, block)).opportunity
    assert outbound(m, {"step": "Done"}) == {"SE_Step__c": "完成"}
    assert inbound(m, {"SE_Urgency__c": "紧急"})["priority"] == "P1"


@pytest.mark.parametrize(("kind", "raw", "says"), [
    ("integer", float("inf"), "not a finite number"), ("integer", "Infinity", "not a finite number"),
    ("number", float("nan"), "not a finite number"), ("number", "-Infinity", "not a finite number"),
    ("number", "1e999", "not a finite number"), ("integer", 10**30, "out of range"),
    ("integer", 1e300, "out of range"), ("number", 10**400, "out of range"),
    ("number", True, "expected a number"), ("integer", [1], "expected a number"),
    ("string", {"id": "1"}, "expected text"), ("string", "x" * 131_073, "longer than the limit of 131,072"),
])
def test_hostile_values_are_refused_with_a_reason(kind: str, raw: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        canonical(kind, raw)  # type: ignore[arg-type]


def test_text_the_store_cannot_hold_is_made_safe() -> None:
    assert canonical("string", "a\x00b") == "a\ufffdb"  # PostgreSQL text holds no NUL
    assert canonical("string", "x\ud800y") == "x\ufffdy"  # a lone surrogate has no UTF-8
    assert canonical("string", "客户 😀") == "客户 😀"  # non-BMP text is kept as it is
    assert canonical("string", "x" * 131_072) == "x" * 131_072
    assert canonical("string", "abc", max_length=3) == "abc"


def test_an_infinite_number_quarantines_the_record_naming_the_field() -> None:
    m = mappings.load_mapping(DEFAULT).opportunity
    with pytest.raises(mappings.ValueError_, match="Presales_Rework_Count__c: not a finite number"):
        mappings.observed(m, {"Presales_Rework_Count__c": float("inf")})


def test_max_length_is_only_for_text(tmp_path: Path) -> None:
    text = _default_text().replace("{field: Presales_Message__c}",
                                   "{field: Presales_Message__c, max_length: 10}")
    assert mappings.load_mapping(_write(tmp_path, text)).opportunity.outbound["message"].max_length == 10
    bad = _default_text().replace("{field: Amount, type: number",
                                  "{field: Amount, max_length: 5, type: number")
    with pytest.raises(FileProblems, match="max_length: only for text"):
        mappings.load_mapping(_write(tmp_path, bad))
