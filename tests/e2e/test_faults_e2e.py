"""The fault matrix, Salesforce side: `presales sync` (the real CLI, the real connector over
HTTPS) against the sandbox with one injected fault at a time, then a clean run. For each
fault: the exit code and message of the faulty run, and that after the clean run the CRM
fields equal the store's tasks, no task or event exists twice and no sign-off is lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from e2e_support import Org, jwt_settings, presales, write_config

from presales_sync.sandbox import parse_spec

FIELDS = "Id, Presales_Engineer__c, Presales_Step__c, Presales_Status__c"


@pytest.fixture
def faulty(org: Org) -> Iterator[Org]:
    """The module's org with the fault plan cleared after each test."""
    yield org
    org.sb.faults.clear()


def _sync(config: Path, *args: str, session_id: str | None = None,
          extra_env: dict[str, str] | None = None) -> tuple[int, dict[str, Any] | None, str]:
    proc = presales(config, "--json", "sync", *args, session_id=session_id, extra_env=extra_env)
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, report, proc.stderr


def _store(config: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{config.parent / 'presales.db'}")


def assert_consistent(org: Org, config: Path) -> dict[str, dict[str, Any]]:
    """After a clean run: every task's engineer/step/status is in the CRM, one task per
    opportunity, no event twice."""
    engine = _store(config)
    with engine.begin() as conn:
        tasks = {r.opportunity_id: r for r in conn.execute(sa.text(
            "select id, opportunity_id, engineer_id, step, status from tasks"))}
        twice = conn.execute(sa.text(
            "select task_id, kind, count(*) from task_events where kind in ('created', 'closed') "
            "group by task_id, kind having count(*) > 1")).all()
        same_seq = conn.execute(sa.text(
            "select task_id, seq from task_events group by task_id, seq having count(*) > 1")).all()
        waiting = conn.execute(sa.text("select count(*) from write_failures")).scalar_one()
    engine.dispose()
    assert tasks, "the org asks for presales: the run created tasks"
    assert twice == [] and same_seq == [] and waiting == 0
    crm = {r["Id"]: r for r in org.query(f"SELECT {FIELDS} FROM Opportunity WHERE Presales_Step__c != null")}
    assert set(crm) == set(tasks)
    for opp_id, t in tasks.items():
        rec = crm[opp_id]
        assert (rec["Presales_Engineer__c"], rec["Presales_Step__c"], rec["Presales_Status__c"]) == (
            t.engineer_id, t.step, t.status), opp_id
    return crm


def _tamper(org: Org, n: int = 3) -> list[str]:
    """Overwrite a plugin field by hand on `n` requested opportunities, so that the next run
    has these records to write whatever earlier tests left in the org."""
    targets = [r["Id"] for r in org.query(
        "SELECT Id FROM Opportunity WHERE Presales_Requested__c = true AND IsClosed = false ORDER BY Id")[:n]]
    for target in targets:
        resp = org.http().patch(f"{org.sb.url}/services/data/v66.0/sobjects/Opportunity/{target}",
                                json={"Presales_Message__c": "overwritten by hand"}, timeout=30)
        assert resp.status_code == 204
    return sorted(targets)


def _fault(org: Org, spec: str) -> None:
    org.sb.faults.set(parse_spec(spec))


def _faulty_run(org: Org, tmp_path: Path, spec: str, *, session_id: str | None = None,
                extra_env: dict[str, str] | None = None,
                **config: Any) -> tuple[Path, int, dict[str, Any] | None, str]:
    """Records to write, the fault plan `spec`, stats reset, one `presales --json sync`."""
    path = write_config(tmp_path, org.sb, **config)
    _tamper(org)
    _fault(org, spec)
    org.reset_stats()
    if session_id is None and extra_env is None:
        session_id = org.sb.session_id
    return (path, *_sync(path, session_id=session_id, extra_env=extra_env))


def _fired(org: Org) -> list[int]:
    return [r["fired"] for r in org.sb.faults.describe()]


def test_rate_limit_stops_the_run_with_exit_3_and_the_next_run_resumes(faulty: Org, tmp_path: Path) -> None:
    org = faulty
    config, code, report, err = _faulty_run(org, tmp_path, "rate_limit@composite_sobjects:times=0")
    assert code == 3 and report is None
    assert "REQUEST_LIMIT_EXCEEDED" in err and "could not be reached or refused" in err
    assert org.stats()["composite_sobjects"] == 1  # never retried: the allowance is shared
    status = json.loads(presales(config, "--json", "status").stdout)
    assert status["runs"][0]["exit_code"] == 3 and "REQUEST_LIMIT_EXCEEDED" in status["runs"][0]["error"]
    assert status["tasks"] > 0 and status["cursors"]  # what was read is committed

    org.sb.faults.clear()
    code, report, _ = _sync(config, session_id=org.sb.session_id)
    assert code == 0 and report is not None and report["counts"]["written"] > 0
    assert report["counts"].get("tasks_created", 0) == 0  # resumed, not redone
    assert_consistent(org, config)


def test_a_burst_of_503_is_retried_inside_the_run(faulty: Org, tmp_path: Path) -> None:
    org = faulty
    config, code, _, err = _faulty_run(
        org, tmp_path, "server_error@query:status=503,times=2;"
        "server_error@composite_sobjects:status=500,times=1")
    assert code == 0, err
    assert _fired(org) == [2, 1]
    # two refused, then the four a store's first run makes: the org's marker (read, then the
    # lookup before setting it), the action records, the deals
    assert org.stats()["query"] == 2 + 4 and org.stats()["composite_sobjects"] >= 2
    assert_consistent(org, config)


def test_503_longer_than_the_retries_is_exit_3_then_resumed(faulty: Org, tmp_path: Path) -> None:
    org = faulty
    config, code, _, err = _faulty_run(org, tmp_path, "server_error@query:status=503,times=0")
    assert code == 3 and "HTTP 503" in err
    assert org.sb.faults.describe()[0]["fired"] == 5  # max_retries attempts, then give up
    org.sb.faults.clear()
    code, _, err = _sync(config, session_id=org.sb.session_id)
    assert code == 0, err
    assert_consistent(org, config)


def test_session_expiring_mid_run_session_auth_exit_3_naming_the_variable(faulty: Org,
                                                                          tmp_path: Path) -> None:
    org = faulty
    old = org.sb.session_id
    config, code, _, err = _faulty_run(org, tmp_path, "session_expired@composite_sobjects")
    assert code == 3 and "PRESALES_SF_SESSION_ID" in err and old not in err
    new = org.sb.session_id  # the admin's new session
    assert new != old
    code, report, err = _sync(config, session_id=new)
    assert code == 0 and report is not None and report["counts"]["written"] > 0, err
    assert_consistent(org, config)


def test_session_expiring_mid_run_jwt_logs_in_again(faulty: Org, tmp_path: Path) -> None:
    org = faulty
    crm, env = jwt_settings(org.sb)
    config, code, report, err = _faulty_run(org, tmp_path, "session_expired@composite_sobjects",
                                            extra_env=env, crm=crm)
    assert code == 0, err
    assert org.stats()["oauth_token"] == 2  # the first login and one re-login
    assert report is not None and report["counts"]["written"] > 0
    assert_consistent(org, config)


def _locked_run(org: Org, tmp_path: Path, times: int) -> tuple[Path, list[str], int, dict[str, Any] | None,
                                                                 str]:
    """Two records to write that are row-locked `times` times when the run writes them."""
    config = write_config(tmp_path, org.sb)
    targets = _tamper(org, 2)
    _fault(org, f"lock_row:records={'|'.join(targets)},times={times}")
    code, report, err = _sync(config, session_id=org.sb.session_id)
    return config, targets, code, report, err


def test_a_row_lock_once_is_retried_by_the_connector(faulty: Org, tmp_path: Path) -> None:
    config, _, code, report, err = _locked_run(faulty, tmp_path, times=1)
    assert code == 0 and report is not None and report["failures"] == [], err
    assert _fired(faulty) == [1]
    assert_consistent(faulty, config)


def test_a_row_lock_that_persists_fails_the_record_and_the_next_run_writes_it(faulty: Org,
                                                                               tmp_path: Path) -> None:
    org = faulty
    config, targets, code, report, err = _locked_run(org, tmp_path, times=2)
    assert code == 1 and report is not None
    assert sorted(f["record_id"] for f in report["failures"]) == targets
    assert {f["error_code"] for f in report["failures"]} == {"UNABLE_TO_LOCK_ROW"}
    waiting = json.loads(presales(config, "--json", "status").stdout)["waiting_for_retry"]
    assert sorted(w["record_id"] for w in waiting) == targets
    org.sb.faults.clear()
    org.reset_stats()
    code, report, err = _sync(config, session_id=org.sb.session_id)
    assert code == 0 and report is not None, err
    assert report["counts"]["written"] == 2  # exactly the two that were locked
    assert org.stats()["composite_sobjects"] == 1
    assert_consistent(org, config)


def test_latency_beyond_the_timeout_is_retried(faulty: Org, tmp_path: Path) -> None:
    org = faulty
    crm = {"kind": "salesforce", "instance_url": org.sb.url, "api_version": "66.0",
           "auth": {"method": "session"}, "ca_bundle": str(org.sb.ca_file), "timeout_seconds": 1}
    started = time.monotonic()
    config, code, _, err = _faulty_run(
        org, tmp_path, "latency@query:seconds=2.5,times=1;latency@composite_sobjects:seconds=0.3,times=0",
        crm=crm)
    assert code == 0, err
    assert time.monotonic() - started > 1  # it did wait for the timeout
    assert org.stats()["query"] >= 2  # the timed-out query was sent again
    assert_consistent(org, config)


def test_a_lost_response_is_resent_and_nothing_is_duplicated(faulty: Org, tmp_path: Path) -> None:
    org = faulty
    config, code, report, err = _faulty_run(org, tmp_path, "lost_response@composite_sobjects:times=1")
    assert code == 0 and report is not None, err
    assert _fired(org) == [1] and org.stats()["composite_sobjects"] >= 2  # the PATCH was sent again
    crm = assert_consistent(org, config)
    org.reset_stats()
    code, report, _ = _sync(config, session_id=org.sb.session_id)
    assert code == 0 and report is not None and report["counts"].get("written", 0) == 0
    assert org.stats().get("composite_sobjects", 0) == 0
    assert assert_consistent(org, config) == crm


def test_every_response_lost_ends_the_run_and_the_next_run_does_not_redo_anything(faulty: Org,
                                                                                  tmp_path: Path) -> None:
    org = faulty
    config, code, _, err = _faulty_run(org, tmp_path, "lost_response@composite_sobjects:times=0")
    assert code == 3 and "composite_sobjects" in err
    org.sb.faults.clear()
    code, report, err = _sync(config, session_id=org.sb.session_id)
    assert code == 0 and report is not None, err
    assert report["counts"].get("tasks_created", 0) == 0 and report["counts"].get("assigned", 0) == 0
    assert_consistent(org, config)
