"""An admin rule that fails on some records (a text field read as a number) never ends in a
traceback: the sync reports RULE_ERROR for those records and goes on with the CRM's own
priority, and `presales status` judges their deadlines the same way."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import Org, presales, write_config, write_rules


def test_a_rule_failing_on_a_record_is_reported_never_a_traceback(fresh_org: Org, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, priority_rules=[{"when": "name.to_flt > 1", "priority": "P1"}])
    config = write_config(tmp_path, fresh_org.sb, rules=str(rules))
    sync = presales(config, "--json", "sync", session_id=fresh_org.sb.session_id)
    assert sync.returncode == 1, sync.stderr
    assert "Traceback" not in sync.stderr
    failures = json.loads(sync.stdout)["failures"]
    assert failures and {f["error_code"] for f in failures} == {"RULE_ERROR"}
    assert all("to_flt" in f["message"] or "number" in f["message"] for f in failures)
    for args in (("status",), ("--json", "status"), ("status", "--as-of", "2099-01-01T00:00:00")):
        shown = presales(config, *args, session_id=fresh_org.sb.session_id)
        assert shown.returncode == 0, shown.stderr
        assert "Traceback" not in shown.stderr
