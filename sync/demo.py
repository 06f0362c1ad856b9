"""`presales demo`: the whole product against the local sandbox, no config needed.

Starts the sandbox with a seeded org, writes a config next to it, syncs through the real
Salesforce connector over HTTPS, lets a few engineers act in the CRM (through the same
connector, with their own sessions), syncs again, and shows that a run with no CRM change
writes nothing."""

from __future__ import annotations

import json
import shutil
import ssl
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from connector import Connector, RecordChange
from connector.salesforce import SalesforceSettings
from connector.salesforce import connect as connect_salesforce
from connector.sandbox import Sandbox
from rules import Step
from sync import config as config_mod
from sync.engine import SyncReport, run_sync
from sync.service import connector_for, install, open_store

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


def write_config(workdir: Path, sb: Sandbox) -> Path:
    """A config file pointing at the sandbox (session auth; the session id stays in env)."""
    cfg = {
        "crm": {"kind": "salesforce", "instance_url": sb.url, "api_version": "66.0",
                "auth": {"method": "session"}, "ca_bundle": str(sb.ca_file)},
        "store": "sqlite:///presales.db",
        "roster": str(sb.roster_file),
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


def _sales_ask_for_presales(sb: Sandbox, loaded: config_mod.Loaded, say: Say) -> int:
    """Each sales rep ticks "request presales" on their deals (one batched write each)."""
    inbound = loaded.mapping.opportunity.inbound
    by_owner: dict[str, list[RecordChange]] = {}
    for opp_id, owner, priority in sb.pending_requests():
        by_owner.setdefault(owner, []).append(RecordChange(
            opp_id, {inbound["requested"].field: True, inbound["priority"].field: priority}))
    for owner, changes in by_owner.items():
        results = _as_user(sb, owner).write(object_name=loaded.mapping.opportunity.object,
                                            changes=changes)
        failed = [r for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"sales rep {owner} could not request presales: {failed[0].message}")
    count = sum(len(c) for c in by_owner.values())
    say(f"{len(by_owner)} sales reps ticked {inbound['requested'].field} on {count} open deals")
    return len(by_owner)


def _install(config_path: Path, env: dict[str, str], sb: Sandbox, say: Say) -> None:
    reps = sorted({owner for _, owner, _ in sb.pending_requests()})
    for label in ("install", "install again"):
        plans = install(config_path, env, dry_run=False, grant_to=reps)
        changed = sum(1 for p in plans if p.action != "unchanged")
        say(f"{label}: {changed} fields created or updated, {len(plans) - changed} unchanged "
            f"(permission set granted to the integration user, engineers and {len(reps)} sales reps)")


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
    obj = loaded.mapping.opportunity
    field_name = obj.outbound["command"].field
    for eng, opp_id in picked.items():
        _as_user(sb, eng).write(object_name=obj.object,
                                changes=[RecordChange(opp_id, {field_name: "Sign Off"})])
    say(f"{len(picked)} engineers set '{field_name} = Sign Off' on one task each in the CRM")
    return len(picked)


def run_demo(workdir: Path, *, opportunities: int = 2000, say: Say = print) -> DemoResult:
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    sb = Sandbox(data_dir=workdir / "sandbox", port=0, seed=opportunities, plugin_fields=False)
    sb.start()
    try:
        say(f"sandbox: {sb.url}, an org with {opportunities} opportunities and none of the "
            f"plugin's fields (CA {sb.ca_file})")
        config_path = write_config(workdir, sb)
        env = {"PRESALES_SF_SESSION_ID": sb.session_id}
        _install(config_path, env, sb, say)
        loaded = config_mod.load(config_path)
        _sales_ask_for_presales(sb, loaded, say)
        result = DemoResult(workdir=workdir)

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
            say(f"  health: {c['health_green']} green, {c['health_yellow']} yellow, {c['health_red']} red")
            result.runs.append((label, report))
            result.records_read += c["read"]
            result.records_written += c["written"] + c["write_failed"]
            return report

        one_run("sync 1 (first full read)")
        result.signed_off = _engineers_sign_off(sb, loaded, say)
        one_run("sync 2 (incremental)")
        one_run("sync 3 (no CRM change)")
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


def floor_calls(reports: list[SyncReport]) -> int:
    """The fewest REST calls the CRM allows for these runs: per run, one query page per
    2,000 records read (at least one query, even when nothing changed) and one sObject
    Collections call per 200 records written."""
    total = 0
    for r in reports:
        written = r.counts["written"] + r.counts["write_failed"]
        total += max(1, -(-r.counts["read"] // 2000)) + -(-written // 200)
    return total


__all__ = ["DemoResult", "floor_calls", "run_demo", "write_config"]
