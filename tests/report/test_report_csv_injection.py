"""CSV exports do not carry spreadsheet formulas: text cells starting with `=`, `+`, `-`, `@`,
a tab or a carriage return get a leading single quote (OWASP, CSV injection); numbers,
negative ones too, are written as numbers. Read back with the csv module."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from report_fixture import ENGINEERS, write_org

from presales_sync.sync.report import Report, write_csv
from presales_sync.sync.report._csv import safe_cell

PRESALES = str(Path(sys.executable).parent / "presales")
HOSTILE = ["+cmd|' /C calc'!A0", "@SUM(1+1)", "=1+1"]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_safe_cell_quotes_formula_text_only() -> None:
    for text in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", "+cmd|' /C calc'!A0"):
        assert safe_cell(text) == "'" + text
    for value in ("Li Wei", "a=b", "", -1.5, -3, 0, None, True):
        assert safe_cell(value) == value


def test_report_csv_neutralises_names_and_titles_but_keeps_negative_numbers(tmp_path: Path) -> None:
    metric = {"metric": "win_rate", "dimension": "results", "value": -0.25, "target": 0.5, "floor": -1,
              "score": -1.5, "sources": ["=HYPERLINK(\"https://evil.example\",\"Deal\")", "006X1"]}
    cards = [{"engineer_id": "-005E1", "engineer": name, "score": -1.5, "band": "C", "calibrated_band": None,
              "final_band": "@C", "dimensions": {"results": -1.5}, "metrics": [metric]}
             for name in [*HOSTILE, "\tTabbed", "\rReturned"]]
    report = Report(period="2026Q4", generated_at="now", language="en", scorecards=cards,
                    sla=[{"engineer_id": "005E1", "engineer": "=1+1", "due": 2, "on_time": 1, "rate": 0.5}],
                    sla_team={}, response_trend=[],
                    funnel=[{"step": "-Requirements", "tasks": 3, "share": 1.0}])
    write_csv(report, tmp_path)
    board = _read(tmp_path / "leaderboard.csv")
    assert [r["engineer"] for r in board] == ["'" + n for n in [*HOSTILE, "\tTabbed", "\rReturned"]]
    assert {r["engineer_id"] for r in board} == {"'-005E1"} and {r["final_band"] for r in board} == {"'@C"}
    assert {r["score"] for r in board} == {"-1.5"} and {r["results_score"] for r in board} == {"-1.5"}
    metrics = _read(tmp_path / "metrics.csv")
    assert metrics[0]["sources"].startswith("'=HYPERLINK(")
    assert (metrics[0]["value"], metrics[0]["floor"], metrics[0]["score"]) == ("-0.25", "-1", "-1.5")
    assert _read(tmp_path / "sla.csv")[0]["engineer"] == "'=1+1"
    assert _read(tmp_path / "funnel.csv")[0]["step"] == "'-Requirements"
    raw = (tmp_path / "leaderboard.csv").read_text(encoding="utf-8-sig")
    assert ",-1.5," in raw and "\n=" not in raw and ",=" not in raw and ",+" not in raw and ",@" not in raw


@pytest.mark.slow  # starts the CLI (tests/fast_lane.py)
def test_presales_report_csv_writes_hostile_roster_names_as_text(tmp_path: Path) -> None:
    config = write_org(tmp_path)
    roster = {"engineers": [{"crm_user_id": i, "name": HOSTILE[n], "level": lvl, "reviewer": r}
                            for n, (i, _, lvl, r) in enumerate(ENGINEERS)], "managers": ["005M"]}
    (tmp_path / "engineers.yaml").write_text(yaml.safe_dump(roster), encoding="utf-8")
    proc = subprocess.run([PRESALES, "--config", str(config), "report", "--period", "2026Q4", "--csv", "out"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    board = _read(tmp_path / "out" / "leaderboard.csv")
    assert sorted(r["engineer"] for r in board) == sorted("'" + n for n in HOSTILE)
    assert all(float(r["score"]) >= 0 for r in board)  # numbers still read as numbers
    assert {r["engineer"] for r in _read(tmp_path / "out" / "sla.csv")} <= {"'" + n for n in HOSTILE}
