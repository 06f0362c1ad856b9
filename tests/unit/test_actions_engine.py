"""Actions as records over the in-memory CRM port: who and when are the action record's own,
each action is taken up once and its outcome written on it, the plugin's events are upserted
by key, a lost store is rebuilt from the CRM without a write, and a second store is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_engine import ENGINEERS, ME, NOW, MemoryCRM, _org
from test_engine import loaded as loaded  # the fixture

from presales_sync.connector import RetryableError
from presales_sync.rules import EventKind, Step
from presales_sync.sync.config import Loaded
from presales_sync.sync.engine import run_sync
from presales_sync.sync.store import OrgHasAnotherStore, Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    yield s
    s.close()


def _task(store: Store, opp: str) -> Any:
    with store.begin() as conn:
        return store.load_tasks(conn, [opp])[opp].task


def _tasks_json(store: Store) -> list[dict[str, Any]]:
    """What `task list --json` is made of: each task's state and its whole history."""
    with store.begin() as conn:
        tasks = store.all_tasks(conn)
    return sorted(({"opp": o, "step": st.task.step, "status": st.task.status, "engineer": st.task.engineer_id,
                    "rework": st.task.rework_count, "started": st.task.step_started_at,
                    "events": st.task.events} for o, st in tasks.items()), key=lambda t: t["opp"])


def test_two_sign_offs_between_syncs_apply_in_order_at_their_own_times_whoever_edited_the_deal(
        loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(2))
    run_sync(loaded, store, crm, now=NOW)
    engineer = crm.records["006000"]["Presales_Engineer__c"]
    first = crm.act(engineer, "006000", "Sign Off", name="Li Wei")
    crm.edit("005SALES", "006000", {"Amount": 99.0})  # the rep is the deal's last editor now
    second = crm.act(engineer, "006000", "Sign Off", name="Li Wei")
    report = run_sync(loaded, store, crm, now=NOW + timedelta(hours=1))
    assert report.counts["commands_applied"] == 2 and report.counts["commands_rejected"] == 0
    task = _task(store, "006000")
    assert task.step is Step.INTERNAL_REVIEW
    signed = [e for e in task.events if e.kind is EventKind.SIGNED_OFF]
    assert [(e.actor, e.source) for e in signed] == [(engineer, first), (engineer, second)]
    assert [e.at.isoformat() for e in signed] == [crm.actions[first]["CreatedDate"],
                                                  crm.actions[second]["CreatedDate"]]
    for rid, (before, after) in ((first, ("Requirements", "Solution Design")),
                                 (second, ("Solution Design", "Internal Review"))):
        row = crm.actions[rid]
        assert (row["Outcome__c"], row["Step_Before__c"], row["Step_After__c"]) == ("Applied", before, after)
        assert row["Kind__c"] == "Signed Off" and row["Seq__c"] == task.events.index(
            next(e for e in signed if e.source == rid))


def test_a_sign_off_by_someone_else_is_refused_with_the_names_of_both(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(2))
    run_sync(loaded, store, crm, now=NOW)
    engineer = crm.records["006000"]["Presales_Engineer__c"]
    refused = crm.act("005SALES", "006000", "Sign Off", name="Pat Rep")
    report = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=5))
    assert report.counts["commands_rejected"] == 1
    reason = crm.actions[refused]["Reason__c"]
    assert crm.actions[refused]["Outcome__c"] == "Refused"
    assert reason == (f"Only the assigned engineer ({ENGINEERS[engineer].name}) can sign off Requirements; "
                      "Pat Rep is not.")
    assert "005SALES" not in reason
    assert _task(store, "006000").step is Step.REQUIREMENTS


