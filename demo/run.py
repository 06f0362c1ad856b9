"""`presales demo`: the whole product against the local sandbox, no config needed.

Starts the sandbox with a seeded org, writes a config next to it, syncs through the real
Salesforce (or, with ``crm="zoho"``, Zoho CRM) connector over HTTPS, lets a few engineers act
in the CRM (as themselves), syncs again, and shows that a run with no CRM change writes
nothing. Seven weeks of history are replayed first (`demo.history`) and the
demo ends with the quarter's KPI scorecards written to the engineers and the HTML report."""

from __future__ import annotations

import json
import random
import shutil
import ssl
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from presales_sync.connector import Connector, RecordChange, WriteResult
from presales_sync.connector._http import HttpSession
from presales_sync.connector.salesforce import SalesforceSettings
from presales_sync.connector.salesforce import connect as connect_salesforce
from presales_sync.demo.history import HISTORY_DAYS, activities_csv, replay
from presales_sync.demo.org_seed import org_seed, pending_requests
from presales_sync.demo.people import Act, DemoClock, act_as
from presales_sync.rules import Step
from presales_sync.rules.kpi import Period
from presales_sync.sandbox import Sandbox, ZohoLimits
from presales_sync.sync import config as config_mod
from presales_sync.sync.activities import import_activities
from presales_sync.sync.engine import SyncReport, run_sync
from presales_sync.sync.report import build_report, write_html
from presales_sync.sync.scoring import run_score, user_fields
from presales_sync.sync.service import connector_for, install, open_store

Say = Callable[[str], None]


@dataclass
class DemoResult:
    workdir: Path
    runs: list[tuple[str, SyncReport]] = field(default_factory=list)
    by_engineer: dict[str, Counter[str]] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    records_read: int = 0
    records_written: int = 0
    signed_off: int = 0
    history: list[SyncReport] = field(default_factory=list)
    period: str | None = None
    scorecards: list[dict[str, Any]] = field(default_factory=list)
    report_path: Path | None = None
    users_written: int = 0


CRMS = ("salesforce", "zoho")


def crm_settings(sb: Sandbox, crm: str) -> dict[str, Any]:
    """The config's `crm:` section for the sandbox's Salesforce or Zoho side."""
    if crm == "zoho":
        return {"kind": "zoho", "accounts_url": sb.zoho_accounts_url, "ca_bundle": str(sb.ca_file)}
    return {"kind": "salesforce", "instance_url": sb.url, "api_version": "66.0",
            "auth": {"method": "session"}, "ca_bundle": str(sb.ca_file)}


def crm_env(sb: Sandbox, crm: str) -> dict[str, str]:
    """The integration user's secrets for the sandbox's Salesforce or Zoho side."""
    if crm == "zoho":
        return {"PRESALES_ZOHO_CLIENT_ID": sb.zoho_client_id,
                "PRESALES_ZOHO_CLIENT_SECRET": sb.zoho_client_secret,
                "PRESALES_ZOHO_REFRESH_TOKEN": sb.zoho_refresh_token}
    return {"PRESALES_SF_SESSION_ID": sb.session_id}


def write_config(workdir: Path, sb: Sandbox, crm: str = "salesforce") -> Path:
    """A config file pointing at the sandbox (secrets stay in env)."""
    cfg = {
        "crm": crm_settings(sb, crm),
        "store": "sqlite:///presales.db",
        "roster": str(sb.zoho_roster_file if crm == "zoho" else sb.roster_file),
        "timezone": "Asia/Shanghai",
        "calendar": "CN",  # China's official working days, make-up days included
    }
    path = workdir / "presales.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def sandbox_stats(sb: Sandbox) -> dict[str, int]:
    ctx = ssl.create_default_context(cafile=str(sb.ca_file))
    with urllib.request.urlopen(f"{sb.url}/_sandbox/stats", context=ctx, timeout=10) as resp:
        return dict(json.load(resp)["calls"])


def _as_user(sb: Sandbox, user_id: str) -> Connector:
    """The real connector, logged in as one person of the org (the demo's actors)."""
    settings = SalesforceSettings(instance_url=sb.url, auth_method="session", ca_bundle=str(sb.ca_file))
    return connect_salesforce(settings, {"PRESALES_SF_SESSION_ID": sb.session_for(user_id)})


def zoho_edit_as(sb: Sandbox, user_id: str, module: str, changes: list[RecordChange]) -> list[WriteResult]:
    """A person edits records in Zoho: ``PUT /crm/v8/{module}`` with their own access token
    (a person in Zoho's UI, so the org's automations run: no ``trigger`` key)."""
    session = HttpSession(timeout=30, ca_bundle=str(sb.ca_file))
    body = {"data": [{"id": c.id, **c.fields} for c in changes]}
    resp = session.put(f"{sb.zoho_api_domain}/crm/v8/{module}", json=body,
                       headers={"Authorization": f"Zoho-oauthtoken {sb.zoho_token_for(user_id)}"})
    entries = resp.json().get("data", [])
    return [WriteResult(id=c.id, ok=e.get("status") == "success", error_code=e.get("code"),
                        message=e.get("message")) for c, e in zip(changes, entries, strict=True)]


