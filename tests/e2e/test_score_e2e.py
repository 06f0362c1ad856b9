"""`presales score` and `presales activities import` through the CLI against the sandbox:
the work done in the CRM (sign-offs, reviews, closed deals with satisfaction) and the
imported activities become scorecards written to the engineers' User records; a second run
writes nothing; a bad activities file is refused whole."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from e2e_support import Org, presales, run_json, write_config, write_rules

from presales_sync.rules.kpi import Period

# the quarter of today in the config's time zone (where the synced events fall)
PERIOD = Period.containing(datetime.now(ZoneInfo("Asia/Shanghai")).date()).label
USER_KPI = "SELECT Id, Presales_KPI_Score__c, Presales_Rating__c, Presales_KPI_Period__c FROM User"


def _sync(org: Org, config: Path) -> dict:
    report = run_json(config, "sync", session_id=org.sb.session_id)
    assert report["exit_code"] == 0, report["failures"]
    return report


def _command(org: Org, tasks: dict[str, str], value: str, ids: list[str]) -> None:
    for opp in ids:
        org.act(tasks[opp], opp, value)


@pytest.fixture(scope="module")
def worked(org: Org, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """Four tasks walked through the workflow in the CRM: two reviewed pass first time, one
    sent back (rework) then passed; three deals closed (two won) with satisfaction."""
    tmp = tmp_path_factory.mktemp("score")
    config = write_config(tmp, org.sb, rules=str(write_rules(tmp, assignment={
        "account_owner": False, "level_gates": [], "industry_match": "off"})))
    # the reps ask today (the seeded flags carry the seed's older stamps: the request's time
    # is the CRM's, and the quarter's work should all fall in this quarter)
    for r in org.query("SELECT Id, OwnerId FROM Opportunity WHERE Presales_Requested__c = true"):
        org.set_fields(r["OwnerId"], r["Id"], {"Presales_Requested__c": True})
    _sync(org, config)
    rows = org.query("SELECT Id, Presales_Engineer__c, OwnerId FROM Opportunity "
                     "WHERE Presales_Requested__c = true AND IsClosed = false ORDER BY Id")
    roster = {e["crm_user_id"]: e for e in org.roster()}
    juniors = [r for r in rows if not roster[r["Presales_Engineer__c"]]["reviewer"]]
    picked = {r["Id"]: r["Presales_Engineer__c"] for r in juniors[:4]}
    owner = {r["Id"]: r["OwnerId"] for r in rows}
    ids = list(picked)
    reviewer = next(e for e, r in roster.items() if r["reviewer"] and r["active"])
    reviewers = dict.fromkeys(ids, reviewer)
    for _ in range(2):  # Requirements -> Solution Design -> Internal Review
        _command(org, picked, "Sign Off", ids)
        _sync(org, config)
    _command(org, reviewers, "Review Pass", [ids[0], ids[2], ids[3]])
    _command(org, reviewers, "Review Rework", [ids[1]])
    _sync(org, config)
    _command(org, picked, "Sign Off", [ids[1]])
    _sync(org, config)
    _command(org, reviewers, "Review Pass", [ids[1]])
    _sync(org, config)
    for opp, stage, sat, recognised in ((ids[0], "Closed Won", 5.0, True), (ids[1], "Closed Won", 4.0, False),
                                        (ids[2], "Closed Lost", 3.0, False)):
        org.set_fields(owner[opp], opp, {"StageName": stage, "Presales_Satisfaction__c": sat,
                                         "Presales_Recognition__c": recognised})
    _sync(org, config)
    return config, picked, reviewer


def test_activities_import_refuses_bad_rows_whole_then_imports_once(org: Org, worked: tuple) -> None:
    config, picked, _ = worked
    engineer = next(iter(picked.values()))
    name = next(e["name"] for e in org.roster() if e["crm_user_id"] == engineer)
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    bad = config.parent / "bad.csv"
    bad.write_text("engineer,date,kind,title,evidence\n"
                   f"{engineer},{day},document,Good row,https://kb.example/1\n"
                   f"Nobody,{day},document,x,\n"
                   f"{engineer},2026-13-01,webinar,,ftp://x\n", encoding="utf-8")
    proc = presales(config, "activities", "import", str(bad))
    assert proc.returncode == 2
    for expected in ("bad.csv:3: column engineer: 'Nobody'", "bad.csv:4: column date",
                     "bad.csv:4: column kind", "bad.csv:4: column title", "bad.csv:4: column evidence"):
        assert expected in proc.stderr, proc.stderr
    good = config.parent / "activities.csv"
    good.write_text("engineer,date,kind,title,evidence\n"
                    f"{engineer},{day},document,Bank DR solution template,https://kb.example/1\n"
                    f"{name},{day},training,Gave K8s training,\n"
                    f"{engineer},{day},certification,CKA,https://cert.example/cka\n", encoding="utf-8")
    first = json.loads(presales(config, "--json", "activities", "import", str(good)).stdout)
    assert first == {"rows": 3, "added": 3, "already_present": 0}  # the bad file left nothing behind
    again = json.loads(presales(config, "--json", "activities", "import", str(good)).stdout)
    assert again == {"rows": 3, "added": 0, "already_present": 3}


def test_score_writes_user_fields_once(org: Org, worked: tuple) -> None:
    config, picked, _reviewer = worked
    bad = presales(config, "score", "--period", "2026Q5")
    assert bad.returncode == 2 and "2026Q4" in bad.stderr

    dry = run_json(config, "score", "--period", PERIOD, "--dry-run", session_id=org.sb.session_id)
    assert dry["dry_run"] and dry["written"] == 0 and dry["changes"]
    assert all(u["Presales_KPI_Score__c"] is None for u in org.query(USER_KPI))

    org.reset_stats()
    report = run_json(config, "score", "--period", PERIOD, session_id=org.sb.session_id)
    assert report["exit_code"] == 0
    cards = {c["engineer_id"]: c for c in report["scorecards"]}
    active = {e["crm_user_id"] for e in org.roster() if e["active"]}
    assert set(cards) == active and report["written"] == len(active)
    assert org.stats().get("composite_sobjects", 0) == 1  # all users in one collection call

    # the facts behind the metrics: the rework task's engineer has a first-pass miss and a rework
    ids = list(picked)
    reworked = cards[picked[ids[1]]]
    metrics = {m["metric"]: m for m in reworked["metrics"]}
    assert ids[1] in metrics["first_pass_rate"]["sources"] and metrics["rework_count"]["value"] >= 1
    winner = {m["metric"]: m for m in cards[picked[ids[0]]]["metrics"]}
    assert ids[0] in winner["win_rate"]["sources"] and winner["recognition"]["value"] >= 1
    assert winner["satisfaction"]["value"] is not None
    documents = {m["metric"]: m for m in cards[picked[ids[0]]]["metrics"]}["documents"]
    assert documents["value"] == 1 and "Bank DR solution template" in documents["sources"][0]

    users = {u["Id"]: u for u in org.query(USER_KPI)}
    for engineer, card in cards.items():
        u = users[engineer]
        assert u["Presales_KPI_Score__c"] == card["score"]
        assert u["Presales_Rating__c"] == card["final_band"] in ("优秀", "良好", "合格", "不合格")
        assert u["Presales_KPI_Period__c"] == PERIOD

    org.reset_stats()
    again = run_json(config, "score", "--period", PERIOD, session_id=org.sb.session_id)
    assert again["written"] == 0 and again["changes"] == []
    assert org.stats().get("composite_sobjects", 0) == 0

    # a manager's calibration changes the rating only, and is kept beside the computed band
    target = ids[1]
    engineer = picked[target]
    calibrated = run_json(config, "score", "--period", PERIOD, "--calibrate", f"{engineer}=优秀",
                          "--note", "calibration meeting", session_id=org.sb.session_id)
    card = next(c for c in calibrated["scorecards"] if c["engineer_id"] == engineer)
    assert card["final_band"] == "优秀" and card["band"] == cards[engineer]["band"]
    assert [(c["field"], c["new"]) for c in calibrated["changes"]] == [("Presales_Rating__c", "优秀")]
    assert {u["Id"]: u for u in org.query(USER_KPI)}[engineer]["Presales_Rating__c"] == "优秀"

    # the year, built on its quarters (here the one quarter with work): a dry run shows it
    year = run_json(config, "score", "--period", PERIOD[:4], "--dry-run", session_id=org.sb.session_id)
    annual = next(c for c in year["scorecards"] if c["engineer_id"] == engineer)
    assert annual["quarters"] == {PERIOD: cards[engineer]["score"]}
    assert annual["score"] == cards[engineer]["score"]
    assert annual["band"] in ("卓越", "优秀", "良好", "合格", "不合格") and annual["metrics"] == []
    assert all(c["field"] != "Presales_KPI_Period__c" or c["new"] == PERIOD[:4] for c in year["changes"])


def test_report_over_the_synced_store(org: Org, worked: tuple) -> None:
    config, picked, _ = worked
    proc = presales(config, "--json", "report", "--period", PERIOD, "--html", "team.html", "--csv", "tables")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    html = (config.parent / "team.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 5 and 'id="leaderboard"' in html
    for engineer in set(picked.values()):
        name = next(e["name"] for e in org.roster() if e["crm_user_id"] == engineer)
        assert name in html
    funnel = {f["step"]: f["tasks"] for f in data["funnel"]}
    assert funnel["Internal Review"] >= 4 and funnel["Presentation"] >= 3
    assert sorted(p.name for p in (config.parent / "tables").iterdir()) == [
        "funnel.csv", "leaderboard.csv", "metrics.csv", "response_trend.csv", "sla.csv"]
