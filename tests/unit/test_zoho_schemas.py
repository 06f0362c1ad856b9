"""The Zoho JSON Schemas themselves: valid against the 2020-12 meta-schema, and each one
refuses what Zoho would not send or accept (so a passing validation means something)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from zoho_schema import NAMES, errors, validate, validator

USER = {"name": "Li Wei", "id": "5725767000001000100", "email": "wei.li@example.com"}
DEAL = {
    "id": "5725767000003000001",
    "Deal_Name": "Acme - ERP",
    "Owner": USER,
    "Modified_Time": "2026-11-23T18:15:30+08:00",
    "Presales_Engineer": {"name": "Li Wei", "id": USER["id"]},
}
INFO = {
    "call": False,
    "per_page": 200,
    "next_page_token": None,
    "count": 1,
    "page": 1,
    "previous_page_token": None,
    "page_token_expiry": None,
    "email": False,
    "more_records": False,
    "sort_by": "Modified_Time",
    "sort_order": "asc",
}
GONE = {
    "id": DEAL["id"],
    "display_name": "Acme - ERP",
    "type": "recycle",
    "deleted_time": DEAL["Modified_Time"],
}
PAGE = {"per_page": 200, "count": 1, "page": 1, "more_records": False}
PUT = {
    "data": [
        {
            "id": DEAL["id"],
            "Presales_Status": "Assigned",
            "Presales_Engineer": {"id": USER["id"]},
            "Presales_Response_Due": "2026-12-01T09:00:00+08:00",
        }
    ],
    "trigger": [],
}


def test_every_schema_is_valid_2020_12() -> None:
    assert {
        "token_response",
        "records_get_response",
        "records_put_request",
        "records_put_response",
        "users_get_response",
        "users_put_request",
        "users_put_response",
        "fields_get_response",
        "fields_post_request",
        "fields_post_response",
        "modules_get_response",
        "error",
    } <= set(NAMES)
    for name in NAMES:
        assert validator(name).META_SCHEMA["$id"].startswith("https://json-schema.org/draft/2020-12")
    with pytest.raises(KeyError):
        validator("nope")


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        (
            "token_response",
            {
                "access_token": "1000.ab.cd",
                "api_domain": "https://www.zohoapis.com",
                "token_type": "Bearer",
                "expires_in": 3600,
            },
            {"access_token": "1000.ab.cd", "api_domain": "https://www.zohoapis.com", "token_type": "Bearer"},
        ),
        ("token_error", {"error": "invalid_code"}, {"error": "invalid_code", "access_token": "x"}),
        (
            "error",
            {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"},
            {"code": "INVALID_TOKEN", "message": "invalid oauth token", "status": "error"},
        ),
        (
            "records_get_response",
            {"data": [DEAL], "info": INFO},
            {"data": [{**DEAL, "Modified_Time": "2026-11-23T10:15:30.000Z"}], "info": INFO},
        ),
        (
            "records_get_response",
            {"data": [DEAL], "info": INFO},
            {"data": [DEAL], "info": {**INFO, "more_records": True}},
        ),  # more records need a next_page_token
        ("records_put_request", PUT, {"data": PUT["data"]}),  # the project always sends "trigger": []
        ("records_put_request", PUT, {**PUT, "data": PUT["data"] * 101}),
        ("records_put_request", PUT, {**PUT, "data": [{"Presales_Status": "Assigned"}]}),
        (
            "records_put_request",
            PUT,
            {**PUT, "data": [{**PUT["data"][0], "Presales_Response_Due": "2026-12-01T01:00:00Z"}]},
        ),
        ("records_put_request", PUT, {**PUT, "data": [{**PUT["data"][0], "Presales_Engineer": USER["id"]}]}),
        (
            "records_put_request",
            PUT,
            {**PUT, "data": [{**PUT["data"][0], "Modified_Time": "2026-12-01T09:00:00+08:00"}]},
        ),
        (
            "records_put_response",
            {
                "data": [
                    {
                        "code": "SUCCESS",
                        "status": "success",
                        "message": "record updated",
                        "details": {
                            "id": DEAL["id"],
                            "Modified_Time": DEAL["Modified_Time"],
                            "Modified_By": USER,
                            "Created_Time": DEAL["Modified_Time"],
                            "Created_By": USER,
                        },
                    },
                    {
                        "code": "INVALID_DATA",
                        "status": "error",
                        "message": "invalid data",
                        "details": {"api_name": "Stage", "json_path": "$.data[1].Stage"},
                    },
                ]
            },
            {"data": [{"code": "SUCCESS", "status": "success", "message": "record updated", "details": {}}]},
        ),
        (
            "records_delete_response",
            {
                "data": [
                    {
                        "code": "SUCCESS",
                        "status": "success",
                        "message": "record deleted",
                        "details": {"id": DEAL["id"]},
                    }
                ]
            },
            {
                "data": [
                    {
                        "code": "SUCCESS",
                        "status": "success",
                        "message": "record updated",
                        "details": {"id": DEAL["id"]},
                    }
                ]
            },
        ),
        (
            "deleted_get_response",
            {"data": [{**GONE, "deleted_by": {"name": "Li Wei", "id": USER["id"]}}], "info": PAGE},
            {"data": [{**GONE, "deleted_by": USER}], "info": PAGE},  # a lookup has no email
        ),
        (
            "users_put_request",
            {"users": [{"id": USER["id"], "Presales_KPI_Period": "2026Q4"}]},
            {"data": [{"id": USER["id"], "Presales_KPI_Period": "2026Q4"}]},
        ),
        (
            "users_put_response",
            {
                "users": [
                    {
                        "code": "SUCCESS",
                        "status": "success",
                        "message": "User updated",
                        "details": {"id": USER["id"]},
                    }
                ]
            },
            {
                "users": [
                    {
                        "code": "SUCCESS",
                        "status": "error",
                        "message": "User updated",
                        "details": {"id": USER["id"]},
                    }
                ]
            },
        ),
        (
            "fields_post_request",
            {
                "fields": [
                    {
                        "field_label": "Presales Priority",
                        "data_type": "picklist",
                        "pick_list_values": [{"display_value": "P1", "actual_value": "P1"}],
                    }
                ]
            },
            {"fields": [{"field_label": "Presales Priority", "data_type": "picklist"}]},
        ),
        (
            "fields_post_request",
            {"fields": [{"field_label": "A", "data_type": "text"}] * 5},
            {"fields": [{"field_label": "A", "data_type": "text"}] * 6},
        ),
        (
            "fields_post_response",
            {
                "fields": [
                    {
                        "code": "SUCCESS",
                        "status": "success",
                        "message": "field created",
                        "details": {"id": "5725767008000000101"},
                    }
                ]
            },
            {
                "fields": [
                    {
                        "code": "SUCCESS",
                        "status": "success",
                        "message": "field created",
                        "details": {"id": "5725767008000000101", "api_name": "X"},
                    }
                ]
            },
        ),
    ],
)
def test_schema_accepts_the_good_and_refuses_the_bad(name: str, good: Any, bad: Any) -> None:
    validate(name, good)
    assert errors(name, good) == []
    with pytest.raises(jsonschema.ValidationError):
        validate(name, bad)
    assert errors(name, bad)