def _edit_as(sb: Sandbox, crm: str, user_id: str, module: str,
             changes: list[RecordChange]) -> list[WriteResult]:
    if crm == "zoho":
        return zoho_edit_as(sb, user_id, module, changes)
    return _as_user(sb, user_id).write(object_name=module, changes=changes)


def _pending_requests(sb: Sandbox, crm: str) -> list[tuple[str, str, str]]:
    return pending_requests(sb, crm)


def _sales_ask_for_presales(sb: Sandbox, loaded: config_mod.Loaded, say: Say,
                            requests: list[tuple[str, str, str]] | None = None) -> int:
    """Each sales rep ticks "request presales" on their deals (one batched write each)."""
    crm = loaded.config.crm.kind
    inbound = loaded.mapping.opportunity.inbound
    by_owner: dict[str, list[RecordChange]] = {}
    for opp_id, owner, priority in (_pending_requests(sb, crm) if requests is None else requests):
        by_owner.setdefault(owner, []).append(RecordChange(
            opp_id, {inbound["requested"].field: True, inbound["priority"].field: priority}))
    for owner, changes in by_owner.items():
        results = _edit_as(sb, crm, owner, loaded.mapping.opportunity.object, changes)
        failed = [r for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"sales rep {owner} could not request presales: {failed[0].message}")
    count = sum(len(c) for c in by_owner.values())
    say(f"{len(by_owner)} sales reps ticked {inbound['requested'].field} on {count} open deals")
    return len(by_owner)


def _install(config_path: Path, env: dict[str, str], sb: Sandbox, say: Say, crm: str) -> None:
    reps = sorted({owner for _, owner, _ in _pending_requests(sb, crm)})
    for label in ("install", "install again"):
        objects, plans = install(config_path, env, dry_run=False, grant_to=reps)
        made = sum(1 for o in objects if o.action != "unchanged")
        changed = sum(1 for p in plans if p.action != "unchanged")
        access = ("field access per Zoho profile" if crm == "zoho" else
                  f"permission set granted to the integration user, engineers and {len(reps)} sales reps")
        say(f"{label}: {made} objects created ({', '.join(o.spec.name for o in objects)}), {changed} fields "
            f"created or updated, {len(plans) - changed} unchanged ({access})")


def _engineers_sign_off(sb: Sandbox, loaded: config_mod.Loaded, say: Say) -> int:
    """Each engineer signs off the requirements step of one of their tasks in the CRM."""
    store = open_store(loaded)
    try:
        with store.begin() as conn:
            tasks = store.open_tasks(conn)
    finally:
        store.close()
    picked: dict[str, str] = {}
    for opp_id, st in sorted(tasks.items()):
        eng = st.task.engineer_id
        if eng and st.task.step is Step.REQUIREMENTS and eng not in picked:
            picked[eng] = opp_id
    actions = loaded.mapping.action
    for eng, opp_id in picked.items():
        act_as(sb, loaded.config.crm.kind, eng, actions, [Act(opp_id, "Sign Off")])
    say(f"{len(picked)} engineers added a 'Sign Off' {actions.object} record to one deal each in the CRM")
    return len(picked)


