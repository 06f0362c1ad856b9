"""Hostile values in CRM records, served over the real wire: a number field holding
Infinity (JSON ``Infinity``, as Python's and many JSON encoders write it), text with NUL.
The record with a value no field can hold is quarantined naming the record and the field
(exit 1, the rest of the run goes on); text the store cannot keep as it is is made safe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e_support import OPEN_REQUESTED, Org, presales, write_config


def _poke(org: Org, record_id: str, values: dict[str, Any]) -> None:
    """Store `values` as the org holds them, past the API's own checks (bad data from
    elsewhere: an import, another integration, an independent CRM stand-in)."""
    store = org.sb._require_store()
    obj = store.objects["opportunity"]
    with store.transaction() as db:
        store.update_row(db, obj, record_id, {**values, "SystemModstamp": store.next_stamp()})


def test_infinity_in_a_number_field_quarantines_that_record_only(fresh_org: Org, tmp_path: Path) -> None:
    org = fresh_org
    records = org.query(OPEN_REQUESTED)
    bad, odd = records[0], records[1]
    _poke(org, bad["Id"], {"Presales_Rework_Count__c": float("inf")})
    _poke(org, odd["Id"], {"Name": "Acme\x00 deal"})
    raw = org.http().get(f"{org.sb.url}/services/data/v66.0/sobjects/Opportunity/{bad['Id']}", timeout=10)
    assert b'"Presales_Rework_Count__c": Infinity' in raw.content  # what the client really reads
    config = write_config(tmp_path, org.sb)
    proc = presales(config, "--json", "sync", session_id=org.sb.session_id)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert [(f["record_id"], f["error_code"]) for f in report["failures"]] == [(bad["Id"], "BAD_VALUE")]
    assert "Presales_Rework_Count__c" in report["failures"][0]["message"]
    assert "finite" in report["failures"][0]["message"]
    steps = {r["Id"]: r["Presales_Step__c"] for r in org.query(OPEN_REQUESTED)}
    assert steps.pop(bad["Id"]) is None and set(steps.values()) == {"Requirements"}  # the rest went on
    shown = presales(config, "--json", "task", "show", odd["Id"], session_id=org.sb.session_id)
    assert shown.returncode == 0, shown.stderr
