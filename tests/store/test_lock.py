"""The run lock on SQLite and PostgreSQL: processes racing for it (one wins, the others are
told who holds it), a holder that is gone (dead pid, reused pid, a silent other host) is taken
over, a live one never is."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from presales_sync.sync.store import LockHeld, Store


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store.open(store_url)
    yield s
    s.close()


def _holder(store: Store) -> tuple[int, str, datetime]:
    with store.begin() as conn:
        row = conn.execute(sa.text("select pid, host, acquired_at from run_locks")).one()
    return row.pid, row.host, row.acquired_at


def _plant(store: Store, pid: int, host: str, at: datetime) -> None:
    with store.begin() as conn:
        conn.execute(sa.text("insert into run_locks (profile, pid, host, acquired_at) "
                             "values ('default', :pid, :host, :at)"), {"pid": pid, "host": host, "at": at})


def _race(url: str, start_at: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = Store.open(url)
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        store.acquire_lock("default")
        results.put(("won", os.getpid()))
        time.sleep(1.5)  # hold it while the others try
        store.release_lock("default")
    except LockHeld as err:
        results.put(("held", err.pid))
    finally:
        store.close()


@pytest.mark.slow  # spawns four processes: 6-10 s (tests/fast_lane.py)
def test_racing_processes_one_wins_the_others_are_told_who(store_url: str) -> None:
    Store.open(store_url).close()  # migrated before the race
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start_at = time.time() + 2.0
    procs = [ctx.Process(target=_race, args=(store_url, start_at, results)) for _ in range(4)]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    winners = [pid for what, pid in got if what == "won"]
    assert len(winners) == 1, got
    assert [pid for what, pid in got if what == "held"] == [winners[0]] * 3


def test_a_live_holder_keeps_the_lock_and_is_named(store: Store) -> None:
    store.acquire_lock("default")
    pid, host, _ = _holder(store)
    with pytest.raises(LockHeld) as err:
        store.acquire_lock("default")
    assert (err.value.pid, err.value.host) == (os.getpid(), socket.gethostname()) == (pid, host)
    assert f"pid {os.getpid()} on {socket.gethostname()}" in str(err.value)
    store.release_lock("default")
    store.acquire_lock("default")  # free again
    store.release_lock("default")


def test_a_killed_holder_on_this_host_is_taken_over(store: Store) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    _plant(store, proc.pid, socket.gethostname(), datetime.now(UTC))
    with pytest.raises(LockHeld):
        store.acquire_lock("default")  # alive: kept
    proc.kill()
    proc.wait()
    store.acquire_lock("default")
    assert _holder(store)[0] == os.getpid()


def test_a_reused_pid_does_not_keep_a_dead_run_s_lock(store: Store) -> None:
    # the lock was taken an hour ago by a process that died; its pid now belongs to a
    # process that started later (here: a fresh child)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        _plant(store, proc.pid, socket.gethostname(), datetime.now(UTC) - timedelta(hours=1))
        store.acquire_lock("default")
        assert _holder(store)[0] == os.getpid()
    finally:
        proc.kill()
        proc.wait()


def test_another_host_s_lock_is_kept_until_it_is_stale(store: Store) -> None:
    _plant(store, 1, "pod-elsewhere", datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(LockHeld) as err:
        store.acquire_lock("default")
    assert err.value.host == "pod-elsewhere"
    store.acquire_lock("default", stale_after=timedelta(minutes=30))
    assert _holder(store)[:2] == (os.getpid(), socket.gethostname())