def test_review_rework_keeps_its_note_on_the_event_and_the_record(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(2))
    run_sync(loaded, store, crm, now=NOW)
    engineer = crm.records["006000"]["Presales_Engineer__c"]
    reviewer = next(e for e in ENGINEERS if e != engineer)
    crm.act(engineer, "006000", "Sign Off")
    crm.act(engineer, "006000", "Sign Off")
    rework = crm.act(reviewer, "006000", "Review Rework", note="the sizing misses the DR site")
    run_sync(loaded, store, crm, now=NOW + timedelta(hours=1))
    task = _task(store, "006000")
    last = task.events[-1]
    assert (last.kind, last.outcome, last.note, last.source) == (
        EventKind.REVIEWED, "rework", "the sizing misses the DR site", rework)
    assert task.rework_count == 1 and task.step is Step.SOLUTION_DESIGN
    assert crm.actions[rework]["Result__c"] == "rework"
    assert crm.actions[rework]["Note__c"] == "the sizing misses the DR site"


def test_an_action_is_taken_up_once_and_the_plugin_s_events_are_upserted_by_key(
        loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(2))
    run_sync(loaded, store, crm, now=NOW)
    events = {a["Ext_Id__c"]: a for a in crm.actions.values() if a.get("Ext_Id__c")}
    assert sorted(events) == ["006000-0", "006000-1"]  # created, assigned
    assert events["006000-1"]["Kind__c"] == "Assigned" and events["006000-1"]["Actor__c"] == ME
    engineer = crm.records["006000"]["Presales_Engineer__c"]
    crm.act(engineer, "006000", "Sign Off")
    for minutes in (1, 2, 3):  # the outcome's echo, then quiet runs
        report = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=minutes))
        assert report.counts["commands_applied"] == (1 if minutes == 1 else 0)
    assert len([e for e in _task(store, "006000").events if e.kind is EventKind.SIGNED_OFF]) == 1
    crm.calls.clear()
    run_sync(loaded, store, crm, now=NOW + timedelta(minutes=4))
    assert crm.calls == {"query": 2}  # an idle run: one query for the deals, one for the actions


