"""The rules of issue 4 through the CLI against the sandbox over HTTPS: assignment policies
with their recorded reasons, audited manager reassignment, deadlines and health written back,
escalation lists in `presales status`, and a rules-file error naming its line."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Org, presales, run_json, write_config
from sandbox_seed import PLUGIN_ORG

from presales_sync.sandbox import Sandbox
from presales_sync.sync import service

LEVELS = ("junior", "intermediate", "senior", "expert")


@pytest.fixture(scope="module")
def big_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """Enough requests that accounts repeat and big deals occur."""
    sb = Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), port=0, seed=1500, org=PLUGIN_ORG)
    sb.start()
    yield Org(sb)
    sb.stop()


@pytest.fixture(scope="module")
def synced(big_org: Org, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    config = write_config(tmp_path_factory.mktemp("work"), big_org.sb)
    report = run_json(config, "sync", session_id=big_org.sb.session_id)
    return config, report


def _tasks(config: Path) -> dict[str, dict[str, Any]]:
    return {t["opportunity_id"]: t for t in service.tasks(config)}


def test_policies_decide_in_order_and_every_decision_keeps_its_reason(
        big_org: Org, synced: tuple[Path, dict[str, Any]]) -> None:
    config, report = synced
    assert report["exit_code"] == 0
    roster = {e["crm_user_id"]: e for e in big_org.roster()}
    opps = {r["Id"]: r for r in big_org.query(
        "SELECT Id, Amount, AccountId, Account.Industry FROM Opportunity WHERE Presales_Requested__c = true")}
    tasks = {i: t for i, t in _tasks(config).items() if t["engineer_id"]}
    assert len(tasks) == report["counts"]["assigned"] > 20
    by_account: dict[str, list[str]] = defaultdict(list)
    for opp_id, task in sorted(tasks.items(), key=lambda kv: kv[1]["events"][1]["at"]):
        note = next(e["note"] for e in task["events"] if e["kind"] == "assigned")
        assert note.startswith(("round robin: assigned to", "account owner: assigned to")), note
        engineer = roster[task["engineer_id"]]
        if opps[opp_id]["Amount"] >= 1_000_000:  # level gate of the shipped rules
            assert LEVELS.index(engineer["level"]) >= LEVELS.index("senior"), note
            assert "needs senior or above" in note
        by_account[opps[opp_id]["AccountId"]].append(opp_id)
    # one owner per account: a later task goes to the first one's engineer, or says why not
    repeats = 0
    for ids in by_account.values():
        owner = tasks[ids[0]]["engineer_id"]
        for later in ids[1:]:
            note = next(e["note"] for e in tasks[later]["events"] if e["kind"] == "assigned")
            if tasks[later]["engineer_id"] == owner:
                repeats += 1
                assert note.startswith("account owner: assigned to"), note
            else:
                assert f"exception: account owner {owner} unavailable" in note, note
    assert repeats > 0 and report["counts"]["assigned_by_account_owner"] == repeats


def test_deadlines_health_and_reason_are_written_back(big_org: Org,
                                                      synced: tuple[Path, dict[str, Any]]) -> None:
    rows = big_org.query("SELECT Id, Presales_Due_Date__c, Presales_Response_Due__c, Presales_Health__c, "
                         "Presales_Message__c FROM Opportunity WHERE Presales_Engineer__c != null")
    assert rows
    tasks = _tasks(synced[0])
    for r in rows:
        assert r["Presales_Due_Date__c"] and r["Presales_Response_Due__c"]
        due = datetime.fromisoformat(r["Presales_Response_Due__c"].replace("Z", "+00:00"))
        asked = datetime.fromisoformat(tasks[r["Id"]]["events"][0]["at"])  # the CRM's time of the request
        assert asked < due < asked + timedelta(days=7)  # hours of work after the request
        if r["Presales_Health__c"] != "Green":
            assert r["Presales_Message__c"].startswith(f"{r['Presales_Health__c']}: ")


def test_status_lists_overdue_tasks_by_engineer_and_manager(big_org: Org,
                                                            synced: tuple[Path, dict[str, Any]]) -> None:
    config, _ = synced
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    proc = presales(config, "--json", "status", "--as-of", later, session_id=big_org.sb.session_id)
    assert proc.returncode == 0, proc.stderr
    esc = json.loads(proc.stdout)["escalations"]
    open_assigned = [t for t in _tasks(config).values() if t["engineer_id"] and t["status"] != "Closed"]
    assert esc["overdue"] == len(open_assigned) > 0  # nobody responded in 30 days
    assert all(i["health"] == "Red" and "overdue" in i["reason"] for i in esc["items"])
    assert sum(map(len, esc["by_engineer"].values())) == len(esc["items"])
    managers = {e["manager"] for e in big_org.roster()}
    assert set(esc["by_manager"]) == managers
    listed = sorted(opp for ids in esc["by_manager"].values() for opp in ids)
    assert listed == sorted(i["opportunity_id"] for i in esc["items"])
    human = presales(config, "status", "--as-of", later, session_id=big_org.sb.session_id)
    assert human.returncode == 0 and "Overdue and due-soon tasks by engineer" in human.stdout
    bad = presales(config, "status", "--as-of", "next week", session_id=big_org.sb.session_id)
    assert bad.returncode == 2 and "--as-of" in bad.stderr


def test_manager_reassignment_is_applied_and_audited(big_org: Org,
                                                     synced: tuple[Path, dict[str, Any]]) -> None:
    config, _ = synced
    roster = big_org.roster()
    manager = roster[0]["manager"]
    tasks = [t for t in _tasks(config).values() if t["engineer_id"] and t["status"] != "Closed"]
    task = tasks[0]
    other = next(e["crm_user_id"] for e in roster if e["active"] and e["crm_user_id"] != task["engineer_id"])
    action = big_org.act(manager, task["opportunity_id"], "Reassign", new_engineer=other)
    report = run_json(config, "sync", session_id=big_org.sb.session_id)
    assert report["counts"]["reassigned"] == 1
    after = _tasks(config)[task["opportunity_id"]]
    audit = after["events"][-1]
    assert (audit["kind"], audit["actor"], after["engineer_id"]) == ("assigned", manager, other)
    assert audit["action_record"] == action
    names = {e["crm_user_id"]: e["name"] for e in roster}
    manager_name = big_org.actions()[action]["CreatedBy.Name"]
    before = names[task["engineer_id"]]
    assert audit["note"] == f"reassigned by {manager_name} from {before} to {names[other]}"
    (crm,) = big_org.query("SELECT Presales_Engineer__c FROM Opportunity "
                           f"WHERE Id = '{task['opportunity_id']}'")
    assert crm["Presales_Engineer__c"] == other


def test_misspelt_field_in_the_rules_file_exits_2_with_its_line(big_org: Org, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("intake: requested and not is_closed\npriority_rules:\n"
                     "  - {when: 'amout >= 5000000', priority: P1}\n", encoding="utf-8")
    config = write_config(tmp_path, big_org.sb, rules=str(rules))
    proc = presales(config, "sync", session_id=big_org.sb.session_id)
    assert proc.returncode == 2
    assert (f"{rules}:3: priority_rules.0.when: unknown name 'amout' (column 1); "
            "did you mean 'amount'?") in proc.stderr
    assert not (tmp_path / "presales.db").exists()
