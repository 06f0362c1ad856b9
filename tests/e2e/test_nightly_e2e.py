"""What a nightly job meets, through the CLI against the sandbox over HTTPS: the API budget
stops a run (exit 1) and the next one resumes; a record whose value does not fit the mapping
is quarantined, listed by `presales status` and read again by `sync --retry-failed`."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import OPEN_REQUESTED, Org, presales, run_json, write_config

from presales_sync import mappings


def _usage(org: Org, used: int | None = None) -> dict[str, int]:
    url = f"{org.sb.url}/_sandbox/usage"
    resp = org.http().post(url, json={"used": used}, timeout=10) if used is not None else \
        org.http().get(url, timeout=10)
    resp.raise_for_status()
    return resp.json()


def test_the_api_budget_stops_the_run_and_the_next_run_resumes(fresh_org: Org, tmp_path: Path) -> None:
    total = _usage(fresh_org)["total"]
    _usage(fresh_org, int(0.8 * total) - 1)  # other integrations used almost 80 % today
    config = write_config(tmp_path, fresh_org.sb)
    stopped = presales(config, "--json", "sync", session_id=fresh_org.sb.session_id)
    assert stopped.returncode == 1, stopped.stderr
    report = json.loads(stopped.stdout)
    assert report["stopped"].startswith("API budget reached: the org has used")
    assert sum(report["api_calls"].values()) == 1 and report["counts"].get("written", 0) == 0
    assert all(r["Presales_Step__c"] is None for r in fresh_org.query(OPEN_REQUESTED))
    _usage(fresh_org, 0)  # a new day
    resumed = run_json(config, "sync", session_id=fresh_org.sb.session_id)
    assert resumed["exit_code"] == 0 and resumed["stopped"] is None
    assert all(r["Presales_Step__c"] == "Requirements" for r in fresh_org.query(OPEN_REQUESTED))


def test_a_bad_record_is_quarantined_listed_and_retried(fresh_org: Org, tmp_path: Path) -> None:
    text = mappings.default_mapping_path("salesforce").read_text(encoding="utf-8")
    strict = tmp_path / "mapping.yaml"
    whole = text.replace("{field: Amount, type: number, scale: 2}", "{field: Amount, type: integer}")
    strict.write_text(whole, encoding="utf-8")
    config = write_config(tmp_path, fresh_org.sb, mapping=str(strict))
    bad = fresh_org.query(OPEN_REQUESTED)[0]
    fresh_org.set_fields(bad["OwnerId"], bad["Id"], {"Amount": 1234.56})  # cents: not an integer
    first = presales(config, "--json", "sync", session_id=fresh_org.sb.session_id)
    assert first.returncode == 1
    report = json.loads(first.stdout)
    assert [(f["record_id"], f["error_code"]) for f in report["failures"]] == [(bad["Id"], "BAD_VALUE")]
    assert "Amount" in report["failures"][0]["message"]
    steps = {r["Id"]: r["Presales_Step__c"] for r in fresh_org.query(OPEN_REQUESTED)}
    assert steps.pop(bad["Id"]) is None and set(steps.values()) == {"Requirements"}  # the rest went on
    status = json.loads(presales(config, "--json", "status", session_id=fresh_org.sb.session_id).stdout)
    waiting = [(w["record_id"], w["error_code"]) for w in status["waiting_for_retry"]]
    assert waiting == [(bad["Id"], "BAD_VALUE")]
    human = presales(config, "status", session_id=fresh_org.sb.session_id)
    assert f"{bad['Id']}: BAD_VALUE" in human.stdout
    # the admin fixes the mapping; the quarantined record is read again by id
    strict.write_text(text, encoding="utf-8")
    retried = run_json(config, "sync", "--retry-failed", session_id=fresh_org.sb.session_id)
    assert retried["exit_code"] == 0 and retried["counts"]["retried"] == 1
    steps = {r["Id"]: r["Presales_Step__c"] for r in fresh_org.query(OPEN_REQUESTED)}
    assert steps[bad["Id"]] == "Requirements"
    after = json.loads(presales(config, "--json", "status", session_id=fresh_org.sb.session_id).stdout)
    assert after["waiting_for_retry"] == []
