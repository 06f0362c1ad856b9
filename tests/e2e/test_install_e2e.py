"""`presales install` against the sandbox (Salesforce's Metadata API, Zoho's settings/fields):
fields created under the admin's names (on Salesforce invisible until the permission set
grants them), a second run a no-op, then uninstall."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import Org, presales, write_config

from presales_sync import mappings

#: Per CRM, the sandbox's endpoint families that install writes through.
INSTALL_WRITES = {"salesforce": ("composite_create", "sobject_create", "composite_sobjects"),
                  "zoho": ("zoho_fields_post", "zoho_fields_patch", "zoho_fields_delete")}


def _renamed_mapping(org: Org, tmp_path: Path) -> Path:
    text = mappings.default_mapping_path(org.crm).read_text(encoding="utf-8")
    step, due = org.f("Presales_Step__c"), org.f("Presales_Due_Date__c")
    assert f"{{field: {step}}}" in text and f"{{field: {due}, type: date}}" in text
    renamed = f"{{field: {org.f('SE_Step__c')}, values: {{Requirements: 需求收集}}}}"
    text = text.replace(f"{{field: {step}}}", renamed)
    text = text.replace(f"{{field: {due}, type: date}}", f"{{field: {org.f('SE_Due__c')}, type: date}}")
    path = tmp_path / "acme.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _install_writes(org: Org) -> int:
    stats = org.stats()
    return sum(stats.get(family, 0) for family in INSTALL_WRITES[org.crm])


def _picklist(org: Org, field: dict) -> list[str]:
    if org.crm == "zoho":
        return [v["actual_value"] for v in field["pick_list_values"]]
    return [v["value"] for v in field["picklistValues"]]


def test_install_creates_grants_and_is_idempotent(crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    se_step, se_due = org.f("SE_Step__c"), org.f("SE_Due__c")
    config = org.config(tmp_path, mapping=str(_renamed_mapping(org, tmp_path)))
    assert se_step not in org.field_names()

    org.reset_stats()
    dry = presales(config, "--json", "install", "--dry-run", extra_env=org.env)
    assert dry.returncode == 0, dry.stderr
    plan = {f["field"]: f["action"] for f in json.loads(dry.stdout)["fields"]}
    assert plan[se_step] == "create" and plan[se_due] == "create"
    assert se_step not in org.field_names()
    assert _install_writes(org) == 0

    first = presales(config, "--json", "install", extra_env=org.env)
    assert first.returncode == 0, first.stderr
    fields = org.field_names()
    assert "需求收集" in _picklist(org, fields[se_step])
    if org.crm == "zoho":
        # Zoho gives a new field's API name itself (from the label): install checked it
        assert fields[se_step]["custom_field"] is True and fields[se_due]["data_type"] == "date"
    else:
        assert fields[se_step]["updateable"] is True and fields[se_due]["type"] == "date"
        # the grant went to the integration user and the roster's engineers and managers, nobody else
        roster = {e["crm_user_id"] for e in org.roster()}
        managers = {e["manager"] for e in org.roster()}
        outsider = next(u["Id"] for u in org.query("SELECT Id FROM User ORDER BY Id")
                        if u["Id"] not in roster | managers and u["Id"] != org.sb.integration_user_id)

        def sees(user: str) -> bool:
            resp = org.http(org.sb.session_for(user)).get(
                f"{org.sb.url}/services/data/v66.0/query",
                params={"q": "SELECT SE_Step__c FROM Opportunity LIMIT 1"}, timeout=30)
            assert resp.status_code in (200, 400), resp.text
            return resp.status_code == 200

        assert sees(next(iter(roster))) and sees(next(iter(managers))) and not sees(outsider)

    org.reset_stats()
    second = presales(config, "--json", "install", extra_env=org.env)
    assert second.returncode == 0, second.stderr
    assert {f["action"] for f in json.loads(second.stdout)["fields"]} == {"unchanged"}
    assert _install_writes(org) == 0
    assert org.write_calls() == 0

    # and the new fields are used by a sync under the admin's mapping
    synced = presales(config, "--json", "sync", extra_env=org.env)
    assert synced.returncode == 0, synced.stderr
    rows = [r for r in org.deals(fields=("Presales_Requested__c", "SE_Step__c")).values()
            if r["Presales_Requested__c"] and not r["IsClosed"]]
    assert rows and all(r["SE_Step__c"] in ("需求收集", "Solution Design") for r in rows)

    refused = presales(config, "uninstall", extra_env=org.env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    removed = presales(config, "uninstall", "--yes", extra_env=org.env)
    assert removed.returncode == 0, removed.stderr
    assert se_step not in org.field_names()


def test_install_with_a_bad_session_exits_3(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb)
    proc = presales(config, "install", session_id="bogus")
    assert proc.returncode == 3, proc.stderr
    assert "INVALID_SESSION_ID" in proc.stderr
