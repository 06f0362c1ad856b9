"""The sync engine's orchestration over an in-memory CRM port: the cursor only moves past
committed pages, a crash is finished by the next run without duplicates, failed writes are
queued and retried, and echoes of our own writes cost nothing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from presales_sync import mappings
from presales_sync.connector import (
    ApiUsage,
    ObjectSchema,
    Page,
    RecordChange,
    RemoteRecord,
    RetryableError,
    WriteResult,
)
from presales_sync.rules import Engineer, EventKind, Level, RulesSettings, Task
from presales_sync.sync.config import Config, CrmConfig, Loaded
from presales_sync.sync.engine import run_sync
from presales_sync.sync.store import Store

ME = "005INTEGRATION"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


ACTIONS = "Presales_Action__c"


class MemoryCRM:
    """A CRM port in memory: (stamp, id) ordered reads, batched writes that bump the stamp;
    the action object's records (`act`, upserted event records) and the org's settings beside
    the opportunities."""

    kind = "memory"
    write_batch = 200

    def __init__(self, records: dict[str, dict[str, Any]], page_size: int = 3):
        self.records = records
        # the reps asked two hours before the first run (08:00 in Shanghai, before business hours)
        self.stamps = {rid: NOW - timedelta(hours=2, seconds=i) for i, rid in enumerate(sorted(records))}
        self.actions: dict[str, dict[str, Any]] = {}
        self.action_stamps: dict[str, datetime] = {}
        self.settings: dict[str, str] = {}
        self.page_size = page_size
        self.calls: dict[str, int] = {}
        self.fail_ids: set[str] = set()
        self.crash_after_pages: int | None = None
        self.clock = NOW - timedelta(hours=1)
        self.daily_limit: int | None = None  # reported allowance (None: the CRM says nothing)
        self.used_by_others = 0

    @property
    def api_usage(self) -> ApiUsage | None:
        if self.daily_limit is None:
            return None
        return ApiUsage(self.used_by_others + sum(self.calls.values()), self.daily_limit)

    def read_ids(self, *, object_name: str, fields: Sequence[str], ids: Sequence[str]) -> Iterator[Page]:
        self._count("query")
        found = [rid for rid in sorted(ids) if rid in self.records]
        yield Page([RemoteRecord(rid, self.stamps[rid], {f: self.records[rid].get(f) for f in fields})
                    for rid in found], 1)

    def delete(self, rid: str) -> None:
        del self.records[rid]
        del self.stamps[rid]

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def describe(self, object_name: str) -> ObjectSchema:
        return ObjectSchema(object_name)

    def _objects(self, object_name: str) -> tuple[dict[str, dict[str, Any]], dict[str, datetime]]:
        if object_name == ACTIONS:
            return self.actions, self.action_stamps
        return self.records, self.stamps

    def read_changed(self, *, object_name: str, fields: Sequence[str],
                     since: datetime | None) -> Iterator[Page]:
        records, stamps = self._objects(object_name)
        rows = sorted((s, rid) for rid, s in stamps.items() if since is None or s >= since)
        for n, start in enumerate(range(0, max(len(rows), 1), self.page_size)):
            if self.crash_after_pages is not None and n >= self.crash_after_pages and object_name != ACTIONS:
                raise RetryableError("connection reset", code="CONNECTION")
            self._count("query")
            chunk = rows[start:start + self.page_size]
            yield Page([RemoteRecord(rid, s, {f: records[rid].get(f) for f in fields})
                        for s, rid in chunk], n + 1)

    def write(self, *, object_name: str, changes: Sequence[RecordChange]) -> list[WriteResult]:
        records, _ = self._objects(object_name)
        out = []
        for i in range(0, len(changes), self.write_batch):
            self._count("composite_sobjects")
            for c in changes[i:i + self.write_batch]:
                if c.id not in records:
                    out.append(WriteResult(c.id, False, "ENTITY_IS_DELETED", "entity is deleted", gone=True))
                    continue
                if c.id in self.fail_ids:
                    out.append(WriteResult(c.id, False, "UNABLE_TO_LOCK_ROW", "locked", True))
                    continue
                if object_name == ACTIONS:
                    self._touch_action(c.id, dict(c.fields))
                else:
                    self.edit(ME, c.id, dict(c.fields))
                out.append(WriteResult(c.id, True))
        return out

    def upsert(self, *, object_name: str, key_field: str, records: Sequence[Any]) -> list[WriteResult]:
        assert object_name == ACTIONS
        by_key = {a.get(key_field): rid for rid, a in self.actions.items() if a.get(key_field)}
        out = []
        for i in range(0, len(records), self.write_batch):
            self._count("composite_sobjects")
            for r in records[i:i + self.write_batch]:
                rid = by_key.get(r.key)
                if rid is None:
                    rid = f"a00{len(self.actions):012d}"
                    self.actions[rid] = {"Id": rid, "Name": f"PA-{len(self.actions):06d}", "CreatedById": ME,
                                         "CreatedBy.Name": "Integration",
                                         "CreatedDate": self._tick().isoformat()}
                self._touch_action(rid, {**r.fields, key_field: r.key})
                out.append(WriteResult(rid, True))
        return out

    def act(self, user: str, opp: str, command: str, note: str | None = None,
            new_engineer: str | None = None, name: str = "A Person") -> str:
        """A person makes an action record on a deal."""
        rid = f"a00{len(self.actions):012d}"
        at = self._tick()
        self.actions[rid] = {"Id": rid, "Name": f"PA-{len(self.actions):06d}", "Opportunity__c": opp,
                             "Action__c": command, "Note__c": note,
                             "New_Engineer__c": new_engineer, "CreatedById": user, "CreatedBy.Name": name,
                             "CreatedDate": at.isoformat()}
        self.action_stamps[rid] = at
        return rid

    def _touch_action(self, rid: str, fields: dict[str, Any]) -> None:
        self.actions[rid].update(fields)
        self.action_stamps[rid] = self._tick()

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def org_setting(self, name: str, *, container: str) -> str | None:
        self._count("setting")
        return self.settings.get(f"{container}.{name}")

    def set_org_setting(self, name: str, value: str, *, container: str) -> None:
        self._count("setting")
        self.settings[f"{container}.{name}"] = value

    def edit(self, user: str, rid: str, fields: dict[str, Any]) -> None:
        self.clock += timedelta(seconds=1)
        self.records[rid].update(fields, LastModifiedById=user)
        self.stamps[rid] = self.clock

    def current_user(self) -> str:
        return ME

    def api_calls(self) -> dict[str, int]:
        return dict(self.calls)


def _org(n: int = 8) -> dict[str, dict[str, Any]]:
    return {f"006{i:03d}": {"Name": f"Deal {i}", "IsClosed": False, "IsWon": False,
                            "Presales_Requested__c": i % 2 == 0, "LastModifiedById": "005SALES",
                            "Amount": 1000.0 * i}
            for i in range(n)}


ENGINEERS = {e: Engineer(e, e, Level.SENIOR, reviewer=True, capacity=10)
             for e in ("005ENG1", "005ENG2", "005ENG3")}


@pytest.fixture
def loaded(tmp_path: Path) -> Loaded:
    return Loaded(path=tmp_path / "presales.yaml",
                  config=Config(crm=CrmConfig(instance_url="https://example.my.salesforce.com")),
                  mapping=mappings.load_mapping(mappings.default_mapping_path("salesforce")),
                  rules=RulesSettings(), engineers=ENGINEERS, managers=frozenset({"005MANAGER"}))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    yield s
    s.close()


def test_crash_mid_read_keeps_cursor_at_last_committed_page_and_rerun_finishes(
        loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(8), page_size=3)
    crm.crash_after_pages = 2
    with pytest.raises(RetryableError):
        run_sync(loaded, store, crm, now=NOW)
    with store.begin() as conn:
        cursor = store.get_cursor(conn, "default", "Opportunity")
        created = store.count_tasks(conn)
    page2_top = sorted(crm.stamps.values())[5]
    assert cursor == page2_top  # exactly the last committed page, no further
    assert created == len([1 for i in range(6) if sorted(crm.stamps, key=crm.stamps.get)[i][-1] in "02468"])
    assert crm.calls.get("composite_sobjects", 0) == 0  # nothing was written on the failed run
    crm.crash_after_pages = None
    report = run_sync(loaded, store, crm, now=NOW)
    assert report.exit_code == 0
    with store.begin() as conn:
        assert store.count_tasks(conn) == 4  # no duplicate task, none lost
    assert all(crm.records[r].get("Presales_Step__c") == "Requirements"
               for r in crm.records if crm.records[r]["Presales_Requested__c"])
    with store.begin() as conn:  # the lock was released by the failed run
        assert conn.exec_driver_sql("select count(*) from run_locks").scalar() == 0


def test_failed_record_is_queued_retried_and_exit_code_is_1(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(4))
    crm.fail_ids = {"006002"}
    report = run_sync(loaded, store, crm, now=NOW)
    assert report.exit_code == 1 and [f[0] for f in report.failures] == ["006002"]
    with store.begin() as conn:
        assert [f["record_id"] for f in store.failures(conn)] == ["006002"]
    assert crm.records["006002"].get("Presales_Step__c") is None
    crm.fail_ids = set()
    retry = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=5))
    assert retry.exit_code == 0 and retry.counts["written"] == 1
    assert crm.records["006002"]["Presales_Step__c"] == "Requirements"
    with store.begin() as conn:
        assert store.failures(conn) == []


def test_echo_costs_no_write_and_time_alone_can_change_health(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(4))
    run_sync(loaded, store, crm, now=NOW)
    writes = crm.calls["composite_sobjects"]
    quiet = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    assert crm.calls["composite_sobjects"] == writes and quiet.counts["written"] == 0
    assert crm.records["006000"]["Presales_Health__c"] == "Green"
    later = run_sync(loaded, store, crm, now=NOW + timedelta(days=7))  # nobody touched the CRM
    assert later.counts["written"] == 2
    assert crm.records["006000"]["Presales_Health__c"] == "Red"
    # the reason is written with the light; nobody answered within the response hours
    assert crm.records["006000"]["Presales_Message__c"].startswith("Red: first response overdue since ")
    assert crm.records["006000"]["Presales_Response_Due__c"] is not None


def test_a_managers_reassign_action_moves_the_task_and_any_other_is_refused_by_name(
        loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(4))
    run_sync(loaded, store, crm, now=NOW)
    current = crm.records["006000"]["Presales_Engineer__c"]
    other = next(e for e in ENGINEERS if e != current)
    before = crm.records["006002"]["Presales_Engineer__c"]
    moved = crm.act("005MANAGER", "006000", "Reassign", new_engineer=other, name="Gao Yan")
    stranger = crm.act("005MANAGER", "006002", "Reassign", new_engineer="005STRANGER", name="Gao Yan")
    by_rep = crm.act("005SALES", "006002", "Reassign", new_engineer=other, name="Pat Rep")
    report = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    assert report.counts["commands_applied"] == 1 and report.counts["commands_rejected"] == 2
    assert crm.records["006000"]["Presales_Engineer__c"] == other
    assert crm.records["006002"]["Presales_Engineer__c"] == before
    assert crm.actions[moved]["Outcome__c"] == "Applied" and crm.actions[moved]["Kind__c"] == "Assigned"
    assert crm.actions[stranger]["Outcome__c"] == "Refused"
    assert "005STRANGER is not an active presales engineer" in crm.actions[stranger]["Reason__c"]
    assert crm.actions[by_rep]["Reason__c"] == "Only a presales manager can reassign; Pat Rep is not one."
    task = store_task(store, "006000")
    audit = task.events[-1]
    assert (audit.kind, audit.actor, audit.source) == (EventKind.ASSIGNED, "005MANAGER", moved)
    assert audit.note == f"reassigned by Gao Yan from {current} to {other}"


def test_an_engineer_field_changed_by_hand_is_restored(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(2))
    run_sync(loaded, store, crm, now=NOW)
    current = crm.records["006000"]["Presales_Engineer__c"]
    other = next(e for e in ENGINEERS if e != current)
    crm.edit("005MANAGER", "006000", {"Presales_Engineer__c": other})  # a field, not a Reassign action
    run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    assert crm.records["006000"]["Presales_Engineer__c"] == current
    assert store_task(store, "006000").engineer_id == current


def store_task(store: Store, opp_id: str) -> Task:
    with store.begin() as conn:
        return store.load_tasks(conn, [opp_id])[opp_id].task


def test_closing_the_opportunity_closes_the_task(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(2))
    run_sync(loaded, store, crm, now=NOW)
    crm.edit("005SALES", "006000", {"IsClosed": True, "IsWon": True})
    run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    assert crm.records["006000"]["Presales_Status__c"] == "Closed"
    assert crm.records["006000"]["Presales_Health__c"] is None


def _failures(store: Store) -> dict[str, dict[str, Any]]:
    with store.begin() as conn:
        return {f["record_id"]: f for f in store.failures(conn)}


def test_bad_records_are_quarantined_the_rest_completes_and_retry_failed_reads_them_again(
        loaded: Loaded, store: Store) -> None:
    org = _org(8)
    org["006000"]["Amount"] = "a lot"  # wrong type
    org["006002"]["Name"] = "x" * 100_000 + " 😀𝄞"  # 100 kB, non-BMP characters
    org["006004"]["Presales_Priority__c"] = "P9"  # not a priority: the default applies
    org["006006"]["StageName"] = "s" * 100_000  # longer than the store's stage column
    crm = MemoryCRM(org)
    crm.stamps["006000"] = NOW - timedelta(days=2)  # well before the next run's lookback window
    first = run_sync(loaded, store, crm, now=NOW)
    assert first.exit_code == 1 and first.counts["quarantined"] == 1
    assert _failures(store)["006000"]["error_code"] == "BAD_VALUE"
    assert "Amount" in _failures(store)["006000"]["message"]
    assert {"006002", "006004", "006006"} <= set(crm.records) and first.counts["tasks_created"] == 3
    assert crm.records["006002"]["Presales_Engineer__c"] and crm.records["006004"]["Presales_Step__c"]
    # the admin fixes the cause (here: the value) without the CRM stamp moving
    crm.records["006000"]["Amount"] = 5000.0
    quiet = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    assert "006000" in _failures(store) and quiet.counts["tasks_created"] == 0
    retried = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=2), retry_failed=True)
    assert retried.exit_code == 0 and retried.counts["retried"] == 1 and retried.counts["tasks_created"] == 1
    assert _failures(store) == {} and crm.records["006000"]["Presales_Step__c"] == "Requirements"


def test_a_record_deleted_in_the_crm_closes_its_task_and_leaves_the_queue_on_retry(
        loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(4))
    run_sync(loaded, store, crm, now=NOW)
    crm.delete("006000")
    later = run_sync(loaded, store, crm, now=NOW + timedelta(days=7))  # health changes: a write is due
    assert later.exit_code == 1 and _failures(store)["006000"]["error_code"] == "DELETED"
    assert "ENTITY_IS_DELETED" in _failures(store)["006000"]["message"]
    assert store_task(store, "006000").status.value == "Closed"
    assert store_task(store, "006000").events[-1].outcome == "deleted"
    again = run_sync(loaded, store, crm, now=NOW + timedelta(days=7, minutes=1))
    assert again.counts["records_to_write"] == 0  # no write is tried for a deleted record
    cleared = run_sync(loaded, store, crm, now=NOW + timedelta(days=7, minutes=2), retry_failed=True)
    assert cleared.counts["deleted_in_crm"] == 1 and _failures(store) == {}


def test_the_run_stops_at_the_api_budget_and_the_next_run_resumes(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(8), page_size=3)
    # 80% of 100 may be used: four calls left, for the org's marker (a new store: read, then
    # set), the action records (none) and two opportunity pages of three
    crm.daily_limit, crm.used_by_others = 100, 76
    stopped = run_sync(loaded, store, crm, now=NOW)
    assert stopped.exit_code == 1 and stopped.stopped and "API budget reached" in stopped.stopped
    assert crm.calls == {"setting": 2, "query": 2} and stopped.counts["read"] == 3  # one of three pages
    assert "Presales_Step__c" not in crm.records["006000"]  # nothing written past the budget
    crm.calls.clear()
    crm.used_by_others = 0  # a new day
    resumed = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    assert resumed.exit_code == 0 and resumed.stopped is None
    assert all(crm.records[f"006{i:03d}"].get("Presales_Step__c") for i in range(0, 8, 2))


def test_the_write_budget_counts_calls_in_the_crm_s_own_batch(loaded: Loaded, store: Store) -> None:
    """Zoho writes 100 records a call, not Salesforce's 200: a budget of one call left writes
    one of the CRM's batches, not two."""
    crm = MemoryCRM(_org(8), page_size=3)
    crm.write_batch = 2
    # 80 may be used: the marker (2), the action records (1), 3 pages, then 1 call left (and
    # the CREATED events of the four tasks to upsert first: one batch of two)
    crm.daily_limit, crm.used_by_others = 100, 73
    stopped = run_sync(loaded, store, crm, now=NOW)
    assert crm.calls == {"setting": 2, "query": 4, "composite_sobjects": 1}
    assert stopped.exit_code == 1 and stopped.stopped and "API budget reached" in stopped.stopped
    written = [i for i in range(0, 8, 2) if crm.records[f"006{i:03d}"].get("Presales_Step__c")]
    assert written == [] and len(crm.actions) == 2  # one batch of two events; the rest waits
    crm.calls.clear()
    crm.used_by_others = 0
    resumed = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    assert resumed.exit_code == 0
    assert all(crm.records[f"006{i:03d}"].get("Presales_Step__c") for i in range(0, 8, 2))


