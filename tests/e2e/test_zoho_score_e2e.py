"""`presales score` on Zoho: the engineers' KPI fields go through the Users API
(``PUT /crm/v8/users``) under Zoho's names, once; a second run writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from e2e_support import Org, presales, run_json

from presales_sync.rules.kpi import Period

PERIOD = Period.containing(datetime.now(UTC).date()).label


def test_zoho_score_writes_the_users_kpi_fields_once(org: Org, tmp_path: Path) -> None:
    zoho = Org(org.sb, crm="zoho")
    config = zoho.config(tmp_path)
    installed = presales(config, "install", extra_env=zoho.env)  # the rating values of our bands
    assert installed.returncode == 0, installed.stderr
    assert run_json(config, "sync", extra_env=zoho.env)["exit_code"] == 0
    zoho.reset_stats()
    first = run_json(config, "score", "--period", PERIOD, extra_env=zoho.env)
    assert first["exit_code"] == 0, first
    cards = {c["engineer_id"]: c for c in first["scorecards"]}
    assert cards and org.stats().get("zoho_users_put", 0) == 1
    resp = zoho.zoho_http().get(f"{org.sb.zoho_api_domain}/crm/v8/users", params={"type": "AllUsers"},
                                timeout=30)
    users = {u["id"]: u for u in resp.json()["users"]}
    for engineer, card in cards.items():
        assert users[engineer]["Presales_KPI_Score"] == card["score"]
        assert users[engineer]["Presales_Rating"] == card["final_band"]
        assert users[engineer]["Presales_KPI_Period"] == PERIOD
    zoho.reset_stats()
    again = run_json(config, "score", "--period", PERIOD, extra_env=zoho.env)
    assert again["exit_code"] == 0 and org.stats().get("zoho_users_put", 0) == 0
