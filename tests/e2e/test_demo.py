"""`presales demo` end to end on a small org: empty org → install → requests → syncs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from e2e_support import PRESALES


def test_demo_from_an_empty_org(tmp_path: Path) -> None:
    proc = subprocess.run([PRESALES, "--json", "demo", "--opportunities", "300", "--workdir",
                           str(tmp_path / "demo")], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    first, second, third = result["runs"]
    assert first["counts"]["tasks_created"] > 0 and first["exit_code"] == 0
    assert second["counts"]["commands_applied"] > 0
    assert third["counts"].get("written", 0) == 0 and third["api_calls"].get("composite_sobjects", 0) == 0
    assert result["api_calls_sandbox"]["metadata"] > 0  # the fields were installed first
    history = result["history"]
    assert history["syncs"] > 0 and history["tasks_closed"] > 0
    assert sum(sum(c.values()) for c in result["by_engineer"].values()) == (
        first["counts"]["tasks_created"] + history["tasks_created"])
    # the replayed history gives every metric of the scorecard something to show
    cards = result["scorecards"]
    assert cards and all(c["period"] == result["period"] for c in cards)
    for metric in ("projects", "win_rate", "satisfaction", "first_pass_rate", "rework_count", "recognition",
                   "documents", "trainings", "sharing_sessions", "certifications", "skill_improvements"):
        values = [m["value"] for c in cards for m in c["metrics"] if m["metric"] == metric]
        assert any(v for v in values), metric
    assert len({c["band"] for c in cards}) >= 2
    report = Path(result["report"])
    assert report.exists() and "<svg" in report.read_text(encoding="utf-8")
