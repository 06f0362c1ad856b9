"""`presales sync` through the CLI against the sandbox over HTTPS, on Salesforce and on Zoho
(`crm_org`), fields read back from the sandbox: tasks appear, action records are applied or
refused, and a quiet run writes nothing."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from e2e_support import (
    PLUGIN_FIELDS,
    WRITE_BATCH,
    Org,
    jwt_settings,
    presales,
    run_json,
    write_config,
    write_rules,
)


def _open_requested(org: Org) -> dict[str, dict[str, Any]]:
    return {i: r for i, r in org.deals().items() if r["Presales_Requested__c"] and not r["IsClosed"]}


def test_first_sync_creates_assigns_and_writes_back(crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    # plain round robin (no level gates, account owners or industry preference): every active
    # engineer is equally eligible, so the deal must be even
    config = org.config(tmp_path, rules=str(write_rules(tmp_path, assignment={
        "account_owner": False, "level_gates": [], "industry_match": "off"})))
    org.reset_stats()
    report = run_json(config, "sync", extra_env=org.env)
    assert report["exit_code"] == 0
    requested = _open_requested(org)
    assert requested, "the seeded org has open opportunities asking for presales"
    assert report["counts"]["tasks_created"] == len(requested)
    active = {e["crm_user_id"] for e in org.roster() if e["active"]}
    for rec in requested.values():
        assert rec["Presales_Engineer__c"] in active
        assert rec["Presales_Step__c"] == "Requirements"
        assert rec["Presales_Status__c"] == "Assigned"
        assert rec["Presales_Due_Date__c"] is not None
        assert rec["Presales_Health__c"] in ("Green", "Yellow", "Red")
    # nobody asked for presales on the others: nothing written there
    untouched = [i for i, r in org.deals().items()
                 if not r["Presales_Requested__c"] and r["Presales_Step__c"]]
    assert untouched == []
    # batched: one write call per full batch (Salesforce 200, Zoho 100), never one per record;
    # the plugin's event records go in batches of their own (Zoho: upserts, another family)
    events = report["counts"]["events_written"]
    assert events >= 2 * len(requested)  # created and assigned, and any deadline already missed
    batches = -(-len(requested) // WRITE_BATCH[org.crm])
    own = -(-events // WRITE_BATCH[org.crm]) if org.crm == "salesforce" else 0
    assert org.write_calls() == batches + own
    assert org.stats().get("sobject_patch", 0) == 0
    # fair round robin: assignment counts differ by at most one among active engineers
    counts: dict[str, int] = {}
    for rec in requested.values():
        counts[rec["Presales_Engineer__c"]] = counts.get(rec["Presales_Engineer__c"], 0) + 1
    assert max(counts.values()) - min(counts.values()) <= 1

    # a second run with no CRM change makes zero write calls
    org.reset_stats()
    again = run_json(config, "sync", extra_env=org.env)
    assert again["counts"].get("written", 0) == 0 and again["counts"].get("tasks_created", 0) == 0
    assert org.write_calls() == 0

    # a sign-off by the assigned engineer (an action record on the deal) moves the step
    first_id, first = sorted(requested.items())[0]
    signed = org.act(first["Presales_Engineer__c"], first_id, "Sign Off")
    # the same action by someone who is not the assigned engineer is refused, with a reason
    second_id, second = sorted(requested.items())[1]
    intruder = next(e for e in sorted(active) if e != second["Presales_Engineer__c"])
    refused = org.act(intruder, second_id, "Sign Off")
    third = run_json(config, "sync", extra_env=org.env)
    assert third["counts"]["commands_applied"] == 1 and third["counts"]["commands_rejected"] == 1
    after = org.deals()
    assert after[first_id]["Presales_Step__c"] == "Solution Design"
    assert after[first_id]["Presales_Status__c"] == "In Progress"
    assert after[second_id]["Presales_Step__c"] == "Requirements"
    actions = org.actions()
    assert actions[signed]["Outcome__c"] == "Applied" and actions[refused]["Outcome__c"] == "Refused"
    assert "assigned engineer" in (actions[refused]["Reason__c"] or "")

    # the history holds who signed, when, from and to
    show = presales(config, "--json", "task", "show", first_id, extra_env=org.env)
    assert show.returncode == 0, show.stderr
    assert '"signed_off"' in show.stdout and first["Presales_Engineer__c"] in show.stdout

    # and the echo of those writes comes back without any new write
    org.reset_stats()
    quiet = run_json(config, "sync", extra_env=org.env)
    assert quiet["counts"].get("written", 0) == 0
    assert org.write_calls() == 0


def test_dry_run_shows_the_diff_and_writes_nothing(crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    config = org.config(tmp_path)
    before = org.deals()
    org.reset_stats()
    report = run_json(config, "sync", "--dry-run", extra_env=org.env)
    assert report["dry_run"] is True and report["changes"]
    assert {c["field"] for c in report["changes"]} <= {org.f(f) for f in PLUGIN_FIELDS}
    assert org.write_calls() == 0
    assert org.deals() == before
    table = presales(config, "sync", "--dry-run", extra_env=org.env)
    assert table.returncode == 0 and org.f("Presales_Step__c") in table.stdout
    status = run_json(config, "status", extra_env=org.env)
    assert status["cursors"] == [] and status["tasks"] == 0  # the store was not touched


#: Per CRM: a refused secret, the error code the CLI shows, the variable a missing secret names.
BAD_SECRET = {"salesforce": ("PRESALES_SF_SESSION_ID", "00Dbogus!SECRETVALUE", "INVALID_SESSION_ID"),
              "zoho": ("PRESALES_ZOHO_REFRESH_TOKEN", "1000.bogus.SECRETVALUE", "invalid_code")}


def test_exit_codes_for_cron(crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    config = org.config(tmp_path)
    variable, bogus, code = BAD_SECRET[org.crm]
    # 3: the CRM refuses the credentials (and the secret is not echoed)
    bad = presales(config, "sync", extra_env={**org.env, variable: bogus})
    assert bad.returncode == 3, bad.stderr
    assert code in bad.stderr and "SECRETVALUE" not in bad.stderr + bad.stdout
    # 2: missing secret names the variable
    missing = presales(config, "sync", extra_env={k: v for k, v in org.env.items() if k != variable})
    assert missing.returncode == 2 and variable in missing.stderr
    # 4: another live run holds the lock
    ok = presales(config, "sync", extra_env=org.env)
    assert ok.returncode == 0, ok.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'presales.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("insert into run_locks (profile, pid, host, acquired_at) "
                             "values ('default', :pid, :host, :at)"),
                     {"pid": os.getpid(), "host": os.uname().nodename, "at": datetime.now(UTC)})
    engine.dispose()
    locked = presales(config, "sync", extra_env=org.env)
    assert locked.returncode == 4 and "lock" in locked.stderr


def test_config_errors_name_file_line_and_key(crm_org: Org, tmp_path: Path) -> None:
    config = crm_org.config(tmp_path, stroe="sqlite:///x.db")
    proc = presales(config, "sync", extra_env=crm_org.env)
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


def test_sync_on_either_store(crm_org: Org, tmp_path: Path, store_url: str) -> None:
    """The same CLI run with the store on SQLite or on the PostgreSQL server."""
    org = crm_org
    config = org.config(tmp_path, store=store_url)
    first = run_json(config, "sync", "--full", extra_env=org.env)
    assert first["exit_code"] == 0 and first["counts"]["tasks_created"] > 0
    org.reset_stats()
    second = run_json(config, "sync", extra_env=org.env)
    assert second["counts"].get("tasks_created", 0) == 0
    assert org.write_calls() == 0
    status = run_json(config, "status", extra_env=org.env)
    assert status["tasks"] == first["counts"]["tasks_created"] and len(status["runs"]) == 2


def test_zoho_token_is_refreshed_once_cached_across_runs_and_refused_with_its_code(
        org: Org, tmp_path: Path) -> None:
    zoho = Org(org.sb, crm="zoho")  # this test's own token cache, beside its config
    config = zoho.config(tmp_path)
    zoho.reset_stats()
    first = presales(config, "--json", "sync", "--dry-run", extra_env=zoho.env)
    assert first.returncode == 0, first.stderr
    assert zoho.stats().get("zoho_token") == 1
    assert (tmp_path / ".presales-zoho-token.json").stat().st_mode & 0o777 == 0o600
    again = presales(config, "--json", "sync", "--dry-run", extra_env=zoho.env)
    assert again.returncode == 0, again.stderr
    assert zoho.stats().get("zoho_token") == 1  # the cached token served the second run
    # Zoho expires the token early: one refresh, one retry, and the run goes on
    org.sb.zoho_expire_tokens()
    expired = presales(config, "--json", "sync", "--dry-run", extra_env=zoho.env)
    assert expired.returncode == 0, expired.stderr
    assert zoho.stats().get("zoho_token") == 2
    # a wrong client secret: Zoho says so with HTTP 200 {"error": "invalid_client"}
    wrong = presales(config, "sync", extra_env={**zoho.env, "PRESALES_ZOHO_CLIENT_SECRET": "SECRETVALUE"})
    assert wrong.returncode == 3 and "invalid_client" in wrong.stderr
    assert "SECRETVALUE" not in wrong.stderr + wrong.stdout


def test_a_no_change_run_writes_nothing_with_response_due_set(crm_org: Org, tmp_path: Path) -> None:
    """The CRM keeps whole seconds of a DateTime (Salesforce drops the milliseconds we send):
    the deadline read back must be recognised as our own write, not rewritten every run."""
    org = crm_org
    # working time around the clock, so the deadline is "now" plus hours, with the clock's
    # sub-second part (outside working hours it would snap to a whole opening time)
    today = datetime.now(UTC).date()
    days = [(today + timedelta(days=n)).isoformat() for n in range(-1, 8)]
    config = org.config(tmp_path, timezone="UTC", calendar={
        "country": "weekends", "work_start": "00:00", "work_end": "23:59:59", "extra_working_days": days})
    first = run_json(config, "sync", extra_env=org.env)
    assert first["exit_code"] == 0
    due = {i: r["Presales_Response_Due__c"] for i, r in _open_requested(org).items()}
    assert due and all(due.values()), "every open request has a first-response deadline"
    if org.crm == "salesforce":
        assert all(v.endswith(".000+0000") for v in due.values())
    org.reset_stats()
    second = run_json(config, "sync", extra_env=org.env)
    assert second["counts"].get("written", 0) == 0
    assert org.write_calls() == 0
