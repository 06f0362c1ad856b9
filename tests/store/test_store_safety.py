"""Opening a store that is not what it should be: written by a newer version, damaged or
cut short, somewhere that cannot hold it, another CRM org's, or on a full disk. Each is
refused (or rolled back) with a message naming the store and what to do, and the file
is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from presales_sync.rules import create_task
from presales_sync.sync.store import (
    OpportunityRow,
    Store,
    StoreCorrupt,
    StoreInaccessible,
    StoreOwnedElsewhere,
    StoreOwner,
    StoreTooNew,
    StoreUnavailable,
)

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
MIGRATIONS = Path(__file__).resolve().parents[2] / "sync" / "store" / "migrations"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _siblings(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir()} - {path.name}


def _sqlite_store(tmp_path: Path, name: str = "presales.db") -> Path:
    db = tmp_path / name
    Store.open(f"sqlite:///{db}").close()
    return db


def _pretend_newer(url: str) -> None:
    """What presales-sync 9.0.0 leaves behind after its migration 0099."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("update alembic_version set version_num = '0099'"))
        conn.execute(sa.text("update state set value = :v where key = 'store.written_by'"),
                     {"v": '{"version": "9.0.0", "revision": "0099"}'})
    engine.dispose()


# -- 1: a newer version's store -------------------------------------------------------------

def test_a_store_of_a_newer_version_is_refused_naming_its_version_and_nothing_changes(
        store_url: str, tmp_path: Path) -> None:
    Store.open(store_url).close()
    _pretend_newer(store_url)
    db = tmp_path / "store.db"
    before = _digest(db) if store_url.startswith("sqlite") else None
    with pytest.raises(StoreTooNew) as caught:
        Store.open(store_url)
    message = str(caught.value)
    assert "0099" in message and "presales-sync 9.0.0" in message and "0005" in message
    assert "upgrade presales-sync" in message and "Nothing was changed" in message
    if before is not None:
        assert _digest(db) == before and _siblings(db) == set()  # not even a -wal or -shm
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar() == "0099"
    engine.dispose()


# -- 2: damaged files -----------------------------------------------------------------------

def test_random_bytes_are_not_a_store_and_are_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "presales.db"
    db.write_bytes(os.urandom(8192))
    before = _digest(db)
    with pytest.raises(StoreCorrupt, match="is not a SQLite database") as caught:
        Store.open(f"sqlite:///{db}")
    assert str(db) in str(caught.value) and "Restore it from a backup" in str(caught.value)
    assert _digest(db) == before and _siblings(db) == set()


def test_a_store_cut_in_half_is_refused_naming_its_backup(tmp_path: Path) -> None:
    db = _sqlite_store(tmp_path)
    backup = tmp_path / "presales.db.bak-0002-20261101T000000Z"
    backup.write_bytes(db.read_bytes())
    data = db.read_bytes()
    for size in (len(data) // 2, len(data) - 4096, 1000):  # on a page boundary or not
        db.write_bytes(data[:size])
        before = _digest(db)
        with pytest.raises(StoreCorrupt) as caught:
            Store.open(f"sqlite:///{db}")
        assert str(db) in str(caught.value) and str(backup) in str(caught.value)
        assert _digest(db) == before and _siblings(db) == {backup.name}


def test_a_zero_length_file_is_a_new_store(tmp_path: Path) -> None:
    db = tmp_path / "presales.db"
    db.touch()
    store = Store.open(f"sqlite:///{db}")
    with store.begin() as conn:
        assert store.count_tasks(conn) == 0
    store.close()


def test_another_programs_sqlite_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table notes (body text)")
    conn.close()
    before = _digest(db)
    with pytest.raises(StoreCorrupt, match="something else"):
        Store.open(f"sqlite:///{db}")
    assert _digest(db) == before


# -- 5: paths that cannot hold a store ------------------------------------------------------

def test_a_missing_folder_is_an_error_not_a_new_store(tmp_path: Path) -> None:
    db = tmp_path / "no-such-dir" / "presales.db"
    with pytest.raises(StoreInaccessible, match="does not exist") as caught:
        Store.open(f"sqlite:///{db}")
    assert str(db) in str(caught.value)
    assert not db.parent.exists()


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "presales.db").mkdir()
    with pytest.raises(StoreInaccessible, match="is a directory") as caught:
        Store.open(f"sqlite:///{tmp_path / 'presales.db'}")
    assert str(tmp_path / "presales.db") in str(caught.value)


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[Path]:
    """A store that may not be written: a read-only mount as root (root ignores modes), a
    file without permissions otherwise."""
    if os.geteuid() != 0:
        db = _sqlite_store(tmp_path)
        db.chmod(0)
        yield db
        db.chmod(0o600)
        return
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        db = _sqlite_store(mnt)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        yield db
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_store_that_cannot_be_written_names_its_path(read_only_store: Path) -> None:
    before = _digest(read_only_store) if os.access(read_only_store, os.R_OK) else None
    with pytest.raises(StoreInaccessible, match=r"cannot be (read|written)") as caught:
        Store.open(f"sqlite:///{read_only_store}")
    assert str(read_only_store) in str(caught.value)
    if before is not None:
        assert _digest(read_only_store) == before


