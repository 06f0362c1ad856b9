"""The Zoho adapter's custom module, upsert and org values: against `responses` stubs (the
request shapes, error bodies, a lost answer sent again, keys repeated in a batch) and
against the sandbox over HTTPS (an idempotent install, upserts that never duplicate,
variables round trip, actions created by a person carrying that person and the clock's
whole-second time)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from test_zoho_install import ENV, TOKEN_URL
from test_zoho_wire_full_read import crm
from zoho_schema import validate

from presales_sync.connector import ConfigError
from presales_sync.connector.base import FieldSpec, ObjectSpec, RecordChange, RecordUpsert
from presales_sync.connector.zoho import ZohoConnector, ZohoSettings, connect
from presales_sync.connector.zoho._install import definition
from presales_sync.connector.zoho._objects import module_body
from presales_sync.sandbox import ManualClock, Sandbox, parse_spec
from presales_sync.sandbox.core._seed import CustomField, CustomObject, OrgSeed

API = "https://www.zohoapis.com/crm/v8"
MODULE = "Presales_Actions"
ACTION = ObjectSpec(
    name=MODULE,
    label="Presales Action",
    plural_label="Presales Actions",
    kind="detail",
    parent="Deals",
    parent_field="Deal",
    parent_label="Deal",
    relationship_name="Presales_Actions",
    relationship_label="Presales Actions",
    key_field="Ext_Id",
    name_format="PA-{000000}",
)
SETTING = ObjectSpec(
    name="Presales_Setting", label="Presales Setting", plural_label="Presales Settings", kind="setting"
)


def make() -> ZohoConnector:
    return connect(ZohoSettings(), ENV, sleep=lambda _s: None)


def token(rsps: responses.RequestsMock) -> None:
    rsps.post(
        TOKEN_URL, json={"access_token": "tok", "api_domain": "https://www.zohoapis.com", "expires_in": 3600}
    )


def upsert_ok(rid: str, action: str = "insert") -> dict[str, Any]:
    who = {"name": "Sandbox Admin", "id": "5725767000000000001", "email": "a@example.com"}
    return {
        "code": "SUCCESS",
        "duplicate_field": None if action == "insert" else "Ext_Id",
        "action": action,
        "details": {
            "Modified_Time": "2026-12-01T16:00:00+08:00",
            "Modified_By": who,
            "Created_Time": "2026-12-01T16:00:00+08:00",
            "id": rid,
            "Created_By": who,
        },
        "message": "record added" if action == "insert" else "record updated",
        "status": "success",
    }


LOOKUP_FIELDS = {
    "fields": [
        {
            "api_name": "Deal",
            "data_type": "lookup",
            "id": "1",
            "read_only": False,
            "operation_type": {},
            "lookup": {"module": {"api_name": "Deals", "id": "9"}},
        },
        {"api_name": "Ext_Id", "data_type": "text", "id": "2", "read_only": False, "operation_type": {}},
        {"api_name": "Note", "data_type": "textarea", "id": "3", "read_only": False, "operation_type": {}},
    ]
}


# -- definitions --------------------------------------------------------------------------


def test_long_text_and_external_id_definitions() -> None:
    note = FieldSpec(object_name=MODULE, name="Note", label="Note", type="LongText", length=32000)
    key = FieldSpec(
        object_name=MODULE, name="Ext_Id", label="Ext Id", type="Text", length=80, external_id=True
    )
    assert definition(note) == {"field_label": "Note", "data_type": "textarea", "length": 32000}
    assert definition(key) == {
        "field_label": "Ext Id",
        "data_type": "text",
        "length": 80,
        "unique": {"case_sensitive": False},
    }
    validate("fields_post_request", {"fields": [definition(note), definition(key)]})
    with pytest.raises(ConfigError, match="only a Text"):
        make().ensure_fields(
            [FieldSpec(object_name=MODULE, name="N", label="N", type="Number", external_id=True)]
        )


def test_the_module_body() -> None:
    body = module_body(ACTION, ["5725767007000000001", "5725767007000000002"])
    validate("modules_post_request", body)
    assert body["modules"][0]["display_field"]["auto_number"] == {
        "prefix": "PA-",
        "suffix": "",
        "start_number": "1",
    }


def test_a_bad_label_is_refused_before_any_call() -> None:
    with pytest.raises(ConfigError, match="1-25"):
        make().ensure_objects(
            [
                ObjectSpec(
                    name=MODULE,
                    label="A label far longer than Zoho allows",
                    plural_label="X",
                    kind="detail",
                    parent="Deals",
                    parent_field="Deal",
                    key_field="Ext_Id",
                )
            ]
        )


# -- upsert against stubs -----------------------------------------------------------------


def test_upsert_sends_the_key_and_wraps_lookups() -> None:
    with responses.RequestsMock() as rsps:
        token(rsps)
        rsps.get(f"{API}/settings/fields", json=LOOKUP_FIELDS)
        rsps.post(
            f"{API}/{MODULE}/upsert",
            status=207,
            json={
                "data": [
                    upsert_ok("101"),
                    {
                        "code": "INVALID_DATA",
                        "details": {"api_name": "Note", "json_path": "$.data[1].Note"},
                        "message": "invalid data",
                        "status": "error",
                    },
                ]
            },
        )
        results = make().upsert(
            object_name=MODULE,
            key_field="Ext_Id",
            records=[
                RecordUpsert("e1", {"Deal": "77", "Note": "x"}),
                RecordUpsert("e2", {"Deal": None, "Note": 5}),
            ],
        )
        sent = json.loads(rsps.calls[-1].request.body)
    validate("records_upsert_request", sent)
    assert sent == {
        "data": [
            {"Ext_Id": "e1", "Deal": {"id": "77"}, "Note": "x"},
            {"Ext_Id": "e2", "Deal": None, "Note": 5},
        ],
        "duplicate_check_fields": ["Ext_Id"],
        "trigger": [],
    }
    assert results[0].ok and results[0].id == "101"
    assert not results[1].ok and results[1].id == "e2" and results[1].error_code == "INVALID_DATA"
    assert results[1].message == "Note: invalid data"


def test_upsert_all_refused_is_results_not_an_error() -> None:
    with responses.RequestsMock() as rsps:
        token(rsps)
        rsps.get(f"{API}/settings/fields", json=LOOKUP_FIELDS)
        rsps.post(
            f"{API}/{MODULE}/upsert",
            status=400,
            json={
                "data": [
                    {
                        "code": "RECORD_LOCKED",
                        "details": {"id": "5"},
                        "message": "the record is locked",
                        "status": "error",
                    }
                ]
            },
        )
        [result] = make().upsert(
            object_name=MODULE, key_field="Ext_Id", records=[RecordUpsert("e1", {"Note": "x"})]
        )
    assert not result.ok and result.retryable


def test_a_lost_answer_is_sent_again() -> None:
    connector = make()
    with responses.RequestsMock() as rsps:
        token(rsps)
        rsps.get(f"{API}/settings/fields", json=LOOKUP_FIELDS)
        rsps.post(f"{API}/{MODULE}/upsert", body=requests.ConnectionError("reset"))
        rsps.post(f"{API}/{MODULE}/upsert", json={"data": [upsert_ok("101", "update")]})
        [result] = connector.upsert(
            object_name=MODULE, key_field="Ext_Id", records=[RecordUpsert("e1", {"Note": "x"})]
        )
    assert result.ok and result.id == "101"
    assert connector.api_calls()["update_records"] == 2


def test_upsert_batches_of_100() -> None:
    with responses.RequestsMock() as rsps:
        token(rsps)
        rsps.get(f"{API}/settings/fields", json=LOOKUP_FIELDS)

        def answer(request: Any) -> tuple[int, dict[str, str], str]:
            rows = json.loads(request.body)["data"]
            assert len(rows) <= 100
            return 201, {}, json.dumps({"data": [upsert_ok(str(1000 + int(r["Ext_Id"]))) for r in rows]})

        rsps.add_callback(responses.POST, f"{API}/{MODULE}/upsert", callback=answer)
        results = make().upsert(
            object_name=MODULE,
            key_field="Ext_Id",
            records=[RecordUpsert(str(i), {"Note": "n"}) for i in range(250)],
        )
        assert len([c for c in rsps.calls if c.request.url.endswith("/upsert")]) == 3
    assert [r.id for r in results] == [str(1000 + i) for i in range(250)]


def test_repeated_keys_are_refused_before_sending() -> None:
    with responses.RequestsMock() as rsps:  # no call at all
        with pytest.raises(ConfigError, match="more than once"):
            make().upsert(
                object_name=MODULE,
                key_field="Ext_Id",
                records=[RecordUpsert("a", {}), RecordUpsert("b", {}), RecordUpsert("a", {})],
            )
        with pytest.raises(ConfigError, match="id"):
            make().upsert(object_name=MODULE, key_field="Ext_Id", records=[RecordUpsert("a", {"id": "1"})])
        assert not rsps.calls


# -- modules and variables against stubs -----------------------------------------------


def test_remove_objects_names_the_manual_step() -> None:
    with responses.RequestsMock() as rsps:
        token(rsps)
        rsps.get(f"{API}/settings/modules", json={"modules": [{"api_name": MODULE, "id": "1"}]})
        make().remove_objects(["Gone_Module"])  # missing is fine
        with pytest.raises(ConfigError, match="Modules and Fields"):
            make().remove_objects([MODULE])


def test_a_refused_module_is_a_config_error() -> None:
    with responses.RequestsMock() as rsps:
        token(rsps)
        rsps.get(f"{API}/settings/modules", json={"modules": [{"api_name": "Deals", "id": "9"}]})
        rsps.get(f"{API}/settings/profiles", json={"profiles": [{"id": "7", "name": "Administrator"}]})
        rsps.post(
            f"{API}/settings/modules",
            status=400,
            json={
                "modules": [
                    {
                        "code": "NOT_SUPPORTED",
                        "details": {},
                        "message": "Module creation is not supported for the current edition",
                        "status": "error",
                    }
                ]
            },
        )
        with pytest.raises(ConfigError, match="NOT_SUPPORTED") as err:
            make().ensure_objects([ACTION])
    assert err.value.code == "NOT_SUPPORTED"


def test_a_lost_variable_create_becomes_an_update() -> None:
    with responses.RequestsMock() as rsps:
        token(rsps)
        rsps.get(f"{API}/settings/variables", status=204)
        rsps.post(
            f"{API}/settings/variables",
            json={
                "variables": [
                    {
                        "code": "DUPLICATE_DATA",
                        "details": {"api_name": "api_name"},
                        "message": "duplicate data",
                        "status": "error",
                    }
                ]
            },
            status=400,
        )
        item = {
            "api_name": "Presales_Store_Owner",
            "id": "55",
            "value": "old",
            "type": "text",
            "variable_group": {"api_name": "General", "id": "3"},
        }
        rsps.get(f"{API}/settings/variables", json={"variables": [item]})
        rsps.put(
            f"{API}/settings/variables/55",
            json={
                "variables": [
                    {
                        "code": "SUCCESS",
                        "details": {"id": "55"},
                        "message": "variable updated",
                        "status": "success",
                    }
                ]
            },
        )
        make().set_org_setting("Presales_Store_Owner", "new", container="General")
        assert json.loads(rsps.calls[-1].request.body) == {"variables": [{"value": "new"}]}


def test_org_setting_missing_and_too_long() -> None:
    with responses.RequestsMock() as rsps:
        token(rsps)
        rsps.get(
            f"{API}/settings/variables",
            json={
                "variables": [
                    {
                        "api_name": "Other",
                        "id": "1",
                        "value": "x",
                        "variable_group": {"api_name": "General", "id": "3"},
                    }
                ]
            },
        )
        assert make().org_setting("Presales_Store_Owner", container="General") is None
    with pytest.raises(ConfigError, match="255"):
        make().set_org_setting("Presales_Store_Owner", "x" * 256, container="General")


# -- against the sandbox --------------------------------------------------------------


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    clock = ManualClock(datetime(2026, 12, 1, 8, 0, 0, 700_000, tzinfo=UTC))
    with Sandbox(tmp_path_factory.mktemp("zobjects"), seed=20, clock=clock) as sb:
        yield sb


@pytest.fixture(scope="module")
def connector(box: Sandbox) -> ZohoConnector:
    c = crm(box)
    c.ensure_objects([ACTION, SETTING])
    return c


def writes(c: ZohoConnector) -> int:
    return sum(
        n for family, n in c.api_calls().items() if family.endswith("_write") or family == "update_records"
    )


def test_ensure_objects_is_idempotent(box: Sandbox, connector: ZohoConnector) -> None:
    again = crm(box)
    assert [p.action for p in again.ensure_objects([ACTION, SETTING], dry_run=True)] == [
        "unchanged",
        "unchanged",
    ]
    assert [p.action for p in again.ensure_objects([ACTION, SETTING])] == ["unchanged", "unchanged"]
    assert writes(again) == 0
    schema = again.describe(MODULE)
    assert schema.fields["Deal"].reference_to == ("Deals",)
    assert schema.fields["Ext_Id"].type == "string"


def test_a_dry_run_plans_only(tmp_path_factory: pytest.TempPathFactory) -> None:
    with Sandbox(tmp_path_factory.mktemp("zdry"), seed=10) as sb:
        c = crm(sb)
        assert [p.action for p in c.ensure_objects([ACTION], dry_run=True)] == ["create"]
        assert writes(c) == 0
        assert [p.action for p in c.ensure_objects([ACTION], dry_run=True)] == ["create"]


def test_the_other_fields_go_through_ensure_fields(connector: ZohoConnector) -> None:
    specs = [
        FieldSpec(object_name=MODULE, name="Note", label="Note", type="LongText", length=32000),
        FieldSpec(object_name=MODULE, name="Actor", label="Actor", type="Lookup", reference_to="User"),
        FieldSpec(object_name=MODULE, name="Seq", label="Seq", type="Number", precision=6, scale=0),
        FieldSpec(
            object_name=MODULE,
            name="Kind",
            label="Kind",
            type="Picklist",
            picklist_values=("Created", "Assigned"),
        ),
    ]
    assert {p.action for p in connector.ensure_fields(specs)} == {"create"}
    assert {p.action for p in connector.ensure_fields(specs)} == {"unchanged"}


def test_upsert_twice_never_duplicates(box: Sandbox, connector: ZohoConnector) -> None:
    deal = next(
        iter(
            next(iter(connector.read_changed(object_name="Deals", fields=["Deal_Name"], since=None))).records
        )
    )
    before = connector.api_calls().get("update_records", 0)
    records = [RecordUpsert(f"evt-{i}", {"Deal": deal.id}) for i in range(3)]
    first = connector.upsert(object_name=MODULE, key_field="Ext_Id", records=records)
    second = connector.upsert(object_name=MODULE, key_field="Ext_Id", records=records)
    assert all(r.ok for r in first + second)
    assert [r.id for r in first] == [r.id for r in second]
    assert connector.api_calls()["update_records"] - before == 2
    pages = connector.read_changed(object_name=MODULE, fields=["Ext_Id", "Deal", "Created_By"], since=None)
    rows = [r for p in pages for r in p.records if str(r.fields.get("Ext_Id", "")).startswith("evt-")]
    assert len(rows) == 3 and {r.fields["Deal"] for r in rows} == {deal.id}


def test_a_person_creates_an_action_and_the_sync_reads_it(box: Sandbox, connector: ZohoConnector) -> None:
    users = requests.get(
        f"{box.zoho_api_domain}/crm/v8/users",
        params={"type": "ActiveUsers"},
        timeout=30,
        headers={"Authorization": f"Zoho-oauthtoken {box.zoho_token_for(box.zoho_integration_user_id)}"},
        verify=str(box.ca_file),
    ).json()["users"]
    person = next(u for u in users if u["id"] != box.zoho_integration_user_id)
    box.clock.advance(30)  # type: ignore[attr-defined]
    since = datetime.fromtimestamp(int(box.clock.now()), UTC)  # the server stamps whole seconds
    resp = requests.post(
        f"{box.zoho_api_domain}/crm/v8/{MODULE}",
        json={"data": [{"Note": "please"}]},
        timeout=30,
        headers={"Authorization": f"Zoho-oauthtoken {box.zoho_token_for(person['id'])}"},
        verify=str(box.ca_file),
    )
    assert resp.status_code == 201, resp.text
    pages = connector.read_changed(
        object_name=MODULE, fields=["Note", "Created_By", "Created_Time"], since=since
    )
    [row] = [r for p in pages for r in p.records]
    assert row.fields["Created_By"] == person["id"]
    created = datetime.fromisoformat(row.fields["Created_Time"])
    assert created == since and created.utcoffset() is not None
    [result] = connector.write(object_name=MODULE, changes=[RecordChange(row.id, {"Note": "applied"})])
    assert result.ok


def test_org_setting_round_trip(connector: ZohoConnector) -> None:
    assert connector.org_setting("Presales_Store_Owner", container="General") is None
    connector.set_org_setting("Presales_Store_Owner", "store-1", container="General")
    assert connector.org_setting("Presales_Store_Owner", container="General") == "store-1"
    connector.set_org_setting("Presales_Store_Owner", "store-2", container="General")
    assert connector.org_setting("Presales_Store_Owner", container="General") == "store-2"


def test_remove_objects_against_the_sandbox(connector: ZohoConnector) -> None:
    connector.remove_objects(["Not_There"])
    with pytest.raises(ConfigError, match="no API to delete"):
        connector.remove_objects([MODULE])


def test_a_lost_upsert_answer_resent_against_the_sandbox(box: Sandbox, connector: ZohoConnector) -> None:
    """The sandbox applies the upsert, then drops the answer; the adapter sends it again and
    the key finds the records the first send created."""
    records = [RecordUpsert(f"lost-{i}", {"Note": "n"}) for i in range(2)]
    before = connector.api_calls().get("update_records", 0)
    box.faults.set(parse_spec("lost_response@zoho_upsert_post:times=1"))
    try:
        results = connector.upsert(object_name=MODULE, key_field="Ext_Id", records=records)
    finally:
        box.faults.set(())
    assert all(r.ok for r in results)
    assert connector.api_calls()["update_records"] - before == 2  # the answer was lost once
    pages = connector.read_changed(object_name=MODULE, fields=["Ext_Id"], since=None)
    keys = [
        r.fields["Ext_Id"]
        for p in pages
        for r in p.records
        if str(r.fields.get("Ext_Id", "")).startswith("lost-")
    ]
    assert sorted(keys) == ["lost-0", "lost-1"]


SEED_OBJECT = CustomObject(
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
SEED_FIELDS = (
    CustomField("Presales_Action__c", "Ext_Id__c", "Ext Id", "Text", length=80, external_id=True),
    CustomField("Presales_Action__c", "Note__c", "Note", "LongText", length=32000),
    CustomField("Presales_Action__c", "Actor__c", "Actor", "Lookup", reference_to="User"),
    CustomField("Presales_Action__c", "Kind__c", "Kind", "Picklist", values=("Created", "Assigned")),
    CustomField("Presales_Action__c", "Seq__c", "Seq", "Number", precision=6, scale=0),
    CustomField("Presales_Action__c", "Event_Time__c", "Event Time", "DateTime"),
)


def shape(c: ZohoConnector) -> dict[str, tuple[Any, ...]]:
    out = {}
    for f in c.fields_metadata(MODULE):
        lookup = f.get("lookup") or {}
        out[str(f["api_name"])] = (
            f["data_type"],
            f.get("field_label"),
            f.get("length"),
            f.get("unique"),
            (lookup.get("module") or {}).get("api_name"),
            lookup.get("display_label"),
            [v["actual_value"] for v in f.get("pick_list_values") or ()],
        )
    return out


def test_a_seeded_installed_org_matches_an_install(tmp_path_factory: pytest.TempPathFactory) -> None:
    specs = [
        FieldSpec(
            object_name=MODULE,
            name=f.name.removesuffix("__c"),
            label=f.label,
            type=f.type,
            length=f.length,
            precision=f.precision,
            scale=f.scale,
            picklist_values=f.values,
            reference_to=f.reference_to,
        )
        for f in SEED_FIELDS
        if not f.external_id
    ]
    seeded_org = OrgSeed(fields=SEED_FIELDS, objects=(SEED_OBJECT,))
    with (
        Sandbox(tmp_path_factory.mktemp("zs1"), seed=10, org=seeded_org) as seeded,
        Sandbox(tmp_path_factory.mktemp("zs2"), seed=10) as fresh,
    ):
        installed = crm(fresh)
        installed.ensure_objects([ACTION])
        installed.ensure_fields(specs)
        already = crm(seeded)
        assert [p.action for p in already.ensure_objects([ACTION])] == ["unchanged"]
        assert {p.action for p in already.ensure_fields(specs)} == {"unchanged"}
        assert writes(already) == 0
        assert shape(already) == shape(installed)
