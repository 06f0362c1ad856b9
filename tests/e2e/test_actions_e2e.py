"""Actions as records, end to end on Salesforce and Zoho (`crm_org`): people act in the CRM
with their own sessions, the real `presales` command takes each action up once at the CRM's
own time and writes its outcome on it, the plugin's events land as records of their own, a
lost store is rebuilt from the CRM without a write, and a second store is refused."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from e2e_support import Org, presales, run_json


def _at(value: str) -> datetime:
    """A CRM or store timestamp as an aware datetime (Salesforce ``+0000``, Zoho ``+08:00``)."""
    text = value.replace("Z", "+00:00")
    if text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text)


def _requested(org: Org) -> list[tuple[str, dict[str, Any]]]:
    return sorted((i, r) for i, r in org.deals().items()
                  if r["Presales_Requested__c"] and not r["IsClosed"] and r["Presales_Engineer__c"])


def _show(config: Path, org: Org, opp: str) -> dict[str, Any]:
    proc = presales(config, "--json", "task", "show", opp, extra_env=org.env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_sign_offs_reviews_and_refusals_are_records_with_the_crms_who_and_when(
        crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    config = org.config(tmp_path)
    assert run_json(config, "sync", extra_env=org.env)["exit_code"] == 0
    roster = {e["crm_user_id"]: e for e in org.roster()}
    (opp, deal), (other_opp, other) = _requested(org)[:2]
    engineer = deal["Presales_Engineer__c"]
    reviewer = next(e for e, r in sorted(roster.items()) if r["reviewer"] and r["active"] and e != engineer)
    intruder = next(e for e in sorted(roster) if e not in (engineer, other["Presales_Engineer__c"]))

    # two sign-offs between two syncs, the rep editing the deal in between, then a rework
    first = org.act(engineer, opp, "Sign Off")
    org.edit(deal["OwnerId"], opp, {"Amount": 123456.0})
    second = org.act(engineer, opp, "Sign Off")
    rework = org.act(reviewer, opp, "Review Rework", note="the sizing misses the DR site")
    refused = org.act(intruder, other_opp, "Sign Off")
    org.reset_stats()
    report = run_json(config, "sync", extra_env=org.env)
    assert report["counts"]["commands_applied"] == 3 and report["counts"]["commands_rejected"] == 1

    actions = org.actions()
    for rid in (first, second, rework):
        assert actions[rid]["Outcome__c"] == "Applied", actions[rid]
    assert [actions[r]["Step_After__c"] for r in (first, second, rework)] == [
        "Solution Design", "Internal Review", "Solution Design"]
    reason = actions[refused]["Reason__c"]
    assert actions[refused]["Outcome__c"] == "Refused"
    assert roster[other["Presales_Engineer__c"]]["name"] in reason  # people by name…
    assert actions[refused]["CreatedBy.Name"] and actions[refused]["CreatedBy.Name"] in reason
    assert intruder not in reason and other["Presales_Engineer__c"] not in reason  # …not by id

    shown = _show(config, org, opp)
    by_source = {e["action_record"]: e for e in shown["events"] if e["action_record"]}
    for rid in (first, second, rework):
        event = by_source[rid]
        assert event["actor"] == actions[rid]["CreatedById"]
        assert _at(event["at"]) == _at(actions[rid]["CreatedDate"])  # the CRM's time, to the second
    assert [by_source[r]["kind"] for r in (first, second, rework)] == ["signed_off", "signed_off", "reviewed"]
    assert by_source[first]["actor"] == by_source[second]["actor"] == engineer  # not the rep
    assert by_source[rework]["note"] == "the sizing misses the DR site"
    assert shown["rework_count"] == 1 and shown["step"] == "Solution Design"
    table = presales(config, "task", "show", opp, extra_env=org.env)
    assert "the sizing misses the DR site" in table.stdout

    after = org.deals()[opp]
    assert (after["Presales_Step__c"], after["Presales_Status__c"]) == ("Solution Design", "Rework")
    # the plugin's own events are records too, one per event, keyed
    events = [a for a in org.actions().values() if a["Opportunity__c"] == opp]
    keyed = sorted(a["Ext_Id__c"] for a in events if a["Ext_Id__c"])
    own = [f"{opp}-{n}" for n, e in enumerate(shown["events"]) if not e["action_record"]]
    assert keyed == sorted(own) and own[:2] == [f"{opp}-0", f"{opp}-1"]  # created, assigned, …
    assert len(events) == len(shown["events"])  # the related list shows the whole history

    # an idle run: one query for the deals and one for the actions, nothing written
    run_json(config, "sync", extra_env=org.env)  # the outcomes' echo
    org.reset_stats()
    quiet = run_json(config, "sync", extra_env=org.env)
    assert quiet["counts"].get("written", 0) == 0 and quiet["counts"].get("commands_applied", 0) == 0
    assert sum(quiet["api_calls"].values()) == 2, quiet["api_calls"]
    assert org.all_write_calls() == 0


def test_a_request_starts_its_sla_clock_when_the_rep_asked(crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    config = org.config(tmp_path)
    run_json(config, "sync", extra_env=org.env)
    deals = org.deals()
    opp, deal = next((i, r) for i, r in sorted(deals.items())
                     if not r["Presales_Requested__c"] and not r["IsClosed"])
    request = org.act(deal["OwnerId"], opp, "Request", note="a bank wants a DR demo")
    report = run_json(config, "sync", extra_env=org.env)
    assert report["counts"]["tasks_created"] == 1
    created = _show(config, org, opp)["events"][0]
    assert created["kind"] == "created" and created["action_record"] == request
    assert _at(created["at"]) == _at(org.actions()[request]["CreatedDate"])
    assert created["note"] == "a bank wants a DR demo"
    assert org.actions()[request]["Outcome__c"] == "Applied"
    assert org.deals()[opp]["Presales_Response_Due__c"] is not None


def test_a_lost_store_is_rebuilt_from_the_crm_and_a_second_store_is_refused(
        crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    config = org.config(tmp_path)
    run_json(config, "sync", extra_env=org.env)
    roster = {e["crm_user_id"]: e for e in org.roster()}
    for opp, deal in _requested(org)[:3]:
        engineer = deal["Presales_Engineer__c"]
        reviewer = next(e for e, r in sorted(roster.items())
                        if r["reviewer"] and r["active"] and e != engineer)
        org.act(engineer, opp, "Sign Off")
        org.act(engineer, opp, "Sign Off")
        org.act(reviewer, opp, "Review Rework", note="add the DR site")
    run_json(config, "sync", extra_env=org.env)
    run_json(config, "sync", extra_env=org.env)  # echoes settle
    before = run_json(config, "task", "list")
    assert any(t["rework_count"] == 1 for t in before) and all(t["event_count"] >= 2 for t in before)

    (tmp_path / "presales.db").unlink()  # the store is lost
    org.reset_stats()
    rebuilt = run_json(config, "sync", extra_env=org.env)
    assert rebuilt["exit_code"] == 0 and rebuilt["counts"]["rebuilt_tasks"] == len(before)
    assert rebuilt["counts"].get("written", 0) == 0 and org.all_write_calls() == 0, org.stats()
    assert run_json(config, "task", "list") == before

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    second = org.config(elsewhere, keep_trail=True)
    refused = presales(second, "sync", extra_env=org.env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "synced by another store" in refused.stderr and "--take-over" in refused.stderr
    taken = run_json(second, "sync", "--take-over", extra_env=org.env)
    assert taken["exit_code"] == 0 and taken["counts"]["rebuilt_tasks"] == len(before)
    assert run_json(second, "task", "list") == before
    # the first store is now the other one: a run that would write is refused
    opp, deal = _requested(org)[3]
    org.act(deal["Presales_Engineer__c"], opp, "Sign Off")
    assert presales(config, "sync", extra_env=org.env).returncode == 2
