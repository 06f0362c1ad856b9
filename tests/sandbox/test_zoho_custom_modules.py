"""The sandbox's Zoho custom modules, their records and the org variables over real HTTPS:
Create Custom Module (one a call, mandatory labels and profiles, DUPLICATE_DATA, scopes), a
lookup to Deals and unique fields through the Fields API (at most two unique), records
created by a person (Created_By / Created_Time set by the server, whole seconds, immutable),
Get Records with If-Modified-Since, Upsert on a unique field, variables, and an org seeded
"already installed". Bodies are checked against tests/schemas/zoho/ where Zoho's OAS has
the endpoint (docs/design/issue-14-wire-facts.md §7-§11)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_zoho_http import Zoho, error_of
from zoho_schema import validate

from presales_sync.sandbox import ManualClock, Sandbox
from presales_sync.sandbox.core._seed import CustomField, CustomObject, OrgSeed

MODULE = "Presales_Actions"
PROFILES_PATH = "settings/profiles"
ACTION = CustomObject(
    name="Presales_Action__c",
    label="Presales Action",
    plural_label="Presales Actions",
    parent="Opportunity",
    parent_field="Opportunity__c",
    relationship_name="Presales_Actions",
    key_field="Ext_Id__c",
    name_format="PA-{000000}",
    zoho_name=MODULE,
    zoho_parent_field="Deal",
)
ACTION_FIELDS = (
    CustomField("Presales_Action__c", "Ext_Id__c", "Ext Id", "Text", length=80, external_id=True),
    CustomField("Presales_Action__c", "Note__c", "Note", "LongText", length=32000),
    CustomField("Presales_Action__c", "Actor__c", "Actor", "Lookup", reference_to="User"),
    CustomField("Presales_Action__c", "Action__c", "Action", "Picklist", values=("Request", "Sign Off")),
)
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")  # whole seconds, the org's zone


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(
        tmp_path_factory.mktemp("zmod"),
        seed=20,
        clock=ManualClock(datetime(2026, 12, 1, 8, 0, 0, 400_000, tzinfo=UTC)),
    ) as box:
        yield box


@pytest.fixture(scope="module")
def z(sb: Sandbox) -> Zoho:
    return Zoho(sb)


def module_body(**override: Any) -> dict[str, Any]:
    module = {
        "plural_label": "Presales Actions",
        "singular_label": "Presales Action",
        "api_name": MODULE,
        "profiles": [{"id": "0"}],
        "display_field": {
            "field_label": "Presales Action No",
            "data_type": "autonumber",
            "auto_number": {"prefix": "PA-", "start_number": "1"},
        },
    }
    module.update(override)
    return {"modules": [module]}


def profile_ids(z: Zoho) -> list[dict[str, str]]:
    resp = z.call("GET", PROFILES_PATH)
    assert resp.status_code == 200, resp.text
    return [{"id": p["id"]} for p in resp.json()["profiles"]]


@pytest.fixture(scope="module")
def installed(z: Zoho) -> dict[str, Any]:
    """The module with a lookup to Deals and the unique key, created over the API."""
    body = module_body(profiles=profile_ids(z))
    validate("modules_post_request", body)
    resp = z.call("POST", "settings/modules", json=body)
    assert resp.status_code == 200, resp.text
    validate("modules_post_response", resp.json())
    deals = z.call("GET", "settings/modules/Deals").json()["modules"][0]
    fields = {
        "fields": [
            {
                "field_label": "Deal",
                "data_type": "lookup",
                "lookup": {
                    "module": {"api_name": "Deals", "id": deals["id"]},
                    "display_label": "Presales Actions",
                },
            },
            {"field_label": "Ext Id", "data_type": "text", "length": 80, "unique": {"case_sensitive": False}},
            {"field_label": "Note", "data_type": "textarea", "length": 32000},
            {"field_label": "Actor", "data_type": "userlookup"},
        ]
    }
    validate("fields_post_request", fields)
    created = z.call("POST", "settings/fields", params={"module": MODULE}, json=fields)
    assert created.status_code == 201, created.text
    validate("fields_post_response", created.json())
    return resp.json()["modules"][0]


def a_person(z: Zoho) -> dict[str, Any]:
    users = z.call("GET", "users", params={"type": "ActiveUsers"}).json()["users"]
    return next(u for u in users if u["profile"]["name"] != "Administrator")


def a_deal(z: Zoho) -> dict[str, Any]:
    resp = z.call("GET", "Deals", params={"fields": "Deal_Name", "per_page": 1})
    data: dict[str, Any] = resp.json()["data"][0]
    return data


# -- modules ------------------------------------------------------------------------------


def test_a_created_module_is_listed_as_custom(z: Zoho, installed: dict[str, Any]) -> None:
    listed = z.call("GET", "settings/modules").json()
    validate("modules_get_response", listed)
    mine = [m for m in listed["modules"] if m["api_name"] == MODULE]
    assert mine and mine[0]["generated_type"] == "custom" and mine[0]["api_supported"] is True
    assert mine[0]["id"] == installed["details"]["id"]
    one = z.call("GET", f"settings/modules/{MODULE}")
    assert one.status_code == 200 and one.json()["modules"][0]["plural_label"] == "Presales Actions"


def test_module_errors(z: Zoho, installed: dict[str, Any]) -> None:
    profiles = profile_ids(z)
    again = z.call("POST", "settings/modules", json=module_body(profiles=profiles))
    assert again.status_code == 400
    validate("modules_post_response", again.json())
    assert again.json()["modules"][0]["code"] == "DUPLICATE_DATA"
    body = module_body(plural_label="Other Things", singular_label="Other Thing", api_name="Other_Things")
    del body["modules"][0]["profiles"]
    missing = z.call("POST", "settings/modules", json=body)
    assert missing.status_code == 400 and missing.json()["modules"][0]["code"] == "MANDATORY_NOT_FOUND"
    two = module_body(profiles=profiles)
    two["modules"].append(dict(two["modules"][0], api_name="Second"))
    error_of(z.call("POST", "settings/modules", json=two), 400, "LIMIT_EXCEEDED")
    bad = module_body(profiles=profiles, api_name="Bad__Name", plural_label="Bads", singular_label="Bad")
    assert z.call("POST", "settings/modules", json=bad).json()["modules"][0]["code"] == "INVALID_DATA"


def test_module_creation_needs_its_scope(sb: Sandbox, z: Zoho) -> None:
    admin = sb.zoho_integration_user_id
    narrow = Zoho(sb, sb.zoho_token_for(admin, scopes="ZohoCRM.modules.ALL ZohoCRM.settings.modules.READ"))
    body = module_body(
        profiles=profile_ids(z), api_name="Scoped", plural_label="Scopeds", singular_label="Scoped"
    )
    error_of(narrow.call("POST", "settings/modules", json=body), 401, "OAUTH_SCOPE_MISMATCH")
    assert narrow.call("GET", "settings/modules").status_code == 200
    create = Zoho(sb, sb.zoho_token_for(admin, scopes="ZohoCRM.settings.modules.CREATE"))
    assert create.call("POST", "settings/modules", json=body).status_code == 200
    # a default token still reaches everything it did
    assert z.call("GET", "Deals", params={"fields": "Deal_Name", "per_page": 1}).status_code == 200


def test_there_is_no_module_delete(z: Zoho, installed: dict[str, Any]) -> None:
    resp = z.call("DELETE", f"settings/modules/{MODULE}")
    error_of(resp, 400, "INVALID_REQUEST_METHOD")


# -- fields -------------------------------------------------------------------------------


def test_the_module_fields(z: Zoho, installed: dict[str, Any]) -> None:
    resp = z.call("GET", "settings/fields", params={"module": MODULE})
    validate("fields_get_response", resp.json())
    fields = {f["api_name"]: f for f in resp.json()["fields"]}
    assert fields["Deal"]["data_type"] == "lookup"
    assert fields["Deal"]["lookup"]["module"]["api_name"] == "Deals"
    assert fields["Deal"]["lookup"]["display_label"] == "Presales Actions"
    assert fields["Ext_Id"]["unique"] == {"case_sensitive": False}
    assert fields["Note"]["data_type"] == "textarea" and fields["Note"]["length"] == 32000
    assert fields["Name"]["data_type"] == "autonumber" and fields["Name"]["read_only"] is True
    assert {"Created_By", "Created_Time", "Modified_By", "Modified_Time", "Owner"} <= set(fields)


def test_at_most_two_unique_fields(z: Zoho, installed: dict[str, Any]) -> None:
    second = {
        "fields": [
            {
                "field_label": "Key Two",
                "data_type": "text",
                "length": 40,
                "unique": {"casesensitive": "false"},
            }
        ]
    }  # the OAS spelling
    assert z.call("POST", "settings/fields", params={"module": MODULE}, json=second).status_code == 201
    third = {
        "fields": [
            {
                "field_label": "Key Three",
                "data_type": "text",
                "length": 40,
                "unique": {"case_sensitive": False},
            }
        ]
    }
    resp = z.call("POST", "settings/fields", params={"module": MODULE}, json=third)
    assert resp.status_code == 400, resp.text
    assert resp.json()["fields"][0]["code"] == "LIMIT_EXCEEDED"


def test_a_lookup_needs_its_related_list_label(z: Zoho, installed: dict[str, Any]) -> None:
    bare = {
        "fields": [
            {"field_label": "Deal Two", "data_type": "lookup", "lookup": {"module": {"api_name": "Deals"}}}
        ]
    }
    resp = z.call("POST", "settings/fields", params={"module": MODULE}, json=bare)
    assert resp.json()["fields"][0]["code"] == "MANDATORY_NOT_FOUND"


# -- records ------------------------------------------------------------------------------


def test_a_person_creates_an_action(sb: Sandbox, z: Zoho, installed: dict[str, Any]) -> None:
    person = a_person(z)
    deal = a_deal(z)
    as_person = Zoho(sb, sb.zoho_token_for(person["id"]))
    resp = as_person.call(
        "POST", MODULE, json={"data": [{"Deal": {"id": deal["id"]}, "Note": "please review"}], "trigger": []}
    )
    assert resp.status_code == 201, resp.text
    validate("records_upsert_response", resp.json())
    details = resp.json()["data"][0]["details"]
    assert details["Created_By"] == {
        "name": person["full_name"],
        "id": person["id"],
        "email": person["email"],
    }
    assert _STAMP.match(details["Created_Time"]) and details["Created_Time"] == "2026-12-01T16:00:00+08:00"
    rid = details["id"]
    sb.clock.advance(65)  # type: ignore[attr-defined]
    update = z.put(MODULE, {"data": [{"id": rid, "Note": "outcome: applied"}], "trigger": []})
    assert update.status_code == 200, update.text
    got = z.call(
        "GET",
        MODULE,
        params={"fields": "Name,Deal,Note,Created_By,Created_Time,Modified_Time,Modified_By", "ids": rid},
    ).json()["data"][0]
    assert got["Name"] == "PA-1" and got["Deal"] == {"name": deal["Deal_Name"], "id": deal["id"]}
    assert got["Created_By"]["id"] == person["id"] and got["Created_Time"] == details["Created_Time"]
    assert got["Modified_By"]["id"] == sb.zoho_integration_user_id
    assert got["Modified_Time"] == "2026-12-01T16:01:05+08:00"
    refused = z.put(MODULE, {"data": [{"id": rid, "Created_Time": "2026-01-01T00:00:00+00:00"}]})
    assert refused.status_code == 400


def test_get_records_of_the_module(sb: Sandbox, z: Zoho, installed: dict[str, Any]) -> None:
    since = datetime.fromtimestamp(sb.clock.now()).astimezone() + timedelta(seconds=10)
    sb.clock.advance(600)  # type: ignore[attr-defined]
    params = {"fields": "Note,Deal,Created_Time", "sort_by": "Modified_Time", "sort_order": "asc"}
    nothing = z.call(
        "GET", MODULE, params=params, headers={"If-Modified-Since": since.isoformat(timespec="seconds")}
    )
    assert nothing.status_code == 304
    z.call("POST", MODULE, json={"data": [{"Note": "late"}]})
    changed = z.call(
        "GET", MODULE, params=params, headers={"If-Modified-Since": since.isoformat(timespec="seconds")}
    )
    assert changed.status_code == 200
    validate("records_get_response", changed.json())
    assert [r["Note"] for r in changed.json()["data"]] == ["late"]


def test_upsert_on_the_unique_key(sb: Sandbox, z: Zoho, installed: dict[str, Any]) -> None:
    deal = a_deal(z)
    body = {
        "data": [
            {"Ext_Id": "evt-1", "Deal": {"id": deal["id"]}, "Note": "one"},
            {"Ext_Id": "evt-2", "Deal": {"id": deal["id"]}, "Note": "two"},
        ],
        "duplicate_check_fields": ["Ext_Id"],
        "trigger": [],
    }
    validate("records_upsert_request", body)
    first = z.call("POST", f"{MODULE}/upsert", json=body)
    assert first.status_code == 201, first.text
    validate("records_upsert_response", first.json())
    assert [(r["action"], r["duplicate_field"]) for r in first.json()["data"]] == [("insert", None)] * 2
    sb.clock.advance(2)  # type: ignore[attr-defined]
    again = z.call("POST", f"{MODULE}/upsert", json=body)
    assert again.status_code == 200, again.text
    entries = again.json()["data"]
    assert [(r["action"], r["duplicate_field"]) for r in entries] == [("update", "Ext_Id")] * 2
    assert [r["details"]["id"] for r in entries] == [r["details"]["id"] for r in first.json()["data"]]
    assert entries[0]["details"]["Created_Time"] == first.json()["data"][0]["details"]["Created_Time"]
    # case-insensitive unique (Zoho accepts only case_sensitive false)
    upper = z.call(
        "POST", f"{MODULE}/upsert", json={"data": [{"Ext_Id": "EVT-1"}], "duplicate_check_fields": ["Ext_Id"]}
    )
    assert upper.json()["data"][0]["action"] == "update"


def test_upsert_same_key_twice_in_one_body(z: Zoho, installed: dict[str, Any]) -> None:
    body = {
        "data": [{"Ext_Id": "twice", "Note": "a"}, {"Ext_Id": "twice", "Note": "b"}],
        "duplicate_check_fields": ["Ext_Id"],
    }
    entries = z.call("POST", f"{MODULE}/upsert", json=body).json()["data"]
    assert [r["action"] for r in entries] == ["insert", "update"]  # inferred: not documented
    assert entries[0]["details"]["id"] == entries[1]["details"]["id"]


def test_upsert_errors(z: Zoho, installed: dict[str, Any]) -> None:
    bad_key = {"data": [{"Ext_Id": "x"}], "duplicate_check_fields": ["Note"]}
    error_of(z.call("POST", f"{MODULE}/upsert", json=bad_key), 400, "INVALID_DATA")
    mixed = {"data": [{"Ext_Id": "ok-1"}, {"Ext_Id": "bad", "Nope": 1}], "duplicate_check_fields": ["Ext_Id"]}
    resp = z.call("POST", f"{MODULE}/upsert", json=mixed)
    assert resp.status_code == 207
    validate("records_upsert_response", resp.json())
    too_many = {"data": [{"Ext_Id": f"n{i}"} for i in range(101)], "duplicate_check_fields": ["Ext_Id"]}
    error_of(z.call("POST", f"{MODULE}/upsert", json=too_many), 400, "LIMIT_EXCEEDED")
    clash = z.call("POST", MODULE, json={"data": [{"Ext_Id": "ok-1"}]})  # a plain insert repeating the key
    assert clash.status_code == 400 and clash.json()["data"][0]["code"] == "DUPLICATE_DATA"


# -- variables ----------------------------------------------------------------------------


def test_variables_round_trip(sb: Sandbox, z: Zoho) -> None:
    create = {
        "variables": [
            {
                "name": "Presales Store Owner",
                "api_name": "Presales_Store_Owner",
                "variable_group": {"name": "General"},
                "type": "text",
                "value": "store-1",
            }
        ]
    }
    resp = z.call("POST", "settings/variables", json=create)
    assert resp.status_code == 201, resp.text
    assert resp.json()["variables"][0]["message"] == "variable added"
    vid = resp.json()["variables"][0]["details"]["id"]
    assert (
        z.call("POST", "settings/variables", json=create).json()["variables"][0]["code"] == "DUPLICATE_DATA"
    )
    listed = z.call("GET", "settings/variables").json()["variables"]
    assert {
        "api_name": "Presales_Store_Owner",
        "name": "Presales Store Owner",
        "description": None,
        "id": vid,
        "type": "text",
        "variable_group": {"api_name": "General", "id": listed[0]["variable_group"]["id"]},
        "value": "store-1",
    } in listed
    error_of(z.call("GET", f"settings/variables/{vid}"), 400, "REQUIRED_PARAM_MISSING")
    one = z.call("GET", "settings/variables/Presales_Store_Owner", params={"group": "General"})
    assert one.json()["variables"][0]["value"] == "store-1"
    put = z.call("PUT", f"settings/variables/{vid}", json={"variables": [{"value": "store-2"}]})
    assert put.status_code == 200 and put.json()["variables"][0]["message"] == "variable updated"
    assert (
        z.call("GET", f"settings/variables/{vid}", params={"group": "General"}).json()["variables"][0][
            "value"
        ]
        == "store-2"
    )
    bad_type = {"variables": [dict(create["variables"][0], api_name="X1", name="X1", type="blob")]}
    assert (
        z.call("POST", "settings/variables", json=bad_type).json()["variables"][0]["code"]
        == "PATTERN_NOT_MATCHED"
    )
    narrow = Zoho(
        sb, sb.zoho_token_for(sb.zoho_integration_user_id, scopes="ZohoCRM.settings.variables.READ")
    )
    error_of(
        narrow.call("PUT", f"settings/variables/{vid}", json={"variables": [{"value": "x"}]}),
        401,
        "OAUTH_SCOPE_MISMATCH",
    )
    assert narrow.call("GET", "settings/variables").status_code == 200
    gone = z.call("DELETE", f"settings/variables/{vid}")
    assert gone.status_code == 200 and gone.json()["variables"][0]["message"] == "variable deleted"


# -- seeding ------------------------------------------------------------------------------


@pytest.mark.parametrize("installed_org", [True, False])
def test_an_org_seeded_with_the_module(tmp_path_factory: pytest.TempPathFactory, installed_org: bool) -> None:
    org = OrgSeed(fields=ACTION_FIELDS, objects=(ACTION,), installed=installed_org)
    with Sandbox(tmp_path_factory.mktemp("zseed"), seed=10, org=org) as box:
        z = Zoho(box)
        names = [m["api_name"] for m in z.call("GET", "settings/modules").json()["modules"]]
        assert (MODULE in names) is installed_org
        if not installed_org:
            error_of(z.call("GET", "settings/fields", params={"module": MODULE}), 400, "INVALID_DATA")
            return
        fields = {
            f["api_name"]: f
            for f in z.call("GET", "settings/fields", params={"module": MODULE}).json()["fields"]
        }
        assert fields["Deal"]["lookup"]["module"]["api_name"] == "Deals"
        assert fields["Ext_Id"]["unique"] == {"case_sensitive": False} and fields["Ext_Id"]["length"] == 80
        assert fields["Note"]["data_type"] == "textarea"
        assert fields["Actor"]["data_type"] == "userlookup"
        assert fields["Action"]["data_type"] == "picklist"
        made = z.call(
            "POST", f"{MODULE}/upsert", json={"data": [{"Ext_Id": "k"}], "duplicate_check_fields": ["Ext_Id"]}
        )
        assert made.status_code == 201, made.text


def test_upsert_by_an_external_id_field(z: Zoho, installed: dict[str, Any]) -> None:
    field = {
        "fields": [
            {
                "field_label": "Outside Ref",
                "data_type": "text",
                "length": 40,
                "external": {"type": "org", "show": True},
            }
        ]
    }
    assert z.call("POST", "settings/fields", params={"module": MODULE}, json=field).status_code == 201
    headers = {"X-EXTERNAL": f"{MODULE}.Outside_Ref"}
    first = z.call("POST", f"{MODULE}/upsert", json={"data": [{"Outside_Ref": "o-1"}]}, headers=headers)
    second = z.call("POST", f"{MODULE}/upsert", json={"data": [{"Outside_Ref": "o-1"}]}, headers=headers)
    assert first.json()["data"][0]["action"] == "insert" and second.json()["data"][0]["action"] == "update"
    error_of(
        z.call(
            "POST",
            f"{MODULE}/upsert",
            json={"data": [{"Note": "x"}]},
            headers={"X-EXTERNAL": f"{MODULE}.Note"},
        ),
        400,
        "INVALID_DATA",
    )


def test_an_update_sets_the_deal_lookup_and_reads_sort_by_created(z: Zoho, installed: dict[str, Any]) -> None:
    deal = a_deal(z)
    made = z.call("POST", MODULE, json={"data": [{"Note": "no deal yet"}]}).json()["data"][0]["details"]["id"]
    bad = z.put(MODULE, {"data": [{"id": made, "Deal": {"id": "5725767000000000009"}}]})
    assert (
        bad.status_code == 400
        and bad.json()["data"][0]["message"] == "the related id given seems to be invalid"
    )
    assert z.put(MODULE, {"data": [{"id": made, "Deal": {"id": deal["id"]}}]}).status_code == 200
    rows = z.call(
        "GET",
        MODULE,
        params={
            "fields": "Deal,Created_Time",
            "sort_by": "Created_Time",
            "sort_order": "desc",
            "per_page": 200,
        },
    ).json()["data"]
    assert rows[0]["id"] == made and rows[0]["Deal"]["id"] == deal["id"]
    stamps = [r["Created_Time"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)


def test_the_org_names_its_identity(z: Zoho) -> None:
    org = z.call("GET", "org").json()["org"][0]
    assert {"id", "zgid", "primary_zuid", "domain_name"} <= set(org)
