"""The store on SQLite and on a real PostgreSQL server: migrations, tasks and events,
ledger, cursor, lock, runs."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from presales_sync.rules import Command, Status, Step, apply_command, assign, create_task
from presales_sync.sync.store import LockHeld, OpportunityRow, Store

T0 = datetime(2026, 11, 20, 8, 15, 2, 123000, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store.open(store_url)
    yield s
    s.close()


def test_migrations_create_schema_and_are_idempotent(store: Store, store_url: str) -> None:
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"opportunities", "tasks", "task_events", "ledger", "cursors", "runs",
            "run_locks", "write_failures", "state", "actions", "alembic_version"} <= tables
    again = Store.open(store_url)  # second open: migrate is a no-op, data kept
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar() == "0005"
    assert "review_at" in {c["name"] for c in sa.inspect(again.engine).get_columns("tasks")}
    events = {c["name"] for c in sa.inspect(again.engine).get_columns("task_events")}
    assert {"engineer_id", "source", "mirrored"} <= events
    again.close()


def test_task_and_events_round_trip_with_aware_times(store: Store) -> None:
    task = create_task("006A", at=T0, actor="005S")
    task = assign(task, "005E", at=T0, actor="005I", reason="round robin")
    task = apply_command(task, Command.SIGN_OFF, actor="005E", at=T0 + timedelta(hours=1),
                         reviewers=frozenset())
    with store.begin() as conn:
        saved = store.save_task(conn, task, message=None, now=T0, stored=None)
    with store.begin() as conn:
        loaded = store.load_tasks(conn, ["006A"])["006A"]
    assert loaded.id == saved.id
    assert loaded.task == task
    assert loaded.task.step is Step.SOLUTION_DESIGN and loaded.task.status is Status.IN_PROGRESS
    assert all(e.at.tzinfo is not None for e in loaded.task.events)
    assert loaded.task.step_started_at == T0 + timedelta(hours=1)


def test_events_only_append(store: Store) -> None:
    task = create_task("006B", at=T0, actor="a")
    with store.begin() as conn:
        stored = store.save_task(conn, task, message=None, now=T0, stored=None)
    rewritten = assign(create_task("006B", at=T0 + timedelta(days=1), actor="b"), "e", at=T0,
                       actor="x", reason="r")
    with pytest.raises(ValueError, match="appended"), store.begin() as conn:
        store.save_task(conn, rewritten, message=None, now=T0, stored=stored)
    with store.begin() as conn:
        assert store.load_tasks(conn, ["006B"])["006B"].task == task


def test_rollback_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.begin() as conn:
        store.save_task(conn, create_task("006C", at=T0, actor="a"), message=None, now=T0, stored=None)
        store.set_cursor(conn, "default", "Opportunity", T0, T0)
        raise RuntimeError("crash mid-page")
    with store.begin() as conn:
        assert store.load_tasks(conn, ["006C"]) == {}
        assert store.get_cursor(conn, "default", "Opportunity") is None


def test_cursor_is_aware_keeps_milliseconds_and_never_moves_back(store: Store) -> None:
    with store.begin() as conn:
        store.set_cursor(conn, "default", "Opportunity", T0, T0)
        store.set_cursor(conn, "default", "Opportunity", T0 - timedelta(seconds=5), T0)
    with store.begin() as conn:
        assert store.get_cursor(conn, "default", "Opportunity") == T0


def test_opportunity_upsert_and_stamps(store: Store) -> None:
    values = {"name": "Acme", "amount": 0.0, "close_date": "2026-12-31", "is_closed": False,
              "is_won": False, "requested": True, "priority": "P1"}
    with store.begin() as conn:
        store.upsert_opportunity(conn, OpportunityRow("006D", T0, values), exists=False)
        store.upsert_opportunity(conn, OpportunityRow("006D", T0 + timedelta(seconds=1),
                                                      {**values, "amount": 5.5}), exists=True)
    with store.begin() as conn:
        assert store.stamps(conn, ["006D", "006X"]) == {"006D": T0 + timedelta(seconds=1)}
        assert store.opportunity_values(conn, ["006D"])["006D"]["amount"] == 5.5


def test_ledger_keeps_none_zero_and_false_apart(store: Store) -> None:
    with store.begin() as conn:
        store.set_ledger(conn, "Opportunity", "006E", {"A__c": None, "B__c": 0, "C__c": False,
                                                       "D__c": ""}, T0)
    with store.begin() as conn:
        got = store.ledger(conn, "Opportunity", ["006E"])["006E"]
    assert got == {"A__c": None, "B__c": 0, "C__c": False, "D__c": ""}
    assert got["B__c"] is not False and got["C__c"] is False and got["A__c"] is None


def test_lock_excludes_a_second_run_and_a_dead_holder_is_taken_over(store: Store) -> None:
    store.acquire_lock("default", T0)
    with pytest.raises(LockHeld):
        store.acquire_lock("default", T0)
    store.release_lock("default")
    store.acquire_lock("default", T0)  # free again
    with store.begin() as conn:  # pretend the holder died
        conn.execute(sa.text("update run_locks set pid = :pid"), {"pid": _dead_pid()})
    store.acquire_lock("default", T0)
    store.release_lock("default")


def test_failures_and_runs(store: Store) -> None:
    with store.begin() as conn:
        store.record_failure(conn, "Opportunity", "006F", "UNABLE_TO_LOCK_ROW", "locked", T0)
        store.record_failure(conn, "Opportunity", "006F", "UNABLE_TO_LOCK_ROW", "locked", T0)
    with store.begin() as conn:
        (f,) = store.failures(conn)
        assert f["attempts"] == 2
        store.clear_failures(conn, "Opportunity", ["006F"])
        assert store.failures(conn) == []
    run = store.start_run("default", "sync", T0, dry_run=False)
    store.finish_run(run, now=T0, exit_code=0, counts={"read": 3}, api_calls={"query": 1})
    with store.begin() as conn:
        (r,) = store.recent_runs(conn)
    assert r["counts"] == {"read": 3} and r["exit_code"] == 0


def _dead_pid() -> int:
    pid = 2**22 - 7
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1
