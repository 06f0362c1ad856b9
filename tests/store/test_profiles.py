"""Two profiles in one store (SQLite, and PostgreSQL under the `postgres` marker): each sees
its own opportunities, tasks, ledger, state, failure queue and cursor; and migration 0004 gives
the rows of an older store the profile it was used by, keeping every row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from presales_sync.rules import assign, create_task
from presales_sync.sync.store import OpportunityRow, Store, StoreOwner

T0 = datetime(2026, 11, 20, 8, 15, 2, tzinfo=UTC)
MIGRATIONS = Path(__file__).resolve().parents[2] / "sync" / "store" / "migrations"
VALUES = {"name": "Acme", "is_closed": False, "is_won": False, "requested": True}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url, profile="north")
    yield s
    s.close()


def test_a_store_is_bound_to_the_profile_it_was_opened_for(store: Store) -> None:
    assert store.profile == "north"
    south = store.for_profile("south")
    assert south.profile == "south" and south.engine is store.engine and south.where == store.where
    assert store.for_profile("north") is store


def test_two_profiles_keep_their_own_rows_under_the_same_crm_ids(store: Store) -> None:
    north, south = store, store.for_profile("south")
    for s, engineer in ((north, "005N"), (south, "005S")):
        with s.begin() as conn:
            s.upsert_opportunity(conn, OpportunityRow("006A", T0, {**VALUES, "name": s.profile}),
                                 exists=False)
            task = assign(create_task("006A", at=T0, actor="005X"), engineer, at=T0, actor="005I",
                          reason="round robin")
            s.save_task(conn, task, message=s.profile, now=T0, stored=None)
            s.set_ledger(conn, "Opportunity", "006A", {"Presales_Engineer__c": engineer}, T0)
            s.set_state(conn, "assignment.round_robin.queue", [engineer])
            s.set_cursor(conn, s.profile, "Opportunity", T0 + timedelta(minutes=len(s.profile)), T0)
    with north.begin() as conn:
        north.record_failure(conn, "Opportunity", "006A", "UNABLE_TO_LOCK_ROW", "locked", T0)

    for s, engineer in ((north, "005N"), (south, "005S")):
        with s.begin() as conn:
            assert s.opportunity_values(conn, ["006A"])["006A"]["name"] == s.profile
            assert s.stamps(conn, ["006A"]) == {"006A": T0}
            (stored,) = s.load_tasks(conn, ["006A"]).values()
            assert stored.task.engineer_id == engineer and stored.message == s.profile
            assert list(s.open_tasks(conn)) == ["006A"] and list(s.all_tasks(conn)) == ["006A"]
            assert s.open_load(conn) == {engineer: 1}
            assert s.count_open_tasks(conn) == 1 and s.count_tasks(conn) == 1
            assert s.ledger(conn, "Opportunity", ["006A"]) == {"006A": {"Presales_Engineer__c": engineer}}
            assert s.get_state(conn, "assignment.round_robin.queue") == [engineer]
            assert s.get_cursor(conn, s.profile, "Opportunity") == T0 + timedelta(minutes=len(s.profile))
    with north.begin() as conn:
        assert [f["record_id"] for f in north.failures(conn)] == ["006A"]
        assert "profile" not in north.failures(conn)[0]  # the queue's rows read as before
    with south.begin() as conn:
        assert south.failures(conn) == []
        south.clear_failures(conn, "Opportunity", ["006A"])  # south's queue only
    with north.begin() as conn:
        assert len(north.failures(conn)) == 1


def test_the_owner_belongs_to_the_store_not_to_a_profile(store: Store) -> None:
    owner = StoreOwner.of("salesforce", "https://acme.my.salesforce.com", "north")
    store.claim(owner, T0)
    south = store.for_profile("south")
    assert south.owner() == owner
    south.claim(StoreOwner.of("salesforce", "https://acme.my.salesforce.com", "south"), T0)  # same org
    assert store.owner() == owner


# -- migration 0004 ---------------------------------------------------------------------------

def _store_at(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def _seed_0003(url: str, *, owner_profile: str | None, cursor_profile: str | None) -> None:
    """An 0003 store with a row in every table that gets the profile."""
    engine = sa.create_engine(url)
    md = sa.MetaData()
    md.reflect(engine)
    tb = md.tables
    with engine.begin() as conn:
        conn.execute(tb["opportunities"].insert(), {
            "crm_id": "006A", "name": "Acme", "is_closed": False, "is_won": False, "requested": True,
            "stamp": T0, "values": VALUES})
        task_id = conn.execute(tb["tasks"].insert(), {
            "opportunity_id": "006A", "engineer_id": "005E", "step": "Requirements", "status": "Assigned",
            "rework_count": 0, "created_at": T0, "updated_at": T0}).inserted_primary_key[0]
        conn.execute(tb["task_events"].insert(), [
            {"task_id": task_id, "seq": 0, "kind": "created", "at": T0, "actor": "005S"},
            {"task_id": task_id, "seq": 1, "kind": "assigned", "at": T0, "actor": "005I", "note": "rr"}])
        conn.execute(tb["ledger"].insert(), {"object": "Opportunity", "record_id": "006A",
                                             "field": "Presales_Engineer__c", "value": "005E",
                                             "updated_at": T0})
        conn.execute(tb["write_failures"].insert(), {"object": "Opportunity", "record_id": "006A",
                                                     "error_code": "X", "attempts": 2, "last_at": T0})
        conn.execute(tb["state"].insert(), {"key": "assignment.round_robin.queue", "value": ["005E"]})
        if owner_profile:
            conn.execute(tb["state"].insert(), {"key": "store.owner", "value": StoreOwner.of(
                "salesforce", "https://acme.my.salesforce.com", owner_profile).as_state(T0)})
        if cursor_profile:
            conn.execute(tb["cursors"].insert(), {"profile": cursor_profile, "object": "Opportunity",
                                                  "stamp": T0, "updated_at": T0})
        conn.execute(tb["runs"].insert(), {"profile": "from-runs", "kind": "sync", "started_at": T0,
                                           "dry_run": False})
    engine.dispose()


@pytest.mark.parametrize(("owner_profile", "cursor_profile", "expected"), [
    ("emea", "other", "emea"),  # the owner record names the profile that claimed the store
    (None, "apac", "apac"),  # else the newest cursor's
    (None, None, "from-runs"),  # else the newest run's
])
def test_migration_0004_gives_an_old_stores_rows_its_profile_and_keeps_them(
        store_url: str, owner_profile: str | None, cursor_profile: str | None, expected: str) -> None:
    _store_at(store_url, "0003")
    _seed_0003(store_url, owner_profile=owner_profile, cursor_profile=cursor_profile)
    store = Store.open(store_url, profile=expected)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("select version_num from alembic_version")).scalar() == "0005"
            for table in ("opportunities", "tasks", "ledger", "write_failures"):
                assert conn.execute(sa.text(f"select profile from {table}")).scalars().all() == [expected]
            assert dict(conn.execute(sa.text("select key, profile from state")).all()) == {
                "assignment.round_robin.queue": expected, "store.written_by": "",
                **({"store.owner": ""} if owner_profile else {})}
        with store.begin() as conn:
            (stored,) = store.load_tasks(conn, ["006A"]).values()
            assert [e.kind.value for e in stored.task.events] == ["created", "assigned"]
            assert stored.task.engineer_id == "005E"
            assert store.stamps(conn, ["006A"]) == {"006A": T0}
            assert store.ledger(conn, "Opportunity", ["006A"]) == {"006A": {"Presales_Engineer__c": "005E"}}
            assert [f["attempts"] for f in store.failures(conn)] == [2]
            assert store.get_state(conn, "assignment.round_robin.queue") == ["005E"]
        if owner_profile:
            assert store.owner() == StoreOwner.of("salesforce", "https://acme.my.salesforce.com",
                                                  owner_profile)
        # the keys now include the profile: another profile stores the same ids beside them
        other = store.for_profile("another")
        with other.begin() as conn:
            other.upsert_opportunity(conn, OpportunityRow("006A", T0, VALUES), exists=False)
            other.save_task(conn, create_task("006A", at=T0, actor="005S"), message=None, now=T0,
                            stored=None)
            other.set_ledger(conn, "Opportunity", "006A", {"Presales_Engineer__c": None}, T0)
            other.set_state(conn, "assignment.round_robin.queue", [])
            other.record_failure(conn, "Opportunity", "006A", "Y", "m", T0)
        with store.begin() as conn:
            assert store.count_tasks(conn) == 1
            assert store.get_state(conn, "assignment.round_robin.queue") == ["005E"]
            # a second task for the same opportunity of the same profile is still refused
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                store.save_task(conn, create_task("006A", at=T0, actor="005S"), message=None, now=T0,
                                stored=None)
    finally:
        store.close()
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as raw:
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        raw.close()


def test_a_store_that_was_never_used_migrates_to_the_default_profile(store_url: str) -> None:
    _store_at(store_url, "0003")
    engine = sa.create_engine(store_url)
    md = sa.MetaData()
    md.reflect(engine)
    with engine.begin() as conn:
        conn.execute(md.tables["state"].insert(), {"key": "assignment.account_owners", "value": {}})
    engine.dispose()
    Store.open(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select profile from state where key = 'assignment.account_owners'")
                            ).scalar() == "default"
    engine.dispose()


# -- migration 0005 ---------------------------------------------------------------------------

def test_migration_0005_marks_an_old_stores_events_as_in_the_crm_and_starts_no_actions(
        store_url: str) -> None:
    """Events from before the audit trail are not sent to the CRM as a flood of event records;
    the events of tasks made after the upgrade are."""
    _store_at(store_url, "0003")
    _seed_0003(store_url, owner_profile="default", cursor_profile=None)
    store = Store.open(store_url)
    try:
        with store.begin() as conn:
            assert store.unmirrored_events(conn) == []
            assert store.count_actions(conn) == 0 and store.unwritten_actions(conn) == []
            task = store.load_tasks(conn, ["006A"])["006A"]
            assert [e.source for e in task.task.events] == [None, None]
            later = assign(task.task, "005F", at=T0, actor="005I", reason="by hand")
            store.save_task(conn, later, message=None, now=T0, stored=task)
            assert [(o, q) for o, q, _ in store.unmirrored_events(conn)] == [("006A", 2)]
    finally:
        store.close()
