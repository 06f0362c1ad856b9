"""Hostile files through the CLI: each ends quickly with exit 2 and one clear line naming the
file, and nothing reaches the store or the CRM (the CRM URL is a closed port, the store file
is never created). Subprocesses run with a timeout and a memory cap, so a regression fails
the test instead of hanging it or exhausting the machine."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PRESALES = str(Path(sys.executable).parent / "presales")
CONFIG = 'crm: {kind: salesforce, instance_url: "https://127.0.0.1:9"}\nstore: sqlite:///presales.db\n'


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def presales(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRESALES_SF_SESSION_ID": "x" * 20}
    return subprocess.run([PRESALES, "--config", str(config), *args], capture_output=True, text=True,
                          cwd=config.parent, timeout=30, check=False, env=env, preexec_fn=_cap_memory)


def _org(tmp_path: Path, extra: str = "", *, config: str = CONFIG) -> Path:
    (tmp_path / "engineers.yaml").write_text("engineers:\n  - {crm_user_id: 005A, name: A}\n",
                                             encoding="utf-8")
    path = tmp_path / "presales.yaml"
    path.write_text(config + extra, encoding="utf-8")
    return path


def _refused(config: Path, *expected: str) -> str:
    started = time.monotonic()
    proc = presales(config, "sync")
    assert time.monotonic() - started < 20, "took too long"
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr
    assert not (config.parent / "presales.db").exists(), "the store was touched"
    return proc.stderr


def test_a_billion_laughs_config_ends_with_exit_2_naming_the_limit(tmp_path: Path) -> None:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    config = _org(tmp_path, config="\n".join(lines) + "\n" + CONFIG + "profile: *l8\n")
    _refused(config, f"{config}: (top level): YAML aliases", "PRESALES_MAX_YAML_ALIAS_NODES")


def test_a_fifo_as_the_mapping_is_not_opened_for_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "mapping.yaml")
    _refused(_org(tmp_path, "mapping: mapping.yaml\n"),
             f"{tmp_path / 'mapping.yaml'}: (top level): is a FIFO (named pipe), not a file")


def test_dev_zero_as_the_roster_is_refused_before_a_byte_is_read(tmp_path: Path) -> None:
    _refused(_org(tmp_path, "roster: /dev/zero\n"),
             "/dev/zero: (top level): is a character device, not a file")


def test_a_nested_comprehension_rule_is_a_config_error_before_the_crm(tmp_path: Path) -> None:
    inner = "1"
    for level in range(6):
        inner = f"[{inner} for x{level} in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]"
    (tmp_path / "rules.yaml").write_text(f"intake: 'requested and {inner}.length > 0'\n", encoding="utf-8")
    _refused(_org(tmp_path, "rules: rules.yaml\n"), f"{tmp_path / 'rules.yaml'}:1: intake: too costly",
             "PRESALES_MAX_RULE_NESTING")


def test_a_shadow_like_kpi_file_is_refused_without_its_lines(tmp_path: Path) -> None:
    (tmp_path / "shadow").write_text("root:$6$Qm9vYmFy$9x3GkYQz:19700:0:99999:7:::\n", encoding="utf-8")
    stderr = _refused(_org(tmp_path, "kpi: shadow\n"), f"{tmp_path / 'shadow'}:1:", "is this the right file?")
    assert "Qm9vYmFy" not in stderr and "99999" not in stderr
