"""A sync whose config sets the Bulk thresholds low goes through Bulk API 2.0 (a query job
for the first full read, an ingest job for the write-back) and leaves the CRM exactly as the
REST path leaves an identical org."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from e2e_support import Org, write_config

from connector.sandbox import Sandbox
from sync.service import sync_once

SEED_TIME = datetime(2026, 11, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
PRESALES_FIELDS = ("Presales_Engineer__c", "Presales_Step__c", "Presales_Status__c", "Presales_Due_Date__c",
                   "Presales_Health__c", "Presales_Signoff__c", "Presales_Message__c")


def _org_state(org: Org) -> dict[str, dict[str, Any]]:
    rows = org.query(f"SELECT Id, {', '.join(PRESALES_FIELDS)} FROM Opportunity ORDER BY Id")
    return {r["Id"]: {f: r[f] for f in PRESALES_FIELDS} for r in rows}


def _sync(tmp: Path, sb: Sandbox, **sync: Any) -> dict[str, Any]:
    config = write_config(tmp, sb, sync={"page_size": 200, **sync})
    report = sync_once(config, {"PRESALES_SF_SESSION_ID": sb.session_id}, now=NOW)
    assert report.exit_code == 0, report.failures
    return report.as_dict()


def test_bulk_path_matches_rest_path(tmp_path: Path) -> None:
    orgs = []
    for name in ("rest", "bulk"):
        sb = Sandbox(data_dir=tmp_path / f"sb-{name}", seed=900, seed_time=SEED_TIME)
        sb.start()
        orgs.append(Org(sb))
    rest, bulk = orgs
    try:
        (tmp_path / "rest").mkdir()
        (tmp_path / "bulk").mkdir()
        rest_report = _sync(tmp_path / "rest", rest.sb)
        bulk.reset_stats()
        bulk_report = _sync(tmp_path / "bulk", bulk.sb, bulk_write_threshold=10, bulk_read_threshold=300)

        written = bulk_report["counts"]["written"]
        assert written > 10 and written == rest_report["counts"]["written"]
        assert bulk_report["counts"]["read"] == rest_report["counts"]["read"] == 900
        calls = bulk_report["api_calls"]
        assert calls["bulk_query_create"] == 1 and calls["bulk_ingest_create"] == 1
        assert calls["query"] == 1 and "query_more" not in calls  # one REST page, then the job
        assert "composite_sobjects" not in calls
        assert "bulk_query_create" not in rest_report["api_calls"]
        assert "bulk_ingest_create" not in rest_report["api_calls"]
        server = bulk.stats()
        assert server["bulk_ingest_upload"] == 1 and server.get("composite_sobjects", 0) == 0

        assert _org_state(bulk) == _org_state(rest)
        assert any(v["Presales_Step__c"] for v in _org_state(bulk).values())

        # the next run reads only what changed (REST) and writes nothing
        bulk.reset_stats()
        quiet = _sync(tmp_path / "bulk", bulk.sb, bulk_write_threshold=10, bulk_read_threshold=300)
        assert quiet["counts"].get("written", 0) == 0
        assert not any(k.startswith("bulk_") for k in bulk.stats())
    finally:
        for org in orgs:
            org.sb.stop()