# -- 3: a copy before each migration --------------------------------------------------------

def _store_at(db: Path, revision: str) -> None:
    engine = sa.create_engine(f"sqlite:///{db}")
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_an_old_store_is_copied_aside_with_its_write_ahead_log_before_migrating(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "presales.db"
    _store_at(db, "0002")
    # a row still in the write-ahead log (a connection that never checkpoints stays open)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("insert into state (key, value) values ('in.the.wal', '1')")
    assert (tmp_path / "presales.db-wal").stat().st_size > 0
    with caplog.at_level(logging.WARNING, logger="presales.store"):
        store = Store.open(f"sqlite:///{db}")
    store.close()
    writer.close()
    [copy] = tmp_path.glob("presales.db.bak-0002-*")
    assert f"copied to {copy} before migrating its schema from revision 0002 to 0005" in caplog.text
    with sqlite3.connect(copy) as conn:
        assert conn.execute("select version_num from alembic_version").fetchone() == ("0002",)
        assert conn.execute("select value from state where key = 'in.the.wal'").fetchone() == (1,)
    conn.close()
    assert not (tmp_path / f"{copy.name}-wal").exists()
    Store.open(f"sqlite:///{db}").close()  # up to date now: no second copy
    assert len(list(tmp_path.glob("presales.db.bak-*"))) == 1


def test_a_new_store_is_not_copied(tmp_path: Path) -> None:
    _sqlite_store(tmp_path)
    assert list(tmp_path.glob("*.bak-*")) == []


# -- 6: one CRM org per store ---------------------------------------------------------------

SF = StoreOwner.of("salesforce", "https://acme.my.salesforce.com/", "default")
ZOHO = StoreOwner.of("zoho", "https://www.zohoapis.com", "default")


def test_a_store_records_its_org_and_refuses_another(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        store.claim(SF, T0)
        store.claim(StoreOwner.of("salesforce", "https://ACME.my.salesforce.com", "nightly"))  # same org
        with pytest.raises(StoreOwnedElsewhere) as caught:
            store.claim(ZOHO)
        message = str(caught.value)
        assert store.where in message
        assert "profile 'default' (salesforce https://acme.my.salesforce.com" in message
        assert "zoho https://www.zohoapis.com" in message and "a store of its own" in message
        assert store.owner() == SF
    finally:
        store.close()


# -- 4: a full disk -------------------------------------------------------------------------

def _cap(store: Store, spare_pages: int) -> None:
    """Let the SQLite file grow by `spare_pages` pages at most: a disk that is nearly full."""
    store.engine.dispose()
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    @sa.event.listens_for(store.engine, "connect")
    def _limit(dbapi_conn: sqlite3.Connection, _: object) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + spare_pages}")

    store.engine.dispose()


def test_a_full_disk_rolls_the_transaction_back_and_says_so(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'presales.db'}")
    _cap(store, 4)
    big = {"name": "x" * 3000}
    with pytest.raises(StoreUnavailable, match="is full") as caught, store.begin() as conn:
        store.save_task(conn, create_task("006KEEP", at=T0, actor="a"), message=None, now=T0, stored=None)
        for i in range(200):
            with conn.begin_nested():  # savepoints: SQLite may drop the whole transaction
                store.upsert_opportunity(conn, OpportunityRow(f"006{i:04d}", T0, big), exists=False)
    assert "rolled back" in str(caught.value) and str(tmp_path / "presales.db") in str(caught.value)
    with store.begin() as conn:
        assert store.count_tasks(conn) == 0
        assert store.stamps(conn, [f"006{i:04d}" for i in range(200)]) == {}
    store.close()