def test_a_store_error_on_one_record_rolls_back_that_record_only(
        loaded: Loaded, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy.exc

    real = store.upsert_opportunity

    def flaky(conn: Any, row: Any, exists: bool) -> None:
        real(conn, row, exists)
        if row.crm_id == "006002":
            raise sqlalchemy.exc.IntegrityError("INSERT", {}, ValueError("boom"))

    monkeypatch.setattr(store, "upsert_opportunity", flaky)
    crm = MemoryCRM(_org(4))
    report = run_sync(loaded, store, crm, now=NOW)
    assert report.exit_code == 1 and _failures(store)["006002"]["error_code"] == "STORE_ERROR"
    with store.begin() as conn:
        assert set(store.opportunity_values(conn, ["006000", "006002"])) == {"006000"}
        assert set(store.all_tasks(conn)) == {"006000"}


def test_a_quiet_run_evaluates_only_what_changed_or_is_due(loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(8))
    first = run_sync(loaded, store, crm, now=NOW)
    assert first.counts["evaluated"] == 4 and first.counts["open_tasks"] == 4
    echoes = run_sync(loaded, store, crm, now=NOW + timedelta(seconds=30))  # our writes come back once
    assert echoes.counts["evaluated"] == 4 and echoes.counts["records_to_write"] == 0
    quiet = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    assert quiet.counts["evaluated"] == 0 and quiet.counts["open_tasks"] == 4
    engineer = crm.records["006000"]["Presales_Engineer__c"]
    crm.act(engineer, "006000", "Sign Off")
    one = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=2))
    assert one.counts["evaluated"] == 1 and one.counts["commands_applied"] == 1
    run_sync(loaded, store, crm, now=NOW + timedelta(minutes=3))  # its echo
    # the response deadline (18:00 local for P2 requested at 10:00) brings the others back
    evening = run_sync(loaded, store, crm, now=NOW + timedelta(hours=8, minutes=1))
    assert evening.counts["evaluated"] == 3 and evening.counts["health_red"] == 3
    run_sync(loaded, store, crm, now=NOW + timedelta(hours=8, minutes=2))  # their echoes
    assert run_sync(loaded, store, crm, now=NOW + timedelta(hours=8, minutes=3)).counts["evaluated"] == 0
    # a changed rules file re-evaluates every open task
    stricter = loaded.model_copy(update={"rules": RulesSettings(yellow_within_days=3)})
    assert run_sync(stricter, store, crm, now=NOW + timedelta(hours=8, minutes=4)).counts["evaluated"] == 4


