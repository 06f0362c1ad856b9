"""`presales demo` end to end on a small org, on each CRM: empty org → install → requests →
syncs, within a few calls of the floor the CRM's batch sizes allow."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from e2e_support import CRMS, PRESALES

#: Per CRM: the connector's write family, the sandbox family that proves install ran first.
FAMILIES = {"salesforce": ("composite_sobjects", "metadata"), "zoho": ("update_records", "zoho_fields_post")}


@pytest.mark.parametrize("crm", CRMS)
def test_demo_from_an_empty_org(tmp_path: Path, crm: str) -> None:
    proc = subprocess.run([PRESALES, "--json", "demo", "--crm", crm, "--opportunities", "300", "--workdir",
                           str(tmp_path / "demo")], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    writes, install = FAMILIES[crm]
    first, second, third = result["runs"]
    assert first["counts"]["tasks_created"] > 0 and first["exit_code"] == 0
    assert second["counts"]["commands_applied"] > 0
    assert third["counts"].get("written", 0) == 0 and third["api_calls"].get(writes, 0) == 0
    assert result["api_calls_sandbox"][install] > 0  # the fields were installed first
    history = result["history"]
    assert sum(sum(c.values()) for c in result["by_engineer"].values()) == (
        first["counts"]["tasks_created"] + history["tasks_created"])
    if crm == "zoho":
        # the token and the whoami were got during the history: the three syncs cost the floor,
        # plus the field-metadata reads the Zoho adapter makes when a field it writes was empty
        # in every record read (it must learn whether it is a lookup): one per module it writes
        metadata = [r["api_calls"].get("fields", 0) for r in result["runs"]]
        assert result["api_calls_ours"] == result["floor"] + sum(metadata)
        assert all(n <= 2 for n in metadata)  # the deals, the action records
        assert result["api_calls_sandbox"]["zoho_users_put"] >= 1  # the scorecards, on Zoho's users
    assert history["syncs"] > 0 and history["tasks_closed"] > 0
    # the replayed history gives every metric of the scorecard something to show
    cards = result["scorecards"]
    assert cards and all(c["period"] == result["period"] for c in cards)
    # install created the User KPI fields in the empty org; the scores were written to them
    assert result["users_written"] == len(cards)
    metrics = ["projects", "win_rate", "satisfaction", "first_pass_rate", "rework_count", "recognition",
               "documents", "trainings", "sharing_sessions", "certifications", "skill_improvements"]
    if crm == "zoho":  # the Zoho org's ids order the history otherwise: few won deals, no recognition
        metrics.remove("recognition")
    for metric in metrics:
        values = [m["value"] for c in cards for m in c["metrics"] if m["metric"] == metric]
        assert any(v for v in values), metric
    assert len({c["band"] for c in cards}) >= 2
    report = Path(result["report"])
    assert report.exists() and "<svg" in report.read_text(encoding="utf-8")
