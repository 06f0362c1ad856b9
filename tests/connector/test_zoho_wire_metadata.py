"""Field metadata answers that would break the Zoho adapter (`responses`): a field entry of
``GET /settings/fields`` missing a key the adapter relies on, or holding the wrong kind of
value, is a `FatalError` naming the call and the field, on every path that reads metadata
(describe, a write learning its lookups, install, removal), never a KeyError or TypeError."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses
from test_zoho_connector import API, Clock, add_tokens, listed, make

from presales_sync.connector import FatalError, RecordChange
from presales_sync.connector.base import FieldSpec
from presales_sync.connector.zoho import ZohoConnector

FIELDS_URL = f"{API}/settings/fields"
CALL = "GET /crm/v8/settings/fields?module=Deals"
GOOD = listed(
    {"api_name": "Deal_Name", "data_type": "text", "field_label": "Deal Name", "length": 120},
    {"api_name": "Stage", "data_type": "picklist", "field_label": "Stage",
     "pick_list_values": [{"display_value": "Qualification", "actual_value": "Qualification"}]},
    {"api_name": "Presales_Step", "data_type": "picklist", "field_label": "Presales Step",
     "custom_field": True, "pick_list_values": [{"display_value": "Done", "actual_value": "Done"}]},
)["fields"]
STEP = FieldSpec(object_name="Deals", name="Presales_Step", label="Presales Step", type="Picklist",
                 picklist_values=("Done",))

#: Every way the adapter reads field metadata.
PATHS: dict[str, Callable[[ZohoConnector], Any]] = {
    "describe": lambda crm: crm.describe("Deals"),
    "write": lambda crm: crm.write(object_name="Deals",
                                   changes=[RecordChange("1", {"Presales_Step": "Done"})]),
    "plan_fields": lambda crm: crm.plan_fields([STEP]),
    "remove_fields": lambda crm: crm.remove_fields(["Deals.Presales_Step"]),
}


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        add_tokens(mock)
        yield mock


def answer_with(third: Any) -> dict[str, Any]:
    fields = copy.deepcopy(GOOD)
    fields[2] = third
    return {"fields": fields}


def without(key: str) -> dict[str, Any]:
    broken = copy.deepcopy(GOOD[2])
    del broken[key]
    return answer_with(broken)


def with_value(key: str, value: Any) -> dict[str, Any]:
    return answer_with({**copy.deepcopy(GOOD[2]), key: value})


@pytest.mark.parametrize("path", PATHS)
def test_a_field_without_an_api_name_names_the_call_and_the_field(rsps: responses.RequestsMock,
                                                                  path: str) -> None:
    rsps.get(FIELDS_URL, json=without("api_name"))
    with pytest.raises(FatalError) as info:
        PATHS[path](make(Clock()))
    assert str(info.value) == f"{CALL}: field #3 has no 'api_name'"


@pytest.mark.parametrize("key", ["data_type", "id", "read_only", "operation_type"])
@pytest.mark.parametrize("path", PATHS)
def test_each_key_relied_on_is_checked(rsps: responses.RequestsMock, key: str, path: str) -> None:
    rsps.get(FIELDS_URL, json=without(key))
    with pytest.raises(FatalError) as info:
        PATHS[path](make(Clock()))
    assert str(info.value) == f"{CALL}: field #3 (Presales_Step) has no {key!r}"


@pytest.mark.parametrize("answer, problem", [
    (with_value("data_type", None), "has no 'data_type'"),
    (with_value("api_name", ""), "has 'api_name' '', expected a string"),
    (with_value("length", "255"), "has 'length' '255', expected a number"),
    (with_value("length", True), "has 'length' True, expected a number"),
    (with_value("pick_list_values", "Done"), "has 'pick_list_values' 'Done', expected a list"),
    (with_value("lookup", ["Accounts"]), "has 'lookup' ['Accounts'], expected an object"),
    (with_value("read_only", "false"), "has 'read_only' 'false', expected a boolean"),
    (with_value("operation_type", {"api_update": "yes"}), "has 'operation_type.api_update' 'yes'"),
    (with_value("operation_type", []), "has 'operation_type' [], expected an object"),
])
def test_values_of_the_wrong_kind_are_named(rsps: responses.RequestsMock, answer: dict[str, Any],
                                            problem: str) -> None:
    rsps.get(FIELDS_URL, json=answer)
    with pytest.raises(FatalError) as info:
        make(Clock()).describe("Deals")
    assert str(info.value).startswith(f"{CALL}: field #3 ")
    assert problem in str(info.value)


@pytest.mark.parametrize("answer, problem", [
    (answer_with("Presales_Step"), "field #3 is not an object (str)"),
    ({"fields": {"Stage": {}}}, "the answer has no 'fields' list"),
    ({"modules": []}, "the answer has no 'fields' list"),
])
def test_an_answer_of_the_wrong_shape_is_named(rsps: responses.RequestsMock, answer: dict[str, Any],
                                               problem: str) -> None:
    rsps.get(FIELDS_URL, json=answer)
    with pytest.raises(FatalError) as info:
        make(Clock()).describe("Deals")
    assert str(info.value) == f"{CALL}: {problem}"


def test_a_null_api_update_falls_back_on_read_only(rsps: responses.RequestsMock) -> None:
    """OAS ``Operation_type``: each operation may be null; that is not an error."""
    rsps.get(FIELDS_URL, json=with_value("operation_type", {"api_update": None, "web_update": None}))
    assert make(Clock()).describe("Deals").fields["Presales_Step"].updateable


def test_a_created_field_answered_without_its_id_is_named(rsps: responses.RequestsMock) -> None:
    rsps.get(FIELDS_URL, json={"fields": GOOD[:2]})
    rsps.post(FIELDS_URL, status=201, json={"fields": [{"code": "SUCCESS", "details": {},
                                                         "message": "field created", "status": "success"}]})
    with pytest.raises(FatalError) as info:
        make(Clock()).ensure_fields([STEP])
    assert str(info.value) == ("POST /crm/v8/settings/fields?module=Deals: field #1 (Deals.Presales_Step) "
                               "succeeded without a details.id")