def test_a_write_that_failed_is_evaluated_and_sent_again_even_when_nothing_is_due(
        loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_org(4))
    crm.fail_ids = {"006002"}
    run_sync(loaded, store, crm, now=NOW)
    crm.fail_ids = set()
    retry = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    assert retry.counts["evaluated"] == 2 and retry.counts["written"] == 1  # 006000 echoes; 006002 is owed
    assert crm.records["006002"]["Presales_Step__c"] == "Requirements"


def test_a_killed_runs_record_is_closed_as_abandoned_and_errors_keep_their_exit_code(
        loaded: Loaded, store: Store) -> None:
    from presales_sync.connector import ConfigError

    store.start_run(loaded.config.profile, "sync", NOW - timedelta(hours=1), False)  # killed: never finished
    crm = MemoryCRM(_org(2))
    run_sync(loaded, store, crm, now=NOW)

    def broken(**_: Any) -> Iterator[Page]:
        raise ConfigError("no such field")

    crm.read_changed = broken  # type: ignore[method-assign]
    with pytest.raises(ConfigError):
        run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    with store.begin() as conn:
        failed, ok, killed = store.recent_runs(conn)[:3]
    assert killed["error"].startswith("abandoned") and killed["finished_at"] is not None
    assert ok["exit_code"] == 0 and failed["exit_code"] == 2 and "no such field" in failed["error"]


