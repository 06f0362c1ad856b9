"""The plugin's field catalogue follows the admin's mapping: names and picklist values."""

from __future__ import annotations

from pathlib import Path

from presales_sync import mappings
from presales_sync.mappings.fields import plugin_fields, plugin_objects

DEFAULT = mappings.default_mapping_path("salesforce")


def test_default_catalogue_matches_the_contract() -> None:
    fields = plugin_fields(mappings.load_mapping(DEFAULT))
    opp = {f.name: f for f in fields["Opportunity"]}
    assert set(opp) == {"Presales_Requested__c", "Presales_Priority__c",
                        "Presales_Engineer__c", "Presales_Step__c", "Presales_Status__c",
                        "Presales_Due_Date__c", "Presales_Response_Due__c", "Presales_Health__c",
                        "Presales_Rework_Count__c", "Presales_Message__c",
                        "Presales_Satisfaction__c", "Presales_Recognition__c"}
    assert opp["Presales_Rework_Count__c"].precision == 3 and opp["Presales_Rework_Count__c"].scale == 0
    assert opp["Presales_Engineer__c"].type == "Lookup" and opp["Presales_Engineer__c"].reference_to == "User"
    assert {f.name for f in fields["User"]} == {"Presales_KPI_Score__c", "Presales_Rating__c",
                                                "Presales_KPI_Period__c"}
    actions = {f.name: f for f in fields["Presales_Action__c"]}
    assert actions["Action__c"].values == ["Request", "Sign Off", "Review Pass", "Review Rework", "Hold",
                                          "Resume", "Reassign"]
    assert actions["Kind__c"].values[:3] == ["Created", "Assigned", "Signed Off"]  # the mapping's labels
    assert actions["Note__c"].type == "LongText" and actions["Event_Time__c"].type == "DateTime"
    (action, setting) = plugin_objects(mappings.load_mapping(DEFAULT))
    assert (action.name, action.parent, action.parent_field, action.key_field) == (
        "Presales_Action__c", "Opportunity", "Opportunity__c", "Ext_Id__c")
    assert (setting.name, setting.spec.kind) == ("Presales_Setting__c", "setting")


def test_renamed_and_translated_fields_are_installed_under_the_orgs_names(tmp_path: Path) -> None:
    text = DEFAULT.read_text(encoding="utf-8").replace(
        "step:             {field: Presales_Step__c}",
        "step:             {field: SE_Step__c, values: {Requirements: 需求收集}}")
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    opp = {f.name: f for f in plugin_fields(mappings.load_mapping(path))["Opportunity"]}
    assert "Presales_Step__c" not in opp
    assert opp["SE_Step__c"].values[0] == "需求收集" and "Done" in opp["SE_Step__c"].values
