"""Zoho through the CLI when the CRM misbehaves (the sandbox's fault plan, crm=zoho): 429 and
5xx bursts are backed off and the run completes; a revoked access token costs one refresh;
a row lock is a per-record failure retried by the next run; and no secret (client secret,
refresh token, any access token) reaches any output at any verbosity or log format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Org, presales

from presales_sync.sandbox import parse_spec


@pytest.fixture
def zoho(org: Org) -> Iterator[Org]:
    """The module's sandbox through Zoho, the fault plan cleared after each test."""
    yield Org(org.sb, crm="zoho")
    org.sb.faults.clear()


def _sync(zoho: Org, config: Path, *args: str, code: int = 0) -> dict:
    proc = presales(config, "--json", "sync", *args, extra_env=zoho.env)
    assert proc.returncode == code, proc.stderr
    return json.loads(proc.stdout)


def _tamper(zoho: Org, ids: list[str]) -> None:
    """A person overwrites a plugin field on these deals, so that a run has them to write back
    whatever earlier tests of the module left in the org (the request times are the CRM's: a
    new store computes the same deadlines a store before it wrote)."""
    deals = zoho.deals()
    for i in ids:
        zoho.edit(deals[i]["OwnerId"], i, {"Presales_Step__c": "Done"})


def test_throttling_and_server_errors_are_backed_off(zoho: Org, tmp_path: Path) -> None:
    config = zoho.config(tmp_path)
    zoho.sb.faults.set(parse_spec("rate_limit@zoho_records_get:crm=zoho,times=2;"
                                  "server_error@zoho_records_put:crm=zoho,status=500,times=1"))
    zoho.reset_stats()
    report = _sync(zoho, config)
    assert report["counts"]["tasks_created"] > 0 and report["counts"]["written"] > 0
    assert report["api_calls"]["get_records"] >= 3 and report["api_calls"]["update_records"] >= 2
    assert all(rule["fired"] == rule["times"] for rule in zoho.sb.faults.describe())


def test_a_revoked_token_costs_one_refresh(zoho: Org, tmp_path: Path) -> None:
    config = zoho.config(tmp_path)
    _sync(zoho, config)
    zoho.sb.faults.set(parse_spec("session_expired@zoho_records_get:crm=zoho"))
    zoho.reset_stats()
    report = _sync(zoho, config, "--full")
    assert report["exit_code"] == 0
    assert zoho.stats().get("zoho_token") == 1  # one refresh for the one failure


def test_a_locked_record_fails_alone_and_is_written_next_run(zoho: Org, tmp_path: Path) -> None:
    config = zoho.config(tmp_path, store="sqlite:///locked.db")
    requested = sorted(i for i, r in zoho.deals().items() if r["Presales_Requested__c"] and not r["IsClosed"])
    locked = requested[0]
    _tamper(zoho, requested[:3])
    zoho.sb.faults.set(parse_spec(f"lock_row:crm=zoho,records={locked},times=0"))
    first = _sync(zoho, config, code=1)
    assert [(f["record_id"], f["error_code"]) for f in first["failures"]] == [(locked, "RECORD_LOCKED")]
    assert first["counts"]["written"] > 0  # the rest of the batch went through
    waiting = json.loads(presales(config, "--json", "status", extra_env=zoho.env).stdout)["waiting_for_retry"]
    assert [w["record_id"] for w in waiting] == [locked]
    zoho.sb.faults.clear()
    second = _sync(zoho, config)
    assert second["counts"]["written"] >= 1 and second["failures"] == []
    status = json.loads(presales(config, "--json", "status", extra_env=zoho.env).stdout)
    assert status["waiting_for_retry"] == []


def test_secrets_appear_in_no_output(zoho: Org, tmp_path: Path) -> None:
    config = zoho.config(tmp_path)
    outputs: list[str] = []

    def run(*args: str, env: dict[str, str] | None = None, codes: tuple[int, ...] = (0,)) -> None:
        proc = presales(config, *args, extra_env={**zoho.env, **(env or {})})
        assert proc.returncode in codes, (args, proc.stderr)
        outputs.append(proc.stdout + proc.stderr)

    for fmt in ("text", "json"):
        run("-vv", "--log-format", fmt, "sync", codes=(0, 1))
        run("-vv", "--log-format", fmt, "--json", "sync", "--dry-run")
    run("-vv", "--json", "install", "--dry-run")
    run("--json", "mappings", "validate", codes=(0, 2))
    run("-vv", "--json", "score", "--period", "2026Q4", "--dry-run")
    zoho.sb.zoho_expire_tokens()  # a refresh mid-run, at full verbosity
    run("-vv", "--log-format", "json", "sync", "--full", codes=(0, 1))
    run("-vv", "sync", env={"PRESALES_ZOHO_REFRESH_TOKEN": "1000.wrong.DecoyRefresh"}, codes=(3,))
    run("-vv", "sync", env={"PRESALES_ZOHO_CLIENT_SECRET": "zcs-Decoy-wrong"}, codes=(3,))
    cache = json.loads((tmp_path / ".presales-zoho-token.json").read_text(encoding="utf-8"))
    minted = [entry["access_token"] for entry in cache.values() if entry.get("access_token")]
    secrets = [zoho.sb.zoho_client_secret, zoho.sb.zoho_refresh_token, "1000.wrong.DecoyRefresh",
               "zcs-Decoy-wrong", *minted]
    assert minted
    leaks = [(i, s) for i, text in enumerate(outputs) for s in secrets if s in text]
    assert leaks == []


def test_a_lost_response_is_resent_and_nothing_is_written_twice(zoho: Org, tmp_path: Path) -> None:
    config = zoho.config(tmp_path, store="sqlite:///lost.db")
    requested = sorted(i for i, r in zoho.deals().items() if r["Presales_Requested__c"] and not r["IsClosed"])
    _tamper(zoho, requested[:3])
    zoho.sb.faults.set(parse_spec("lost_response@zoho_records_put:crm=zoho,times=1"))
    zoho.reset_stats()
    first = _sync(zoho, config, "--full")
    assert first["exit_code"] == 0 and first["counts"]["written"] > 0
    assert zoho.stats()["zoho_records_put"] >= 2  # the PUT whose answer was lost went again
    zoho.sb.faults.clear()
    zoho.reset_stats()
    again = _sync(zoho, config)
    assert again["counts"].get("written", 0) == 0 and zoho.stats().get("zoho_records_put", 0) == 0


def test_latency_beyond_the_timeout_is_retried(zoho: Org, tmp_path: Path) -> None:
    from e2e_support import crm_settings

    crm = {**crm_settings(zoho.sb, "zoho"), "timeout_seconds": 1}
    if zoho.token_cache is not None:
        crm["token_cache"] = str(zoho.token_cache)
    config = zoho.config(tmp_path, crm=crm, store="sqlite:///slow.db")
    zoho.sb.faults.set(parse_spec("latency@zoho_records_get:crm=zoho,seconds=2.5,times=1"))
    zoho.reset_stats()
    report = _sync(zoho, config, "--full")
    assert report["exit_code"] == 0
    assert zoho.stats()["zoho_records_get"] >= 2  # the timed-out read was sent again
