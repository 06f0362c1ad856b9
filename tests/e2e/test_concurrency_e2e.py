"""Two `presales sync` of the same profile at once, on SQLite and on PostgreSQL: one runs, the
other exits 4 naming the holder; a run killed with SIGKILL leaves its lock behind, and the
next run takes it over (the holder's pid is gone) and finishes the job."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa
from e2e_support import PRESALES, Org, presales, write_config

from presales_sync.sandbox import parse_spec


def _start(config: Path, session_id: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESALES_SF_")}
    env["PRESALES_SF_SESSION_ID"] = session_id
    return subprocess.Popen([PRESALES, "--config", str(config), "sync"], env=env, cwd=config.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(url: str, sql: str, expected: object, timeout: float = 60) -> None:
    """Poll the store until `sql` returns `expected` (the run under test got that far)."""
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                with engine.begin() as conn:
                    if conn.execute(sa.text(sql)).scalar() == expected:
                        return
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                pass  # the run is still creating the schema
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError(f"{sql} never gave {expected}")


def _url(config: Path, store_url: str) -> str:
    return store_url if store_url.startswith("postgresql") else f"sqlite:///{config.parent / 'store.db'}"


def test_a_second_sync_exits_4_and_a_killed_run_s_lock_is_taken_over(org: Org, tmp_path: Path,
                                                                     store_url: str) -> None:
    config = write_config(tmp_path, org.sb, store=store_url)
    url = _url(config, store_url)
    sid = org.sb.session_id
    # the first run is slow to read (the CRM answers after 6 s), so the two overlap
    org.sb.faults.set(parse_spec("latency@query:seconds=6"))
    try:
        first = _start(config, sid)
        _wait_for(url, "select pid from run_locks", first.pid)
        second = presales(config, "sync", session_id=sid)
        assert second.returncode == 4, second.stderr
        assert (f"another run (pid {first.pid} on {socket.gethostname()}) holds the lock"
                in second.stderr) and "not starting a second run" in second.stderr
        assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""

        org.sb.faults.set(parse_spec("latency@query:seconds=3"))
        killed = _start(config, sid)
        _wait_for(url, "select pid from run_locks", killed.pid)
        _wait_for(url, "select count(*) from runs where exit_code is null", 1)  # mid-run
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=30) == -signal.SIGKILL
    finally:
        org.sb.faults.clear()
    after = presales(config, "-v", "sync", session_id=sid)
    assert after.returncode == 0, after.stderr
    assert f"taking over the run lock of default: pid {killed.pid}" in after.stderr
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        assert conn.execute(sa.text("select count(*) from run_locks")).scalar_one() == 0
        runs = conn.execute(sa.text("select exit_code from runs order by id")).scalars().all()
    engine.dispose()
    # the killed run never finished its record; the second (exit 4) never started one
    assert runs == [0, None, 0]
