"""`presales` through the CLI against the sandbox with a store that is not what it should be:
a newer version's, a damaged file, a path that cannot hold it, another CRM org's, a disk that
fills up mid-run, an old schema to migrate. Each is a clear message naming the store and what
to do, an exit code a scheduler can act on (2: an admin must act; 3: the next run resumes)
and a store left as it was or with nothing half-written."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from e2e_support import Org, presales, run_json

from presales_sync.sync.store import Store

MIGRATIONS = Path(__file__).resolve().parents[2] / "sync" / "store" / "migrations"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(org: Org, config: Path, code: int = 2) -> str:
    """Run `presales sync`, expect `code` and no call to the CRM; the error message."""
    org.reset_stats()
    proc = presales(config, "sync", extra_env=org.env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert sum(org.stats().values()) == 0, org.stats()
    return proc.stderr


@contextmanager
def _db(db: Path) -> Iterator[sa.Connection]:
    """A plain connection to a store file, closed with its pool (the file must not stay open:
    a test unmounts the file system it is on)."""
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


# -- 1 and 2: refused files stay byte for byte as they were ------------------------------------

def test_a_store_written_by_a_newer_version_is_refused_untouched(org: Org, tmp_path: Path) -> None:
    db = tmp_path / "presales.db"
    Store.open(f"sqlite:///{db}").close()
    with _db(db) as conn:
        conn.execute(sa.text("update alembic_version set version_num = 'a1b2c3d4e5f6'"))
        conn.execute(sa.text("update state set value = :v where key = 'store.written_by'"),
                     {"v": json.dumps({"version": "2.4.0", "revision": "a1b2c3d4e5f6"})})
    before = _digest(db)
    message = _refused(org, org.config(tmp_path))
    assert f"store {db} has schema revision a1b2c3d4e5f6, written by presales-sync 2.4.0" in message
    assert "upgrade presales-sync" in message
    assert _digest(db) == before and sorted(p.name for p in tmp_path.iterdir()) == ["presales.db",
                                                                                    "presales.yaml"]


@pytest.mark.parametrize("damage", ["random bytes", "cut in half"])
def test_a_damaged_store_file_is_named_and_left_untouched(org: Org, tmp_path: Path, damage: str) -> None:
    config = org.config(tmp_path)
    db = tmp_path / "presales.db"
    if damage == "random bytes":
        db.write_bytes(os.urandom(64 * 1024))
    else:
        assert run_json(config, "sync", extra_env=org.env)["exit_code"] == 0
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 2])
    before = _digest(db)
    message = _refused(org, config)
    assert f"store {db} is" in message and "Restore it from a backup" in message
    assert _digest(db) == before and not list(tmp_path.glob("presales.db-*"))


# -- 5: paths that cannot hold a store -------------------------------------------------------

def test_a_store_folder_that_does_not_exist_is_an_error(org: Org, tmp_path: Path) -> None:
    config = org.config(tmp_path, store="sqlite:///data/presales.db")
    message = _refused(org, config)
    assert f"the folder of store {tmp_path / 'data' / 'presales.db'} does not exist" in message
    assert not (tmp_path / "data").exists()


def test_a_directory_is_not_a_store(org: Org, tmp_path: Path) -> None:
    (tmp_path / "presales.db").mkdir()
    message = _refused(org, org.config(tmp_path))
    assert f"store {tmp_path / 'presales.db'} is a directory" in message


# -- 3: an old store is copied aside before its migration --------------------------------------

def test_an_old_store_is_copied_aside_before_it_is_migrated(org: Org, tmp_path: Path) -> None:
    db = tmp_path / "presales.db"
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _db(db) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    proc = presales(org.config(tmp_path), "sync", extra_env=org.env)
    assert proc.returncode == 0, proc.stderr
    [copy] = tmp_path.glob("presales.db.bak-0002-*")
    assert f"copied to {copy} before migrating its schema from revision 0002 to 0005" in proc.stderr
    with _db(copy) as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar() == "0002"


# -- 6: one store, one CRM org -------------------------------------------------------------------

TASKS = sa.text("select opportunity_id, status, updated_at from tasks order by 1")


def test_a_second_crm_org_on_the_same_store_is_refused_and_the_first_keeps_its_tasks(
        org: Org, tmp_path: Path) -> None:
    (tmp_path / "sf").mkdir()
    salesforce = org.config(tmp_path / "sf")
    assert run_json(salesforce, "sync", extra_env=org.env)["exit_code"] == 0
    db = tmp_path / "sf" / "presales.db"
    with _db(db) as conn:
        tasks_before = conn.execute(TASKS).all()
    assert tasks_before and all(row.status != "Closed" for row in tasks_before)

    zoho = Org(org.sb, crm="zoho", token_cache=tmp_path / "zoho-token.json")
    (tmp_path / "zoho").mkdir()
    config = zoho.config(tmp_path / "zoho", store=f"sqlite:///{db}")
    message = _refused(zoho, config)
    assert f"store {db} belongs to profile 'default' (salesforce {org.sb.url.lower()}" in message
    assert "not to profile 'default' (zoho " in message and "a store of its own" in message
    with _db(db) as conn:
        assert conn.execute(TASKS).all() == tasks_before
    # the same org under another profile name shares the store
    again = presales(org.config(tmp_path / "sf", profile="nightly"), "sync", extra_env=org.env)
    assert again.returncode == 0, again.stderr


# -- 4: a disk that fills up mid-run ---------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB file system (tmpfs, mounted as root) to fill up."""
    # make test runs as root anyway (it installs PostgreSQL and Chromium with apt where missing)
    assert os.geteuid() == 0, "mounting a small file system needs root, as make test does"
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _fill(disk: Path, leave: int) -> Path:
    """Fill `disk` but `leave` bytes with a ballast file."""
    st = os.statvfs(disk)
    ballast = disk / "ballast"
    ballast.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return ballast


def test_a_full_disk_rolls_back_exits_3_and_the_next_run_finishes(
        org: Org, tmp_path: Path, small_disk: Path) -> None:
    db = small_disk / "presales.db"
    config = org.config(tmp_path, store=f"sqlite:///{db}", sync={"page_size": 200})
    ballast = _fill(small_disk, leave=800 * 1024)
    proc = presales(config, "sync", extra_env=org.env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"the disk of store {db} is full" in proc.stderr and "rolled back" in proc.stderr
    assert "the next run resumes" in proc.stderr and "Traceback" not in proc.stderr
    ballast.unlink()  # space freed
    with _db(db) as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("select count(*) from write_failures").scalar() == 0
        # the first page is kept, the second was rolled back whole; the run says how it ended
        assert conn.exec_driver_sql("select count(*) from cursors").scalar() == 1
        first_tasks = conn.exec_driver_sql("select count(*) from tasks").scalar()
        assert conn.exec_driver_sql("select exit_code from runs").scalar() == 3

    report = run_json(config, "sync", extra_env=org.env)
    assert report["exit_code"] == 0 and report["failures"] == []
    requested = {i for i, r in org.deals().items() if r["Presales_Requested__c"] and not r["IsClosed"]}
    with _db(db) as conn:
        tasks = {r[0] for r in conn.execute(sa.text("select opportunity_id from tasks"))}
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert requested <= tasks and first_tasks < len(tasks)  # one task each (unique opportunity_id)
    assert all(org.deals()[i]["Presales_Step__c"] for i in requested)
    quiet = run_json(config, "sync", extra_env=org.env)
    assert quiet["counts"].get("written", 0) == 0
