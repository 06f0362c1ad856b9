"""The Zoho half's pure pieces: one written value against its field (with 0, "", False, None
and wrong types), datetimes, and the API names and picklists of created or changed fields."""

from __future__ import annotations

from typing import Any

import pytest

from presales_sync.sandbox.zoho._fields import changed_field, new_field, picklist_value_id
from presales_sync.sandbox.zoho._store import ZField
from presales_sync.sandbox.zoho._wire import EntryError, coerce, parse_time, render_time

TEXT = ZField("Presales_Message", "Presales Message", "text", "1", custom_field=True, length=5)
FLAG = ZField("Presales_Requested", "Presales Requested", "boolean", "2", custom_field=True)
COUNT = ZField("Presales_Rework_Count", "Presales Rework Count", "integer", "3", custom_field=True, length=3)
SCORE = ZField(
    "Presales_KPI_Score", "Presales KPI Score", "double", "4", custom_field=True, length=5, decimal_place=1
)
PICK = ZField(
    "Presales_Health",
    "Presales Health",
    "picklist",
    "5",
    custom_field=True,
    pick_list_values=("Green", "Red"),
)
WHEN = ZField("Presales_Response_Due", "Presales Response Due", "datetime", "6", custom_field=True)
DAY = ZField("Presales_Due_Date", "Presales Due Date", "date", "7", custom_field=True)
WHO = ZField(
    "Presales_Engineer", "Presales Engineer", "userlookup", "8", custom_field=True, lookup_module="users"
)
NAME = ZField("Deal_Name", "Deal Name", "text", "9", system_mandatory=True, length=120)
KNOWN = {"users": {"5725767000001000100"}, "Accounts": set()}


def code_of(f: ZField, value: Any) -> str | None:
    try:
        coerce(f, value, "$.data[0].x", KNOWN)
    except EntryError as e:
        return str(e.body["code"])
    return None


@pytest.mark.parametrize(
    ("f", "value", "stored"),
    [
        (TEXT, "", ""),
        (TEXT, "abcde", "abcde"),
        (TEXT, None, None),
        (FLAG, False, False),
        (FLAG, True, True),
        (FLAG, None, False),
        (COUNT, 0, 0),
        (COUNT, 999, 999),
        (COUNT, 2.0, 2),
        (COUNT, None, None),
        (SCORE, 0, 0.0),
        (SCORE, 87.46, 87.5),
        (SCORE, 9999.9, 9999.9),
        (PICK, "Red", "Red"),
        (PICK, None, None),
        (WHEN, "2026-12-01T09:00:00+08:00", 1796086800),
        (WHEN, "2026-12-01T01:00:00Z", 1796086800),
        (DAY, "2026-12-01", "2026-12-01"),
        (WHO, {"id": "5725767000001000100"}, "5725767000001000100"),
        (WHO, None, None),
    ],
)
def test_values_stored(f: ZField, value: Any, stored: Any) -> None:
    assert coerce(f, value, "$.data[0].x", KNOWN) == stored


@pytest.mark.parametrize(
    ("f", "value", "code"),
    [
        (TEXT, "abcdef", "INVALID_DATA"),
        (TEXT, 0, "INVALID_DATA"),
        (TEXT, False, "INVALID_DATA"),
        (FLAG, 0, "INVALID_DATA"),
        (FLAG, "", "INVALID_DATA"),
        (FLAG, "true", "INVALID_DATA"),
        (COUNT, False, "INVALID_DATA"),
        (COUNT, "", "INVALID_DATA"),
        (COUNT, 1.5, "INVALID_DATA"),
        (COUNT, 1000, "INVALID_DATA"),
        (SCORE, 10000, "INVALID_DATA"),
        (SCORE, float("nan"), "INVALID_DATA"),
        (PICK, "", "INVALID_DATA"),
        (PICK, "Amber", "INVALID_DATA"),
        (PICK, 0, "INVALID_DATA"),
        (WHEN, "2026-12-01T09:00:00", "INVALID_DATA"),
        (WHEN, "2026-12-01T09:00:00.000+08:00", "INVALID_DATA"),
        (WHEN, "", "INVALID_DATA"),
        (DAY, "2026-12-1", "INVALID_DATA"),
        (DAY, "2026-02-30", "INVALID_DATA"),
        (WHO, "5725767000001000100", "INVALID_DATA"),
        (WHO, {"id": "5725767000001000999"}, "INVALID_DATA"),
        (WHO, {}, "INVALID_DATA"),
        (NAME, None, "MANDATORY_NOT_FOUND"),
    ],
)
def test_values_refused(f: ZField, value: Any, code: str) -> None:
    assert code_of(f, value) == code


def test_datetimes_render_in_the_org_zone_and_parse_with_an_offset() -> None:
    assert render_time(1796086800) == "2026-12-01T09:00:00+08:00"
    assert parse_time("2026-12-01T09:00:00+08:00") == parse_time("2026-12-01T01:00:00+00:00") == 1796086800
    assert parse_time("Tue, 01 Dec 2026 01:00:00 GMT") is None and parse_time("2026-12-01") is None


def test_new_field_api_names() -> None:
    names = {"presales_message"}
    assert (
        new_field(
            {"field_label": "Presales Sign-off", "data_type": "boolean"}, "$", set(), names, "10"
        ).api_name
        == "Presales_Sign_off"
    )
    assert (
        new_field({"field_label": "Presales Message!", "data_type": "text"}, "$", set(), names, "11").api_name
        == "Presales_Message1"
    )
    assert (
        new_field({"field_label": "2nd Opinion", "data_type": "text"}, "$", set(), names, "12").api_name
        == "Field_2nd_Opinion"
    )
    chosen = new_field(
        {
            "field_label": "Anything",
            "api_name": "Presales_Step",
            "data_type": "picklist",
            "pick_list_values": [{"display_value": "A"}],
        },
        "$",
        set(),
        names,
        "13",
    )
    assert (chosen.api_name, chosen.pick_list_values, chosen.length) == ("Presales_Step", ("A",), 0)
    with pytest.raises(EntryError) as dup:
        new_field(
            {"field_label": "presales message", "data_type": "text"},
            "$.fields[0]",
            {"presales message"},
            names,
            "14",
        )
    assert dup.value.body["code"] == "DUPLICATE_DATA"
    with pytest.raises(EntryError) as bad:
        new_field({"field_label": "X", "data_type": "formula"}, "$.fields[0]", set(), names, "15")
    assert bad.value.body["details"]["json_path"] == "$.fields[0].data_type"


def test_changed_field_picklist_semantics() -> None:
    current = {PICK.id: PICK, TEXT.id: TEXT}
    red = picklist_value_id(PICK, "Red")
    changed = changed_field(
        {
            "id": PICK.id,
            "pick_list_values": [
                {"id": red, "_delete": True},
                {"display_value": "Amber"},
                {"display_value": "Green"},
            ],
        },
        "$",
        current,
        None,
    )
    assert changed.pick_list_values == ("Green", "Amber")
    assert picklist_value_id(changed, "Green") == picklist_value_id(PICK, "Green")  # ids survive changes
    longer = changed_field({"length": 200, "field_label": "Note"}, "$", current, TEXT.id)
    assert (longer.length, longer.field_label, longer.api_name) == (200, "Note", "Presales_Message")
    with pytest.raises(EntryError):
        changed_field({"id": TEXT.id, "field_label": "Presales Health"}, "$", current, None)  # label taken
