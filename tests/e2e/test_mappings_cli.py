"""`presales mappings validate|init` against the sandbox's live schema."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import Org, presales, write_config

import mappings


def _mapping_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = mappings.default_mapping_path("salesforce").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "my-mapping.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_validate_default_mapping_is_clean(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb)
    proc = presales(config, "--json", "mappings", "validate", session_id=org.sb.session_id)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] and all(f["ok"] for f in report["findings"])
    assert {"Account.Name", "Presales_Step__c"} <= {f["field"] for f in report["findings"]}


def test_validate_reports_missing_field_wrong_type_readonly_and_picklist(org: Org, tmp_path: Path) -> None:
    path = _mapping_copy(tmp_path, "{field: Presales_Step__c}",
                         "{field: Presales_Step__c, values: {Requirements: 需求收集}}")
    text = path.read_text(encoding="utf-8")
    text = text.replace("{field: Presales_Health__c}", "{field: Presales_Helth__c}")
    # (not Amount: the default rules compare amount with numbers, so the config would not load)
    text = text.replace("name:             {field: Name}", "name:             {field: Name, type: date}")
    text = text.replace("message:          {field: Presales_Message__c}",
                        "message:          {field: SystemModstamp, type: datetime}")
    path.write_text(text, encoding="utf-8")
    config = write_config(tmp_path, org.sb, mapping=str(path))
    proc = presales(config, "--json", "mappings", "validate", session_id=org.sb.session_id)
    assert proc.returncode == 2
    bad = {f["field"]: f["detail"] for f in json.loads(proc.stdout)["findings"] if not f["ok"]}
    assert set(bad) == {"Presales_Step__c", "Presales_Helth__c", "Name", "SystemModstamp"}
    assert "需求收集" in bad["Presales_Step__c"]
    assert "no field Presales_Helth__c" in bad["Presales_Helth__c"]
    assert "cannot hold a date" in bad["Name"]
    assert "not updateable" in bad["SystemModstamp"]
    table = presales(config, "mappings", "validate", session_id=org.sb.session_id)
    assert table.returncode == 2 and "ERROR" in table.stdout


def test_init_writes_a_mapping_that_loads_and_validates(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb)
    out = tmp_path / "starter.yaml"
    proc = presales(config, "mappings", "init", "--out", str(out), session_id=org.sb.session_id)
    assert proc.returncode == 0, proc.stderr
    starter = mappings.load_mapping(out)
    default = mappings.load_mapping(mappings.default_mapping_path("salesforce"))
    assert starter == default  # every default field exists in the sandbox org
    again = presales(config, "mappings", "init", "--out", str(out), session_id=org.sb.session_id)
    assert again.returncode == 2 and "--force" in again.stderr
