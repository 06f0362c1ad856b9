"""`kpi:` and `report:` in presales.yaml: the KPI file is validated at load with its file,
line and key; the defaults apply when the keys are absent."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from presales_sync.mappings import FileProblems
from presales_sync.rules.kpi import KpiSettings
from presales_sync.sync import config as config_mod


def _write(tmp_path: Path, **extra: object) -> Path:
    roster = "engineers:\n  - {crm_user_id: 005A, name: A}\n"
    (tmp_path / "engineers.yaml").write_text(roster, encoding="utf-8")
    cfg: dict[str, object] = {"crm": {"kind": "salesforce", "instance_url": "https://x.my.salesforce.com"},
                              **extra}
    path = tmp_path / "presales.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_defaults_without_the_keys(tmp_path: Path) -> None:
    loaded = config_mod.load(_write(tmp_path))
    assert loaded.kpi == KpiSettings() and loaded.config.report.language == "zh"


def test_an_admins_kpi_file_is_used(tmp_path: Path) -> None:
    text = config_mod.default_kpi_path().read_text(encoding="utf-8")
    text = text.replace("contribution: 40", "contribution: 50")
    text = text.replace("learning: 10 ", "learning: 0  ")
    (tmp_path / "kpi.yaml").write_text(text, encoding="utf-8")
    loaded = config_mod.load(_write(tmp_path, kpi="kpi.yaml", report={"language": "en"}))
    assert loaded.kpi.weights["contribution"] == 50 and loaded.config.report.language == "en"


def test_weights_not_summing_to_100_name_the_file_and_line(tmp_path: Path) -> None:
    text = config_mod.default_kpi_path().read_text(encoding="utf-8")
    text = text.replace("contribution: 40", "contribution: 45")
    (tmp_path / "kpi.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(FileProblems) as err:
        config_mod.load(_write(tmp_path, kpi="kpi.yaml"))
    (problem,) = err.value.problems
    assert problem.file.endswith("kpi.yaml") and "sum to 100" in problem.message and "105" in problem.message
    assert problem.line is not None


def test_unknown_report_language_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileProblems) as err:
        config_mod.load(_write(tmp_path, report={"language": "fr"}))
    assert "report.language" in str(err.value)
