"""`presales mappings validate|init` against the sandbox's live schema, on both CRMs."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import Org, presales

from presales_sync import mappings


def _mapping_copy(tmp_path: Path, old: str, new: str, crm: str = "salesforce") -> Path:
    text = mappings.default_mapping_path(crm).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "my-mapping.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


#: Per CRM: (standard name field, a read-only datetime, a parent value the mapping reads).
STANDARD = {"salesforce": ("Name", "SystemModstamp", "Account.Name"),
            "zoho": ("Deal_Name", "Modified_Time", "Account_Name.name")}


def test_validate_default_mapping_is_clean(crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    config = org.config(tmp_path)
    proc = presales(config, "--json", "mappings", "validate", extra_env=org.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] and all(f["ok"] for f in report["findings"])
    assert {STANDARD[org.crm][2], org.f("Presales_Step__c")} <= {f["field"] for f in report["findings"]}


def test_validate_reports_missing_field_wrong_type_readonly_and_picklist(crm_org: Org,
                                                                         tmp_path: Path) -> None:
    org = crm_org
    name, stamp, _ = STANDARD[org.crm]
    step, health = org.f("Presales_Step__c"), org.f("Presales_Health__c")
    message = org.f("Presales_Message__c")
    path = _mapping_copy(tmp_path, f"{{field: {step}}}",
                         f"{{field: {step}, values: {{Requirements: 需求收集}}}}", org.crm)
    text = path.read_text(encoding="utf-8")
    text = text.replace(f"{{field: {health}}}", f"{{field: {org.f('Presales_Helth__c')}}}")
    # (not Amount: the default rules compare amount with numbers, so the config would not load)
    text = text.replace(f"name:             {{field: {name}}}",
                        f"name:             {{field: {name}, type: date}}")
    text = text.replace(f"message:          {{field: {message}}}",
                        f"message:          {{field: {stamp}, type: datetime}}")
    path.write_text(text, encoding="utf-8")
    config = org.config(tmp_path, mapping=str(path))
    proc = presales(config, "--json", "mappings", "validate", extra_env=org.env)
    assert proc.returncode == 2
    bad = {f["field"]: f["detail"] for f in json.loads(proc.stdout)["findings"] if not f["ok"]}
    assert set(bad) == {step, org.f("Presales_Helth__c"), name, stamp}
    assert "需求收集" in bad[step]
    assert f"no field {org.f('Presales_Helth__c')}" in bad[org.f("Presales_Helth__c")]
    assert "cannot hold a date" in bad[name]
    assert "not updateable" in bad[stamp]
    table = presales(config, "mappings", "validate", extra_env=org.env)
    assert table.returncode == 2 and "ERROR" in table.stdout


def test_init_writes_a_mapping_that_loads_and_validates(crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    config = org.config(tmp_path)
    out = tmp_path / "starter.yaml"
    proc = presales(config, "mappings", "init", "--out", str(out), extra_env=org.env)
    assert proc.returncode == 0, proc.stderr
    starter = mappings.load_mapping(out)
    default = mappings.load_mapping(mappings.default_mapping_path(org.crm))
    assert starter == default  # every default field exists in the sandbox org
    again = presales(config, "mappings", "init", "--out", str(out), extra_env=org.env)
    assert again.returncode == 2 and "--force" in again.stderr
