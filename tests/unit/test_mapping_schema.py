"""Pure checks of a mapping against a schema, and the starter mapping for an org that
lacks some of our fields."""

from __future__ import annotations

from presales_sync import mappings
from presales_sync.mappings.init import starter_mapping
from presales_sync.mappings.validate import CrmField, validate

DEFAULT = mappings.default_mapping_path("salesforce")


def _schema(drop: set[str] = frozenset()) -> dict[str, dict[str, CrmField]]:
    m = mappings.load_mapping(DEFAULT).opportunity
    opp: dict[str, CrmField] = {}
    for fm in (*m.inbound.values(), *m.outbound.values()):
        if "." in fm.field or fm.field in drop:
            continue
        kind = {"boolean": "boolean", "number": "currency", "integer": "double", "date": "date",
                "datetime": "datetime",
                "id": "reference"}.get(fm.type, "string")
        opp[fm.field] = CrmField(fm.field, kind, not fm.field.startswith(("Last", "Is")))
    opp["AccountId"] = CrmField("AccountId", "reference", True, reference_to=("Account",))
    account = {"Name": CrmField("Name", "string", True), "Industry": CrmField("Industry", "picklist", True)}
    return {"Opportunity": opp, "Account": account}


def test_validate_passes_on_a_matching_schema_and_fails_on_a_missing_field() -> None:
    objmap = mappings.load_mapping(DEFAULT).opportunity
    assert all(f.ok for f in validate(objmap, _schema(), {}))
    bad = [f for f in validate(objmap, _schema({"Presales_Health__c"}), {}) if not f.ok]
    assert [(f.direction, f.field) for f in bad] == [("outbound", "Presales_Health__c")]


def test_restricted_picklist_values_are_checked_after_translation() -> None:
    objmap = mappings.load_mapping(DEFAULT).opportunity
    schema = _schema()
    schema["Opportunity"]["Presales_Step__c"] = CrmField("Presales_Step__c", "picklist", True,
                                                         ("Requirements",), restricted=True)
    (finding,) = [f for f in validate(objmap, schema, {"step": frozenset({"Requirements", "Done"})})
                  if not f.ok]
    assert "Done" in finding.detail and "Requirements" not in finding.detail.split("lacks")[1]


def test_starter_mapping_comments_out_optional_and_flags_required_fields() -> None:
    text, missing = starter_mapping(DEFAULT.read_text(encoding="utf-8"), "Opportunity",
                                    _schema({"Presales_Health__c", "Presales_Message__c"}))
    assert missing == ["Presales_Health__c", "Presales_Message__c"]
    assert "# health:" in text  # optional: commented out
    assert "message:          {field: Presales_Message__c}" in text and "NOT IN YOUR ORG" in text