def test_the_report_keeps_a_sample_of_field_changes_and_counts_them_all(
        loaded: Loaded, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from presales_sync.sync import writeback

    monkeypatch.setattr(writeback, "CHANGES_KEPT", 3)
    report = run_sync(loaded, store, MemoryCRM(_org(8)), now=NOW, dry_run=True)
    assert len(report.changes) == 3 and report.counts["field_changes"] > 3


def test_a_run_that_dies_after_reading_leaves_the_changed_tasks_to_the_next_run(
        loaded: Loaded, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from presales_sync.sync import engine as sync_engine

    crm = MemoryCRM(_org(4))
    run_sync(loaded, store, crm, now=NOW)
    run_sync(loaded, store, crm, now=NOW + timedelta(seconds=30))  # echoes settle
    before = crm.records["006000"]["Presales_Response_Due__c"]
    crm.edit("005SALES", "006000", {"Presales_Priority__c": "P1"})  # 4 working hours, not 8

    def dies(*_args: Any) -> None:
        raise RetryableError("killed", code="KILLED")

    with monkeypatch.context() as patch:
        patch.setattr(sync_engine, "evaluate", dies)
        with pytest.raises(RetryableError):
            run_sync(loaded, store, crm, now=NOW + timedelta(minutes=1))
    after = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=2))  # reads nothing new
    assert after.counts["evaluated"] == 1 and after.counts["written"] == 1
    assert crm.records["006000"]["Presales_Response_Due__c"] != before


