"""The scheduler files under deploy/ are valid for their tool and run a command line the CLI
accepts: `systemd-analyze verify` on the unit pair (INI parse where systemd is absent), a YAML
parse and shape check of the CronJob, a field check of the crontab line."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

# Every test here starts the `presales` command (tests/fast_lane.py)
pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PRESALES = str(Path(sys.executable).parent / "presales")
COMMAND = ["--config", "/etc/presales/presales.yaml", "--log-format", "json", "sync"]


def _run(argv: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI with `argv`, the config path swapped for one that does not exist."""
    argv = [str(tmp / "missing.yaml") if a == "/etc/presales/presales.yaml" else a for a in argv]
    return subprocess.run([PRESALES, *argv], capture_output=True, text=True, timeout=60, check=False)


def _accepted(argv: list[str], tmp: Path) -> None:
    """The arguments parse: the run gets as far as reading the config (exit 2, file not
    found, reported as one JSON log line), not a usage error."""
    proc = _run(argv, tmp)
    assert proc.returncode == 2 and "Usage:" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.splitlines()
    item = json.loads(line)
    assert item["level"] == "error" and "missing.yaml" in item["message"]
    assert "file not found" in item["message"]


def test_cli_argument_check_can_fail(tmp_path: Path) -> None:
    for argv in (["--log-format", "xml", "sync"], ["sync", "--no-such-option"]):
        proc = _run(argv, tmp_path)
        assert proc.returncode == 2 and "Usage:" in proc.stderr


def _verify(units: list[Path]) -> str:
    proc = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True,
                          timeout=60, check=False)
    return f"rc={proc.returncode} {proc.stdout}{proc.stderr}".strip()


def _systemd_copy(tmp_path: Path) -> list[Path]:
    """The unit pair, with ExecStart pointing at this venv's `presales` (verify checks it exists)."""
    out = []
    for name in ("presales-sync.service", "presales-sync.timer"):
        text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
        path = tmp_path / name
        path.write_text(text.replace("/opt/presales/bin/presales", PRESALES), encoding="utf-8")
        out.append(path)
    return out


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_systemd_units(tmp_path: Path) -> None:
    units = _systemd_copy(tmp_path)
    if shutil.which("systemd-analyze"):
        assert _verify(units) == "rc=0"  # no warning either: unknown keys only warn
        bad = tmp_path / "bad.service"
        bad.write_text("[Service]\nExecStartt=/bin/true\n", encoding="utf-8")
        assert "Unknown key" in _verify([bad])
    service, timer = (_ini(u) for u in units)
    assert service["Service"]["Type"] == "oneshot"
    assert set(service["Service"]["SuccessExitStatus"].split()) == {"4"}
    assert set(service["Service"]["RestartPreventExitStatus"].split()) == {"1", "2"}
    assert timer["Timer"]["Unit"] == "presales-sync.service" and timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    argv = shlex.split(service["Service"]["ExecStart"])
    assert argv[0] == PRESALES and argv[1:] == COMMAND
    _accepted(argv[1:], tmp_path)


def _cron_field_ok(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not step.isdigit():
            return False
        if base == "*":
            continue
        lo, _, hi = base.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return False
        if not all(low <= int(v) <= high for v in (lo, hi or lo)):
            return False
    return True


def _cron_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#") and not re.match(r"^\w+=", line)]


def test_crontab_line(tmp_path: Path) -> None:
    lines = _cron_lines((DEPLOY / "crontab").read_text(encoding="utf-8"))
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
    assert all(_cron_field_ok(f, lo, hi) for f, (lo, hi) in zip(fields[:5], ranges, strict=True))
    assert not _cron_field_ok("61", 0, 59) and not _cron_field_ok("x", 0, 59)
    command = fields[5]
    # the presales invocation: up to the output redirection
    argv = shlex.split(command.split("&&")[-1].split(">>")[0])
    assert argv[0].endswith("/presales") and argv[1:] == COMMAND
    _accepted(argv[1:], tmp_path)
    assert "2>&1" in command  # stderr (the JSON log lines) goes to the log file too


def test_kubernetes_cronjob(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob.yaml").read_text(encoding="utf-8")))
    assert len(docs) == 1
    job: dict[str, Any] = docs[0]
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
    spec = job["spec"]
    assert len(spec["schedule"].split()) == 5 and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"  # required by podFailurePolicy
    (container,) = pod["containers"]
    assert container["args"] == COMMAND
    _accepted(container["args"], tmp_path)
    rules = spec["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    fail_now = next(r for r in rules if r["action"] == "FailJob")["onExitCodes"]
    assert fail_now["containerName"] == container["name"] and sorted(fail_now["values"]) == [1, 2, 4]
    # secrets only through the environment, from a Secret
    assert container["envFrom"] == [{"secretRef": {"name": "presales-crm"}}]
    assert "env" not in container