def test_an_upsert_whose_answer_was_lost_is_sent_again_without_a_duplicate(
        loaded: Loaded, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    crm = MemoryCRM(_org(4))
    real = crm.upsert

    def lost(**kwargs: Any) -> Any:
        real(**kwargs)  # the CRM created them…
        raise RetryableError("connection reset", code="CONNECTION")  # …and the answer never came

    monkeypatch.setattr(crm, "upsert", lost)
    with pytest.raises(RetryableError):
        run_sync(loaded, store, crm, now=NOW)
    monkeypatch.setattr(crm, "upsert", real)
    run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    keys = [a["Ext_Id__c"] for a in crm.actions.values() if a.get("Ext_Id__c")]
    assert sorted(keys) == ["006000-0", "006000-1", "006002-0", "006002-1"]


def test_a_lost_store_is_rebuilt_from_the_crm_and_writes_nothing(loaded: Loaded, tmp_path: Path) -> None:
    crm = MemoryCRM(_org(8))
    path = tmp_path / "p.db"
    old = Store.open(f"sqlite:///{path}")
    run_sync(loaded, old, crm, now=NOW)
    engineer = crm.records["006000"]["Presales_Engineer__c"]
    reviewer = next(e for e in ENGINEERS if e != engineer)
    for command, who in (("Sign Off", engineer), ("Sign Off", engineer), ("Review Rework", reviewer),
                         ("Hold", engineer)):
        crm.act(who, "006000", command, note="why" if command != "Sign Off" else None)
    crm.act("005SALES", "006002", "Sign Off")  # refused
    run_sync(loaded, old, crm, now=NOW + timedelta(minutes=1))
    run_sync(loaded, old, crm, now=NOW + timedelta(minutes=2))  # echoes settle
    before = _tasks_json(old)
    old.close()
    path.unlink()  # the disk is lost

    new = Store.open(f"sqlite:///{path}")
    crm.calls.clear()
    report = run_sync(loaded, new, crm, now=NOW + timedelta(minutes=3))
    assert report.counts["rebuilt_tasks"] == 4 and report.counts["written"] == 0
    assert "composite_sobjects" not in crm.calls  # not one write to the CRM
    assert crm.calls["setting"] == 1 and set(crm.calls) == {"setting", "query"}  # the marker read, pages
    assert _tasks_json(new) == before
    with new.begin() as conn:
        assert new.count_actions(conn) == 5  # the taken-up actions are known: none applied again
    again = run_sync(loaded, new, crm, now=NOW + timedelta(minutes=4))
    assert again.counts["commands_applied"] == 0 and again.counts["written"] == 0
    new.close()


def test_a_second_store_is_refused_until_it_takes_the_org_over(loaded: Loaded, tmp_path: Path) -> None:
    crm = MemoryCRM(_org(4))
    first = Store.open(f"sqlite:///{tmp_path / 'first.db'}")
    run_sync(loaded, first, crm, now=NOW)
    second = Store.open(f"sqlite:///{tmp_path / 'second.db'}")
    crm.calls.clear()
    with pytest.raises(OrgHasAnotherStore, match="synced by another store") as refused:
        run_sync(loaded, second, crm, now=NOW + timedelta(minutes=1))
    assert "--take-over" in str(refused.value)
    assert crm.calls == {"setting": 1}  # nothing read, nothing written
    taken = run_sync(loaded, second, crm, now=NOW + timedelta(minutes=2), take_over=True)
    assert taken.exit_code == 0 and taken.counts["rebuilt_tasks"] == 2 and taken.counts["written"] == 0
    # the first store is the other one now: its next write is refused, its idle runs cost nothing more
    crm.act(crm.records["006000"]["Presales_Engineer__c"], "006000", "Sign Off")
    with pytest.raises(OrgHasAnotherStore):
        run_sync(loaded, first, crm, now=NOW + timedelta(minutes=3))
    assert not any(a.get("Outcome__c") for a in crm.actions.values() if a.get("Action__c"))
    first.close()
    second.close()


def test_the_sla_clock_of_a_request_starts_when_the_rep_asked(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(2))
    asked = crm.stamps["006000"]
    run_sync(loaded, store, crm, now=NOW + timedelta(hours=3))  # the sync runs hours later
    created = _task(store, "006000").events[0]
    assert created.kind is EventKind.CREATED and created.at == asked
    # a Request action on a deal that did not tick the box: the action's own time
    request = crm.act("005SALES", "006001", "Request", note="a bank wants a demo of the DR setup")
    run_sync(loaded, store, crm, now=NOW + timedelta(hours=5))
    task = _task(store, "006001")
    assert task.events[0].at.isoformat() == crm.actions[request]["CreatedDate"]
    assert task.events[0].note == "a bank wants a demo of the DR setup"
    assert crm.actions[request]["Outcome__c"] == "Applied"


def test_a_passed_deadline_is_one_sla_breached_event_record_per_step(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(2))
    run_sync(loaded, store, crm, now=NOW)
    for days in (7, 8):  # nobody answered; it stays red
        run_sync(loaded, store, crm, now=NOW + timedelta(days=days))
    breaches = [e for e in _task(store, "006000").events if e.kind is EventKind.SLA_BREACHED]
    assert len(breaches) == 1 and breaches[0].note.startswith("first response overdue since ")
    records = [a for a in crm.actions.values() if a.get("Kind__c") == "SLA Breached"]
    assert [a["Ext_Id__c"] for a in records] == ["006000-2"]
    # a step later, a new deadline, a new breach
    engineer = crm.records["006000"]["Presales_Engineer__c"]
    crm.act(engineer, "006000", "Sign Off")
    run_sync(loaded, store, crm, now=NOW + timedelta(days=9))
    run_sync(loaded, store, crm, now=NOW + timedelta(days=30))
    steps = [e.from_step for e in _task(store, "006000").events if e.kind is EventKind.SLA_BREACHED]
    assert steps == [Step.REQUIREMENTS, Step.SOLUTION_DESIGN]
