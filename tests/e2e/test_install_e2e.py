"""`presales install` against the sandbox's Metadata API: fields created under the admin's
names, invisible until the permission set grants them, a second run a no-op."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import Org, presales, write_config

import mappings


def _renamed_mapping(tmp_path: Path) -> Path:
    text = mappings.default_mapping_path("salesforce").read_text(encoding="utf-8")
    text = text.replace("{field: Presales_Step__c}", "{field: SE_Step__c, values: {Requirements: 需求收集}}")
    text = text.replace("{field: Presales_Due_Date__c, type: date}", "{field: SE_Due__c, type: date}")
    path = tmp_path / "acme.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _describe_fields(org: Org, obj: str) -> dict[str, dict]:
    resp = org.http().get(f"{org.sb.url}/services/data/v66.0/sobjects/{obj}/describe", timeout=30)
    resp.raise_for_status()
    return {f["name"]: f for f in resp.json()["fields"]}


def test_install_creates_grants_and_is_idempotent(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb, mapping=str(_renamed_mapping(tmp_path)))
    assert "SE_Step__c" not in _describe_fields(org, "Opportunity")

    org.reset_stats()
    dry = presales(config, "--json", "install", "--dry-run", session_id=org.sb.session_id)
    assert dry.returncode == 0, dry.stderr
    plan = {f["field"]: f["action"] for f in json.loads(dry.stdout)["fields"]}
    assert plan["SE_Step__c"] == "create" and plan["SE_Due__c"] == "create"
    assert "SE_Step__c" not in _describe_fields(org, "Opportunity")
    assert org.stats().get("composite_create", 0) == 0 and org.stats().get("sobject_create", 0) == 0

    first = presales(config, "--json", "install", session_id=org.sb.session_id)
    assert first.returncode == 0, first.stderr
    fields = _describe_fields(org, "Opportunity")
    assert fields["SE_Step__c"]["updateable"] is True
    assert "需求收集" in [v["value"] for v in fields["SE_Step__c"]["picklistValues"]]
    assert fields["SE_Due__c"]["type"] == "date"
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
    second = presales(config, "--json", "install", session_id=org.sb.session_id)
    assert second.returncode == 0, second.stderr
    assert {f["action"] for f in json.loads(second.stdout)["fields"]} == {"unchanged"}
    stats = org.stats()
    assert stats.get("composite_create", 0) == 0 and stats.get("sobject_create", 0) == 0
    assert stats.get("composite_sobjects", 0) == 0

    # and the new fields are used by a sync under the admin's mapping
    synced = presales(config, "--json", "sync", session_id=org.sb.session_id)
    assert synced.returncode == 0, synced.stderr
    rows = org.query("SELECT Id, SE_Step__c FROM Opportunity WHERE Presales_Requested__c = true "
                     "AND IsClosed = false")
    assert rows and all(r["SE_Step__c"] in ("需求收集", "Solution Design") for r in rows)

    refused = presales(config, "uninstall", session_id=org.sb.session_id)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    removed = presales(config, "uninstall", "--yes", session_id=org.sb.session_id)
    assert removed.returncode == 0, removed.stderr
    assert "SE_Step__c" not in _describe_fields(org, "Opportunity")


def test_install_with_a_bad_session_exits_3(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb)
    proc = presales(config, "install", session_id="bogus")
    assert proc.returncode == 3, proc.stderr
    assert "INVALID_SESSION_ID" in proc.stderr
