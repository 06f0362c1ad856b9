"""The Zoho side of the mapping language and config: the default Zoho mapping, booleans
derived from Stage (`true_values`), lookup keys in `mappings validate`, the plugin's fields
under Zoho names, and `crm: {kind: zoho}` configs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from presales_sync import mappings
from presales_sync.mappings import FileProblems, inbound, load_mapping
from presales_sync.mappings.fields import plugin_fields, plugin_objects
from presales_sync.mappings.validate import CrmField, validate
from presales_sync.sync import config as config_mod

ZOHO = mappings.default_mapping_path("zoho")
STAGES = ("Qualification", "Closed Won", "Closed Lost", "Closed Lost to Competition")


def test_default_zoho_mapping_loads_and_derives_closed_and_won_from_stage() -> None:
    objmap = load_mapping(ZOHO).opportunity
    assert objmap.object == "Deals"
    assert all(not fm.field.endswith("__c") for fm in (*objmap.inbound.values(), *objmap.outbound.values()))
    cases = {"Closed Won": (True, True), "Closed Lost": (True, False),
             "Closed Lost to Competition": (True, False), "Qualification": (False, False),
             None: (False, False)}
    for stage, (closed, won) in cases.items():
        values = inbound(objmap, {"Stage": stage})
        assert (values["is_closed"], values["is_won"]) == (closed, won), stage
    # an absent Stage takes the default too; "" is a stage no list names
    assert inbound(objmap, {})["is_closed"] is False
    assert inbound(objmap, {"Stage": ""})["is_won"] is False


def _mapping_with(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "m.yaml"
    text = ZOHO.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, message", [
    ("{field: Stage, type: boolean, default: false, true_values: [Closed Won]}",
     "{field: Stage, true_values: [Closed Won]}", "only for type boolean"),
    ("step:             {field: Presales_Step}",
     "step:             {field: Presales_Step, type: boolean, true_values: [Done]}", "only derive inbound"),
])
def test_true_values_are_checked(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(FileProblems, match=message):
        load_mapping(_mapping_with(tmp_path, old, new))


def _schema() -> dict[str, dict[str, CrmField]]:
    deals = {
        "Deal_Name": CrmField("Deal_Name", "string", True),
        "Account_Name": CrmField("Account_Name", "reference", True, reference_to=("Accounts",)),
        "Stage": CrmField("Stage", "picklist", True, STAGES, True),
        "Amount": CrmField("Amount", "currency", True),
        "Closing_Date": CrmField("Closing_Date", "date", True),
        "Owner": CrmField("Owner", "reference", True, reference_to=("users",)),
        "Modified_By": CrmField("Modified_By", "reference", False, reference_to=("users",)),
        "Presales_Requested": CrmField("Presales_Requested", "boolean", True),
        "Presales_Priority": CrmField("Presales_Priority", "picklist", True, ("P1", "P2", "P3"), True),
        "Presales_Engineer": CrmField("Presales_Engineer", "reference", True, reference_to=("users",)),
        "Presales_Step": CrmField("Presales_Step", "picklist", True, ("Requirements",), True),
        "Presales_Status": CrmField("Presales_Status", "picklist", True, ("New",), True),
        "Presales_Due_Date": CrmField("Presales_Due_Date", "date", True),
        "Presales_Response_Due": CrmField("Presales_Response_Due", "datetime", True),
        "Presales_Health": CrmField("Presales_Health", "picklist", True, ("Green",), True),
        "Presales_Rework_Count": CrmField("Presales_Rework_Count", "int", True),
        "Presales_Message": CrmField("Presales_Message", "string", True),
        "Presales_Satisfaction": CrmField("Presales_Satisfaction", "double", True),
        "Presales_Recognition": CrmField("Presales_Recognition", "boolean", True),
    }
    return {"Deals": deals}


def test_validate_accepts_lookup_keys_and_stage_booleans() -> None:
    objmap = load_mapping(ZOHO).opportunity
    findings = validate(objmap, _schema(), {"step": frozenset({"Requirements"})})
    bad = [f for f in findings if not f.ok]
    assert bad == []
    by_name = {(f.direction, f.name): f for f in findings}
    assert by_name[("inbound", "is_won")].detail == "picklist -> boolean"
    assert by_name[("inbound", "account_name")].ok


def test_validate_flags_a_stage_the_org_does_not_have() -> None:
    schema = _schema()
    schema["Deals"]["Stage"] = CrmField("Stage", "picklist", True, ("Won", "Lost"), True)
    findings = validate(load_mapping(ZOHO).opportunity, schema, {})
    bad = {f.name: f.detail for f in findings if not f.ok}
    assert set(bad) == {"is_closed", "is_won"} and "Closed Won" in bad["is_won"]
    schema["Deals"]["Stage"] = CrmField("Stage", "boolean", True)
    findings = validate(load_mapping(ZOHO).opportunity, schema, {})
    assert any(not f.ok and "text or picklist" in f.detail for f in findings)


def test_plugin_fields_under_zoho_names_and_modules(tmp_path: Path) -> None:
    fields = plugin_fields(load_mapping(ZOHO))
    assert set(fields) == {"Deals", "users", "Presales_Actions"}
    deals = {f.name: f for f in fields["Deals"]}
    assert "Presales_Response_Due" in deals and "Presales_Signoff" not in deals
    assert "Action" in {f.name for f in fields["Presales_Actions"]}
    assert [(o.name, o.parent, o.parent_field, o.key_field) for o in plugin_objects(load_mapping(ZOHO))] == [
        ("Presales_Actions", "Deals", "Deal", "Ext_Id")]  # no setting object: Zoho keeps org variables
    assert all(not name.endswith("__c") for name in deals)
    assert [f.name for f in fields["users"]] == ["Presales_KPI_Score", "Presales_Rating",
                                                 "Presales_KPI_Period"]
    renamed = _mapping_with(tmp_path, "{field: Presales_Step}",
                            "{field: SE_Step, values: {Requirements: 需求}}")
    deals = {f.name: f for f in plugin_fields(load_mapping(renamed))["Deals"]}
    assert "SE_Step" in deals and "需求" in deals["SE_Step"].values


def _config(tmp_path: Path, crm: dict) -> Path:
    roster = tmp_path / "engineers.yaml"
    roster.write_text("engineers: []\n", encoding="utf-8")
    path = tmp_path / "presales.yaml"
    path.write_text(yaml.safe_dump({"crm": crm, "roster": str(roster)}), encoding="utf-8")
    return path


def test_zoho_config_loads_with_the_zoho_mapping(tmp_path: Path) -> None:
    loaded = config_mod.load(_config(tmp_path, {"kind": "zoho", "data_center": "com.cn"}))
    assert loaded.config.crm.kind == "zoho" and loaded.mapping.crm == "zoho"
    assert loaded.config.crm.data_center == "com.cn"
    sf = config_mod.load(_config(tmp_path, {"instance_url": "https://acme.my.salesforce.com"}))
    assert sf.config.crm.kind == "salesforce" and sf.mapping.opportunity.object == "Opportunity"


@pytest.mark.parametrize("crm, key, message", [
    ({"kind": "zoho", "instance_url": "https://x.my.salesforce.com"}, "crm.instance_url", "not used by Zoho"),
    ({"kind": "salesforce"}, "crm.instance_url", "required for a Salesforce org"),
    ({"instance_url": "https://x.my.salesforce.com", "data_center": "eu"}, "crm.data_center",
     "only for kind: zoho"),
    ({"kind": "zoho", "data_center": "moon"}, "crm.data_center", "unknown data centre"),
    ({"kind": "zoho", "accounts_url": "http://accounts.zoho.com"}, "crm.accounts_url", "https"),
    ({"kind": "zoho", "api_version": "66.0"}, "crm", "only for kind: salesforce"),
])
def test_crm_config_errors_name_the_key(tmp_path: Path, crm: dict, key: str, message: str) -> None:
    with pytest.raises(FileProblems) as info:
        config_mod.load(_config(tmp_path, crm))
    problem = info.value.problems[0]
    assert problem.key == key and message in problem.message and problem.line is not None


def test_datetimes_compare_at_the_precision_the_crm_keeps() -> None:
    objmap = load_mapping(ZOHO).opportunity
    fm = objmap.outbound["response_due"]
    assert fm.precision == "second"
    due = datetime(2026, 11, 23, 10, 15, 30, 987000, tzinfo=UTC)
    written = mappings.outbound(objmap, {"response_due": due})
    read_back = mappings.observed(objmap, {fm.field: "2026-11-23T18:15:30+08:00"})
    assert written[fm.field] == read_back[fm.field] == "2026-11-23T10:15:30.000Z"
    # Salesforce keeps whole seconds too (a DateTime drops the milliseconds we send)
    sf = load_mapping(mappings.default_mapping_path("salesforce")).opportunity
    kept = mappings.outbound(sf, {"response_due": due})
    assert kept["Presales_Response_Due__c"] == "2026-11-23T10:15:30.000Z"
    assert mappings.observed(sf, {"Presales_Response_Due__c": "2026-11-23T10:15:30.000+0000"}) == kept


def test_precision_is_only_for_datetimes(tmp_path: Path) -> None:
    with pytest.raises(FileProblems, match="precision: only for type datetime"):
        load_mapping(_mapping_with(tmp_path, "{field: Presales_Due_Date, type: date}",
                                   "{field: Presales_Due_Date, type: date, precision: second}"))