def run_demo(workdir: Path, *, opportunities: int = 2000, say: Say = print,
             crm: str = "salesforce") -> DemoResult:
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    # the sandbox's clock starts before the history and stands at its moments until released
    clock = DemoClock(datetime.now(UTC) - timedelta(days=HISTORY_DAYS + 2))
    # Zoho access tokens that outlive the replayed weeks: the sandbox's hour would run out at
    # every simulated round, and the client refreshes at most 10 times per real 10 minutes
    sb = Sandbox(data_dir=workdir / "sandbox", port=0, seed=opportunities, org=org_seed(installed=False),
                 clock=clock, zoho_limits=ZohoLimits(token_ttl=(HISTORY_DAYS + 7) * 86400))
    sb.start()
    try:
        say(f"sandbox ({crm}): {sb.url}, an org with {opportunities} opportunities and none of "
            f"the plugin's fields (CA {sb.ca_file})")
        config_path = write_config(workdir, sb, crm)
        env = crm_env(sb, crm)
        _install(config_path, env, sb, say, crm)
        loaded = config_mod.load(config_path)
        result = DemoResult(workdir=workdir)
        pending = _pending_requests(sb, crm)
        today = datetime.now(loaded.tz).date()
        past, pending = pending[:len(pending) * 3 // 5], pending[len(pending) * 3 // 5:]
        people: dict[str, Connector] = {}  # one session per person: a connection kept alive

        def edit_as(who: str, module: str, changes: list[RecordChange]) -> list[WriteResult]:
            if crm == "zoho":
                return zoho_edit_as(sb, who, module, changes)
            if who not in people:
                people[who] = _as_user(sb, who)
            return people[who].write(object_name=module, changes=changes)

        def act(who: str, acts: list[Act]) -> None:
            act_as(sb, crm, who, loaded.mapping.action, acts)

        result.history = replay(loaded, env, edit_as, act, clock, past, today=today,
                                rng=random.Random(opportunities), say=say)
        clock.release()  # the present: the machine's time
        _sales_ask_for_presales(sb, loaded, say, pending)

        def one_run(label: str) -> SyncReport:
            store = open_store(loaded)
            try:
                crm = connector_for(loaded, env)
                report = run_sync(loaded, store, crm, now=datetime.now(UTC))
            finally:
                store.close()
            c = report.counts
            say(f"{label}: read {c['read']}, tasks created {c['tasks_created']}, "
                f"assigned {c['assigned']}, commands applied {c['commands_applied']}, "
                f"records written {c['written']} ({sum(report.api_calls.values())} API calls)")
            if c["assigned"]:
                say(f"  assignment: {c['assigned_by_account_owner']} to the account's owner, "
                    f"{c['assigned_by_round_robin']} by round robin after level/skill/capacity checks")
            say(f"  {c['evaluated']} of {c['open_tasks']} open tasks re-evaluated (changed, owed a write or "
                f"due for review): {c['health_green']} green, {c['health_yellow']} yellow, "
                f"{c['health_red']} red")
            result.runs.append((label, report))
            result.records_read += c["read"]
            result.records_written += c["written"] + c["write_failed"]
            return report

        one_run("sync 1 (today)" if result.history else "sync 1 (first full read)")
        result.signed_off = _engineers_sign_off(sb, loaded, say)
        one_run("sync 2 (incremental)")
        one_run("sync 3 (no CRM change)")
        _score_and_report(loaded, env, result, today=today, rng=random.Random(opportunities), say=say)
        result.api_calls = sandbox_stats(sb)

        store = open_store(loaded)
        try:
            with store.begin() as conn:
                tasks = store.all_tasks(conn)
        finally:
            store.close()
        for st in tasks.values():
            name = loaded.engineers[st.task.engineer_id].name if st.task.engineer_id else "(unassigned)"
            result.by_engineer.setdefault(name, Counter())[st.task.step.value] += 1
        return result
    finally:
        sb.stop()


def _score_and_report(loaded: config_mod.Loaded, env: dict[str, str], result: DemoResult, *, today: date,
                      rng: random.Random, say: Say) -> None:
    """Import the engineers' activities, score the quarter of the history (User fields written
    through the ledger), and write the HTML report."""
    csv_path = activities_csv(result.workdir / "activities.csv", loaded, today=today, rng=rng)
    imported = import_activities(loaded.path, csv_path, now=datetime.now(UTC))
    say(f"activities import {csv_path.name}: {imported.rows} rows, {imported.added} added")
    period = Period.containing(today - timedelta(days=HISTORY_DAYS // 2))
    store = open_store(loaded)
    try:
        now = datetime.now(UTC)
        scored = run_score(loaded, store, connector_for(loaded, env), period, now=now)
        result.scorecards = scored.as_dict()["scorecards"]
        result.users_written = scored.written
        say(f"score {period}: {len(scored.cards)} scorecards, {scored.written} engineers' User records "
            f"written ({', '.join(user_fields(loaded).values())})")
        result.report_path = write_html(build_report(loaded, store, period, now=now),
                                        result.workdir / f"report-{period}.html")
    finally:
        store.close()
    result.period = period.label


#: Records per read call and per write call at the CRM's maximum (Salesforce: a 2,000-row
#: query page and a 200-record sObject Collections call; Zoho: 200 per Get Records page,
#: 100 per PUT).
FLOOR_BATCHES = {"salesforce": (2000, 200), "zoho": (200, 100)}


def floor_calls(reports: list[SyncReport], crm: str = "salesforce") -> int:
    """The fewest calls the CRM allows for these runs: per run, one read call per full page
    of deals and of action records read (at least one each, even when nothing changed), one
    write call per full batch written (the deals' fields, the actions' outcomes, the event
    records), and on a run that writes, the one check of the org's marker."""
    read_batch, write_batch = FLOOR_BATCHES[crm]
    total = 0
    for r in reports:
        c = r.counts
        writes = [c["written"] + c["write_failed"], c["actions_written"] + c["action_write_failed"],
                  c["events_written"] + c["event_write_failed"]]
        total += max(1, -(-c["read"] // read_batch)) + max(1, -(-c["actions_read"] // read_batch))
        total += sum(-(-n // write_batch) for n in writes) + (1 if any(writes) else 0)
    return total


__all__ = ["CRMS", "DemoResult", "crm_env", "crm_settings", "floor_calls", "run_demo", "write_config",
           "zoho_edit_as"]
