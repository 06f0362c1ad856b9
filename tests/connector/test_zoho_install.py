"""Installing the plugin's fields in Zoho against `responses` stubs: at most 5 fields per
POST, API names learnt by re-reading the fields, a second run a no-op, removal."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from zoho_schema import errors, validate

from presales_sync.connector import ConfigError
from presales_sync.connector.base import FieldSpec
from presales_sync.connector.zoho import ZohoConnector, ZohoSettings, connect
from presales_sync.connector.zoho._install import definition, zoho_label

TOKEN_URL = "https://accounts.zoho.com/oauth/v2/token"
API = "https://www.zohoapis.com/crm/v8"
FIELDS_URL = f"{API}/settings/fields"
ENV = {"PRESALES_ZOHO_CLIENT_ID": "id", "PRESALES_ZOHO_CLIENT_SECRET": "secret",
       "PRESALES_ZOHO_REFRESH_TOKEN": "refresh"}
STANDARD = [{"api_name": "Deal_Name", "data_type": "text", "field_label": "Deal Name", "id": "1",
             "custom_field": False, "length": 120}]


def spec(name: str, type_: Any = "Text", **kw: Any) -> FieldSpec:
    defaults: dict[str, Any] = {"length": 255} if type_ == "Text" else {}
    return FieldSpec(object_name="Deals", name=name, label=name.replace("_", " "), type=type_,
                     **{**defaults, **kw})


SPECS = [spec("Presales_Requested", "Checkbox"),
         spec("Presales_Step", "Picklist", picklist_values=("Requirements", "Done")),
         spec("Presales_Engineer", "Lookup", reference_to="User"),
         spec("Presales_Due_Date", "Date"), spec("Presales_Response_Due", "DateTime"),
         spec("Presales_Rework_Count", "Number", precision=3, scale=0),
         spec("Presales_Message", "Text", length=255)]


def as_listed(field: dict[str, Any]) -> dict[str, Any]:
    """A field as GET /settings/fields lists it: Zoho adds read_only and operation_type."""
    writable = {"web_update": True, "api_create": True, "web_create": True, "api_update": True}
    return {"read_only": False, "operation_type": writable, **field}


class FakeZohoFields:
    """The settings/fields endpoint of one module, stateful: creates assign ids and API names
    derived from labels, as Zoho does."""

    def __init__(self, rsps: responses.RequestsMock, existing: list[dict[str, Any]]) -> None:
        self.fields = [dict(f) for f in existing]
        self.posts: list[list[dict[str, Any]]] = []
        self.patches: list[list[dict[str, Any]]] = []
        self.deletes: list[str] = []
        self.given: dict[str, str] = {}  # label -> API name, where Zoho would pick another
        rsps.post(TOKEN_URL, json={"access_token": "tok", "api_domain": "https://www.zohoapis.com",
                                   "expires_in": 3600})
        rsps.add_callback(responses.GET, FIELDS_URL, callback=self.get)
        rsps.add_callback(responses.POST, FIELDS_URL, callback=self.post)
        rsps.add_callback(responses.PATCH, FIELDS_URL, callback=self.patch)
        rsps.add_callback(responses.DELETE, re.compile(re.escape(FIELDS_URL) + r"/\d+"), callback=self.delete)
        self.rsps = rsps

    def get(self, request: Any) -> tuple[int, dict[str, str], str]:
        assert parse_qs(urlparse(request.url).query)["module"] == ["Deals"]
        return 200, {}, json.dumps({"fields": [as_listed(f) for f in self.fields]})

    def post(self, request: Any) -> tuple[int, dict[str, str], str]:
        rows = json.loads(request.body)["fields"]
        self.posts.append(rows)
        if len(rows) > 5:
            return 400, {}, json.dumps({"code": "LIMIT_EXCEEDED", "details": {"maximum_length": 5},
                                        "message": "limit exceeded", "status": "error"})
        out = []
        for row in rows:
            field_id = str(1000 + len(self.fields))
            api_name = self.given.get(row["field_label"]) or row["field_label"].replace(" ", "_")
            taken = {f["api_name"] for f in self.fields}
            if api_name in taken:
                api_name += "1"
            picklist = [{"actual_value": "-None-"}, *row.get("pick_list_values", [])]
            self.fields.append({**row, "api_name": api_name, "id": field_id, "custom_field": True,
                                "pick_list_values": picklist})
            out.append({"code": "SUCCESS", "details": {"id": field_id}, "message": "field created",
                        "status": "success"})
        return 201, {}, json.dumps({"fields": out})

    def patch(self, request: Any) -> tuple[int, dict[str, str], str]:
        rows = json.loads(request.body)["fields"]
        self.patches.append(rows)
        for row in rows:  # Zoho adds the picklist values named and keeps the others
            field = next(f for f in self.fields if f["id"] == row["id"])
            added = [v for v in row.get("pick_list_values", []) if v not in field["pick_list_values"]]
            field.update({k: v for k, v in row.items() if k != "pick_list_values"})
            field["pick_list_values"] = [*field["pick_list_values"], *added]
        done = [{"code": "SUCCESS", "details": {"id": r["id"]}, "message": "field updated",
                 "status": "success"} for r in rows]
        return 200, {}, json.dumps({"fields": done})

    def delete(self, request: Any) -> tuple[int, dict[str, str], str]:
        field_id = urlparse(request.url).path.rsplit("/", 1)[1]
        self.deletes.append(field_id)
        self.fields = [f for f in self.fields if f["id"] != field_id]
        return 200, {}, json.dumps({"fields": [{"code": "SUCCESS", "details": {"id": field_id},
                                                "message": "field deleted", "status": "success"}]})


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make() -> ZohoConnector:
    return connect(ZohoSettings(), ENV, sleep=lambda _s: None)


def test_definitions_translate_each_type() -> None:
    by_name = {s.name: definition(s) for s in SPECS}
    assert by_name["Presales_Requested"] == {"field_label": "Presales Requested", "data_type": "boolean"}
    assert by_name["Presales_Step"]["pick_list_values"] == [
        {"display_value": "Requirements", "actual_value": "Requirements"},
        {"display_value": "Done", "actual_value": "Done"}]
    assert by_name["Presales_Engineer"]["data_type"] == "userlookup"
    assert by_name["Presales_Rework_Count"] == {"field_label": "Presales Rework Count",
                                                "data_type": "integer", "length": 3}
    kpi = FieldSpec(object_name="users", name="Presales_KPI_Score", label="Presales KPI Score", type="Number",
                    precision=5, scale=1)
    assert definition(kpi) == {"field_label": "Presales KPI Score", "data_type": "double", "length": 5,
                               "decimal_place": 1}
    # a label Zoho would turn into another API name is spelt from the name instead
    signoff = FieldSpec(object_name="Deals", name="Presales_Signoff", label="Presales Sign-off",
                        type="Picklist", picklist_values=("Sign Off",))
    assert zoho_label(signoff) == "Presales Signoff"


def test_install_posts_five_at_a_time_then_is_a_no_op(rsps: responses.RequestsMock) -> None:
    zoho = FakeZohoFields(rsps, STANDARD)
    plans = make().ensure_fields(SPECS)
    assert [p.action for p in plans] == ["create"] * 7
    assert [len(p) for p in zoho.posts] == [5, 2]
    assert {f["api_name"] for f in zoho.fields} >= {s.name for s in SPECS}
    gets = [c for c in rsps.calls if c.request.method == "GET"]
    assert len(gets) == 3  # plan, before updates, the re-read of the API names given
    again = make().ensure_fields(SPECS)
    assert {p.action for p in again} == {"unchanged"}
    assert len(zoho.posts) == 2 and zoho.patches == []


def test_dry_run_writes_nothing(rsps: responses.RequestsMock) -> None:
    zoho = FakeZohoFields(rsps, STANDARD)
    plans = make().ensure_fields(SPECS, dry_run=True)
    assert {p.action for p in plans} == {"create"} and zoho.posts == []


def test_changed_picklist_is_patched(rsps: responses.RequestsMock) -> None:
    zoho = FakeZohoFields(rsps, STANDARD)
    make().ensure_fields(SPECS)
    wider = [spec("Presales_Step", "Picklist", picklist_values=("Requirements", "Review", "Done"))]
    plans = make().ensure_fields(wider)
    assert plans[0].differences == ("picklist values: add ['Review']",)
    assert zoho.patches == [[{"id": zoho.patches[0][0]["id"], "field_label": "Presales Step",
                              "pick_list_values": [{"display_value": "Review", "actual_value": "Review"}]}]]
    assert make().ensure_fields(wider)[0].action == "unchanged"
    # values the org has beyond ours are the admin's: no update for them
    assert make().ensure_fields([SPECS[1]])[0].action == "unchanged"


def test_api_name_other_than_the_mapping_is_reported(rsps: responses.RequestsMock) -> None:
    zoho = FakeZohoFields(rsps, STANDARD)
    zoho.given["Presales Message"] = "Presales_Message1"
    with pytest.raises(ConfigError, match=r"created as Deals\.Presales_Message1: map"):
        make().ensure_fields(SPECS)
    assert len(zoho.posts) == 2  # every field was created; only the name needs the admin


def test_a_changed_label_is_an_update(rsps: responses.RequestsMock) -> None:
    FakeZohoFields(rsps, [*STANDARD, {"api_name": "Presales_Message", "data_type": "text", "id": "2",
                                      "field_label": "Old Message", "length": 255, "custom_field": True}])
    plans = make().plan_fields([spec("Presales_Message", "Text", length=255)])
    assert plans[0].action == "update"
    assert plans[0].differences == ("label: 'Old Message' -> 'Presales Message'",)


def test_a_type_change_is_refused_with_advice(rsps: responses.RequestsMock) -> None:
    FakeZohoFields(rsps, [*STANDARD, {"api_name": "Presales_Step", "data_type": "text", "id": "2",
                                      "field_label": "Presales Step", "length": 255, "custom_field": True}])
    with pytest.raises(ConfigError, match="cannot change a field's type"):
        make().plan_fields([SPECS[1]])


def test_a_refused_create_names_the_field_and_code(rsps: responses.RequestsMock) -> None:
    FakeZohoFields(rsps, STANDARD)
    rsps.replace(responses.POST, FIELDS_URL, status=400, json={"fields": [
        {"code": "DUPLICATE_DATA", "details": {"api_name": "field_label"}, "message": "duplicate data",
         "status": "error"}]})
    with pytest.raises(ConfigError, match=r"Deals\.Presales_Requested") as info:
        make().ensure_fields(SPECS[:1])
    assert info.value.code == "DUPLICATE_DATA"


def test_remove_deletes_present_custom_fields_only(rsps: responses.RequestsMock) -> None:
    zoho = FakeZohoFields(rsps, STANDARD)
    make().ensure_fields(SPECS[:2])
    ids = {f["api_name"]: f["id"] for f in zoho.fields}
    make().remove_fields(["Deals.Presales_Step", "Deals.Not_There"])
    assert zoho.deletes == [ids["Presales_Step"]]
    with pytest.raises(ConfigError, match="standard"):
        make().remove_fields(["Deals.Deal_Name"])
    with pytest.raises(ConfigError):
        make().remove_fields(["Presales_Step"])


def test_field_creation_requests_fit_zohos_schema(rsps: responses.RequestsMock) -> None:
    from presales_sync import mappings
    from presales_sync.mappings.fields import plugin_fields

    zoho = FakeZohoFields(rsps, STANDARD)
    resolved = plugin_fields(mappings.load_mapping(mappings.default_mapping_path("zoho")))
    specs = [FieldSpec(object_name="Deals", name=f.name, label=f.label, type=f.type, length=f.length,
                       precision=f.precision, scale=f.scale, picklist_values=tuple(f.values),
                       reference_to=f.reference_to) for f in resolved["Deals"]]
    make().ensure_fields(specs)
    assert [len(p) for p in zoho.posts] == [5, 5, 2]  # 12 Deals fields, 5 per call
    for rows in zoho.posts:
        validate("fields_post_request", {"fields": rows})
    assert errors("fields_post_request", {"fields": zoho.posts[0] + zoho.posts[1]})  # 10 > 5 per call