def test_two_profiles_sharing_one_store_keep_their_own_tasks_ledger_state_and_cursor(
        loaded: Loaded, store: Store) -> None:
    south_loaded = loaded.model_copy(update={"config": loaded.config.model_copy(update={"profile": "south"})})
    north_crm, south_crm = MemoryCRM(_org(4)), MemoryCRM(_org(6))  # the same record ids, two orgs
    south_crm.edit("005SALES", "006005", {"Amount": 1.0})  # south's newest stamp is later
    north = run_sync(loaded, store, north_crm, now=NOW)
    south = run_sync(south_loaded, store, south_crm, now=NOW)
    # south's ledger starts empty although north's holds the same ids: it writes its own org
    assert (north.counts["tasks_created"], south.counts["tasks_created"]) == (2, 3)
    assert north.counts["written"] == 2 and south.counts["written"] == 3
    south_store = store.for_profile("south")
    with store.begin() as conn:
        assert sorted(store.all_tasks(conn)) == ["006000", "006002"]
        assert sorted(south_store.all_tasks(conn)) == ["006000", "006002", "006004"]
        assert store.get_cursor(conn, "default", "Opportunity") == NOW - timedelta(hours=2)
        assert south_store.get_cursor(conn, "south", "Opportunity") == south_crm.stamps["006005"]
        assert store.get_state(conn, "evaluate.fingerprint") is not None
        assert south_store.get_state(conn, "evaluate.fingerprint") is not None
    # each profile's echoes settle against its own ledger
    north_crm.calls.clear()
    south_crm.calls.clear()
    again_north = run_sync(loaded, store, north_crm, now=NOW + timedelta(minutes=1))
    again_south = run_sync(south_loaded, store, south_crm, now=NOW + timedelta(minutes=1))
    assert again_north.counts["written"] == 0 and again_south.counts["written"] == 0
    assert "composite_sobjects" not in north_crm.calls and "composite_sobjects" not in south_crm.calls
