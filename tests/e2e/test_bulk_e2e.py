"""A sync whose config sets the Bulk thresholds low goes through Bulk API 2.0 (a query job
for the first full read, an ingest job for the write-back) and leaves the CRM exactly as the
REST path leaves an identical org."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from e2e_support import Org, write_config
from sandbox_seed import PLUGIN_ORG

from presales_sync.connector.salesforce import SalesforceSettings, connect
from presales_sync.sandbox import Sandbox, parse_spec
from presales_sync.sandbox.salesforce import _bulk as sandbox_bulk
from presales_sync.sync.service import sync_once

SEED_TIME = datetime(2026, 11, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
PRESALES_FIELDS = ("Presales_Engineer__c", "Presales_Step__c", "Presales_Status__c", "Presales_Due_Date__c",
                   "Presales_Health__c", "Presales_Message__c")


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
        sb = Sandbox(data_dir=tmp_path / f"sb-{name}", seed=900, seed_time=SEED_TIME, org=PLUGIN_ORG)
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
        # one REST page of deals, then the job; one page of action records (none yet); the
        # org's marker on the store's first run (read, then set: its lookup and a create)
        assert calls["query"] == 4 and calls["sobject_create"] == 1 and "query_more" not in calls, calls
        # the deals' fields go through Bulk 2.0; the plugin's event records are upserted in
        # sObject Collections of 200 (created and assigned, two per task, and the deadlines
        # the seeded org's old requests already missed)
        c = bulk_report["counts"]
        events = c["events_written"]
        assert events == 2 * c["tasks_created"] + c["sla_breached"] > 0
        assert calls.get("composite_sobjects", 0) == -(-events // 200)
        assert "bulk_query_create" not in rest_report["api_calls"]
        assert "bulk_ingest_create" not in rest_report["api_calls"]
        server = bulk.stats()
        assert server["bulk_ingest_upload"] == 1 and server.get("composite_sobjects", 0) == -(-events // 200)

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


# -- a record deleted between runs ---------------------------------------------------------------


def _hard_delete(org: Org, ids: list[str]) -> None:
    """An admin empties them out for good: a Bulk 2.0 ``hardDelete`` job (no recycle bin)."""
    base = f"{org.sb.url}/services/data/v66.0/jobs/ingest"
    s = org.http()
    job = s.post(base, json={"object": "Opportunity", "operation": "hardDelete"}, timeout=30).json()["id"]
    assert s.put(f"{base}/{job}/batches", data="Id\n" + "".join(f"{i}\n" for i in ids), timeout=30).ok
    s.patch(f"{base}/{job}", json={"state": "UploadComplete"}, timeout=30).raise_for_status()
    org.sb.settle_bulk_jobs()  # the job's worker is done: one poll shows its final state
    info = s.get(f"{base}/{job}", timeout=30).json()
    assert (info["state"], info["numberRecordsFailed"]) == ("JobComplete", 0), info


def _closed_outcomes(config: Path, ids: list[str]) -> dict[str, str | None]:
    engine = sa.create_engine(f"sqlite:///{config.parent / 'presales.db'}")
    with engine.begin() as conn:
        rows = conn.execute(sa.text(
            "select t.opportunity_id, e.outcome from tasks t join task_events e on e.task_id = t.id "
            "where e.kind = 'closed'")).all()
    engine.dispose()
    return {opp: outcome for opp, outcome in rows if opp in ids}


@pytest.mark.parametrize("path", ["rest", "bulk"])
def test_a_record_deleted_between_runs_is_closed_as_deleted(tmp_path: Path, path: str) -> None:
    """Run 1 cannot write three records (row-locked), so they owe a write; then two go to the
    recycle bin and one is hard-deleted; run 2 writes them through sObject Collections or a
    Bulk ingest job and closes all three tasks as deleted."""
    sb = Sandbox(data_dir=tmp_path / "sb", seed=300, seed_time=SEED_TIME, org=PLUGIN_ORG)
    sb.start()
    org = Org(sb)
    try:
        victims = sorted(r["Id"] for r in org.query(
            "SELECT Id FROM Opportunity WHERE Presales_Requested__c = true AND IsClosed = false "
            "ORDER BY Id")[:3])
        sb.faults.set(parse_spec(f"lock_row:records={'|'.join(victims)},times=0"))
        config = write_config(tmp_path, sb, sync={"page_size": 200})
        first = sync_once(config, {"PRESALES_SF_SESSION_ID": sb.session_id}, now=NOW)
        assert sorted(f[0] for f in first.failures) == victims
        sb.faults.clear()
        for victim in victims[:2]:
            gone = org.http().delete(f"{sb.url}/services/data/v66.0/sobjects/Opportunity/{victim}",
                                     timeout=30)
            assert gone.status_code == 204
        _hard_delete(org, victims[2:])

        sync = {"page_size": 200, **({"bulk_write_threshold": 1} if path == "bulk" else {})}
        config = write_config(tmp_path, sb, sync=sync, keep_trail=True)
        org.reset_stats()
        second = sync_once(config, {"PRESALES_SF_SESSION_ID": sb.session_id}, now=NOW).as_dict()

        counts = second["counts"]
        assert counts["deleted_in_crm"] == 3 and counts["tasks_closed"] == 3, counts
        assert counts.get("written", 0) == 0
        codes = {f["record_id"]: f["error_code"] for f in second["failures"]}
        assert codes == dict.fromkeys(victims, "DELETED")
        assert _closed_outcomes(config, victims) == dict.fromkeys(victims, "deleted")
        calls = org.stats()
        if path == "bulk":
            assert calls["bulk_ingest_create"] == 1 and "composite_sobjects" not in calls
        else:
            assert calls["composite_sobjects"] == 1 and "bulk_ingest_create" not in calls
        # the incremental reads (deals, action records), the org's marker before writing, and
        # the hard-deleted id read back
        assert calls["query"] == 4
    finally:
        sb.stop()


# -- a Bulk read in PK-chunk order -------------------------------------------------------------


def test_bulk_read_in_pk_chunk_order_stays_cursor_safe(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox answers the query job in PK chunks (as Salesforce does without ORDER BY):
    the connector still hands out pages in stamp order, so a run that stops after any page
    and resumes from that page's largest stamp (what the engine stores) misses no record."""
    monkeypatch.setattr(sandbox_bulk, "PK_CHUNK_ROWS", 150)
    with Sandbox(data_dir=tmp_path / "sb", seed=900, seed_time=SEED_TIME, org=PLUGIN_ORG) as sb:
        settings = SalesforceSettings(instance_url=sb.url, auth_method="session",
                                      ca_bundle=str(sb.ca_file), page_size=200, bulk_read_threshold=300)
        env = {"PRESALES_SF_SESSION_ID": sb.session_id}
        reader = connect(settings, env)
        pages = list(reader.read_changed(object_name="Opportunity", fields=["Name"], since=None))
        assert reader.api_calls()["bulk_query_create"] == 1
        records = [r for p in pages for r in p.records]
        assert len(records) == len({r.id for r in records}) == 900
        assert [(r.stamp, r.id) for r in records] == sorted((r.stamp, r.id) for r in records)
        assert len(pages) > 3
        sf = connect(settings, env)
        for stop in range(1, len(pages)):
            cursor = max(r.stamp for p in pages[:stop] for r in p.records)
            seen = {r.id for p in pages[:stop] for r in p.records}
            resumed = sf.read_changed(object_name="Opportunity", fields=["Name"], since=cursor)
            seen |= {r.id for p in resumed for r in p.records}
            assert len(seen) == 900, f"stopped after page {stop}: {900 - len(seen)} records skipped"
