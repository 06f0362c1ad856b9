"""`presales sync` through the CLI against the sandbox over HTTPS, fields read back from
the sandbox: tasks appear, commands are applied or refused, and a quiet run writes nothing."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from e2e_support import Org, jwt_settings, presales, run_json, write_config, write_rules

OPEN_REQUESTED = ("SELECT Id, Presales_Engineer__c, Presales_Step__c, Presales_Status__c, "
                  "Presales_Due_Date__c, Presales_Health__c, Presales_Signoff__c, Presales_Message__c "
                  "FROM Opportunity WHERE Presales_Requested__c = true AND IsClosed = false ORDER BY Id")


def _by_id(org: Org, where: str) -> dict[str, dict]:
    soql = OPEN_REQUESTED.replace("WHERE Presales_Requested__c = true AND IsClosed = false", f"WHERE {where}")
    return {r["Id"]: r for r in org.query(soql)}


def test_first_sync_creates_assigns_and_writes_back(org: Org, tmp_path: Path) -> None:
    # plain round robin (no level gates, account owners or industry preference): every active
    # engineer is equally eligible, so the deal must be even
    config = write_config(tmp_path, org.sb, rules=str(write_rules(tmp_path, assignment={
        "account_owner": False, "level_gates": [], "industry_match": "off"})))
    org.reset_stats()
    report = run_json(config, "sync", session_id=org.sb.session_id)
    assert report["exit_code"] == 0
    requested = org.query(OPEN_REQUESTED)
    assert requested, "the seeded org has open opportunities asking for presales"
    assert report["counts"]["tasks_created"] == len(requested)
    active = {e["crm_user_id"] for e in org.roster() if e["active"]}
    for rec in requested:
        assert rec["Presales_Engineer__c"] in active
        assert rec["Presales_Step__c"] == "Requirements"
        assert rec["Presales_Status__c"] == "Assigned"
        assert rec["Presales_Due_Date__c"] is not None
        assert rec["Presales_Health__c"] in ("Green", "Yellow", "Red")
    # nobody asked for presales on the others: nothing written there
    untouched = org.query("SELECT Id FROM Opportunity WHERE Presales_Requested__c = false "
                          "AND Presales_Step__c != null")
    assert untouched == []
    # batched: one collection call per 200 records written, never one call per record
    stats = org.stats()
    assert stats.get("composite_sobjects", 0) == -(-len(requested) // 200)
    assert stats.get("sobject_patch", 0) == 0
    # fair round robin: assignment counts differ by at most one among active engineers
    counts: dict[str, int] = {}
    for rec in requested:
        counts[rec["Presales_Engineer__c"]] = counts.get(rec["Presales_Engineer__c"], 0) + 1
    assert max(counts.values()) - min(counts.values()) <= 1

    # a second run with no CRM change makes zero write calls
    org.reset_stats()
    again = run_json(config, "sync", session_id=org.sb.session_id)
    assert again["counts"].get("written", 0) == 0 and again["counts"].get("tasks_created", 0) == 0
    assert org.stats().get("composite_sobjects", 0) == 0

    # a sign-off by the assigned engineer moves the step and is cleared
    first = requested[0]
    org.set_fields(first["Presales_Engineer__c"], first["Id"], {"Presales_Signoff__c": "Sign Off"})
    # the same command by someone who is not the assigned engineer is refused, with a reason
    second = requested[1]
    intruder = next(e for e in active if e != second["Presales_Engineer__c"])
    org.set_fields(intruder, second["Id"], {"Presales_Signoff__c": "Sign Off"})
    third = run_json(config, "sync", session_id=org.sb.session_id)
    assert third["counts"]["commands_applied"] == 1 and third["counts"]["commands_rejected"] == 1
    after = _by_id(org, f"Id IN ('{first['Id']}', '{second['Id']}')")
    assert after[first["Id"]]["Presales_Step__c"] == "Solution Design"
    assert after[first["Id"]]["Presales_Status__c"] == "In Progress"
    assert after[first["Id"]]["Presales_Signoff__c"] is None
    assert after[second["Id"]]["Presales_Step__c"] == "Requirements"
    assert after[second["Id"]]["Presales_Signoff__c"] is None
    assert "assigned engineer" in (after[second["Id"]]["Presales_Message__c"] or "")

    # the history holds who signed, when, from and to
    show = presales(config, "--json", "task", "show", first["Id"], session_id=org.sb.session_id)
    assert show.returncode == 0, show.stderr
    assert '"signed_off"' in show.stdout and first["Presales_Engineer__c"] in show.stdout

    # and the echo of those writes comes back without any new write
    org.reset_stats()
    quiet = run_json(config, "sync", session_id=org.sb.session_id)
    assert quiet["counts"].get("written", 0) == 0
    assert org.stats().get("composite_sobjects", 0) == 0


def test_dry_run_shows_the_diff_and_writes_nothing(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb)
    before = {r["Id"]: r for r in org.query(OPEN_REQUESTED)}
    org.reset_stats()
    report = run_json(config, "sync", "--dry-run", session_id=org.sb.session_id)
    assert report["dry_run"] is True and report["changes"]
    assert {c["field"] for c in report["changes"]} >= {"Presales_Step__c", "Presales_Status__c"}
    assert org.stats().get("composite_sobjects", 0) == 0
    assert {r["Id"]: r for r in org.query(OPEN_REQUESTED)} == before
    table = presales(config, "sync", "--dry-run", session_id=org.sb.session_id)
    assert table.returncode == 0 and "Presales_Step__c" in table.stdout
    status = run_json(config, "status", session_id=org.sb.session_id)
    assert status["cursors"] == [] and status["tasks"] == 0  # the store was not touched


def test_exit_codes_for_cron(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb)
    # 3: the CRM refuses the session (and the secret is not echoed)
    bad = presales(config, "sync", session_id="00Dbogus!SECRETVALUE")
    assert bad.returncode == 3, bad.stderr
    assert "INVALID_SESSION_ID" in bad.stderr and "SECRETVALUE" not in bad.stderr + bad.stdout
    # 2: missing secret names the variable
    missing = presales(config, "sync")
    assert missing.returncode == 2 and "PRESALES_SF_SESSION_ID" in missing.stderr
    # 4: another live run holds the lock
    ok = presales(config, "sync", session_id=org.sb.session_id)
    assert ok.returncode == 0, ok.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'presales.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("insert into run_locks (profile, pid, host, acquired_at) "
                             "values ('default', :pid, :host, :at)"),
                     {"pid": os.getpid(), "host": os.uname().nodename, "at": datetime.now(UTC)})
    engine.dispose()
    locked = presales(config, "sync", session_id=org.sb.session_id)
    assert locked.returncode == 4 and "lock" in locked.stderr


def test_config_errors_name_file_line_and_key(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb, stroe="sqlite:///x.db")
    proc = presales(config, "sync", session_id=org.sb.session_id)
    assert proc.returncode == 2
    line = next(i for i, t in enumerate(config.read_text().splitlines(), 1) if t.startswith("stroe"))
    assert f"{config}:{line}" in proc.stderr and "did you mean 'store'" in proc.stderr
    assert not (tmp_path / "presales.db").exists() and not (tmp_path / "x.db").exists()


def test_jwt_bearer_login_against_the_sandbox(org: Org, tmp_path: Path) -> None:
    crm, env = jwt_settings(org.sb)
    config = write_config(tmp_path, org.sb, crm=crm)
    org.reset_stats()
    proc = presales(config, "--json", "sync", "--dry-run", extra_env=env)
    assert proc.returncode == 0, proc.stderr
    assert org.stats().get("oauth_token") == 1
    wrong = presales(config, "sync", extra_env={**env, "PRESALES_SF_CONSUMER_KEY": "not-our-app"})
    assert wrong.returncode == 3 and "invalid" in wrong.stderr.lower()


def test_sync_on_either_store(org: Org, tmp_path: Path, store_url: str) -> None:
    """The same CLI run with the store on SQLite or on the PostgreSQL server."""
    config = write_config(tmp_path, org.sb, store=store_url)
    first = run_json(config, "sync", "--full", session_id=org.sb.session_id)
    assert first["exit_code"] == 0 and first["counts"]["tasks_created"] > 0
    org.reset_stats()
    second = run_json(config, "sync", session_id=org.sb.session_id)
    assert second["counts"].get("tasks_created", 0) == 0
    assert org.stats().get("composite_sobjects", 0) == 0
    status = run_json(config, "status", session_id=org.sb.session_id)
    assert status["tasks"] == first["counts"]["tasks_created"] and len(status["runs"]) == 2
