"""The fast lane's rules (tests/fast_lane.py): what counts as starting the CLI, what lives in a
slow folder, and the guard in tests/conftest.py that fails a fast test starting the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fast_lane import TESTS, in_slow_folder, starts_the_cli

PRESALES = str(Path(sys.executable).parent / "presales")


@pytest.mark.parametrize(("args", "expected"), [
    ([PRESALES, "--config", "x.yaml", "sync"], True),
    ("presales", True),
    ([Path("/opt/presales/bin/presales"), "demo"], True),
    ([sys.executable, "-m", "presales_sync.cli", "report"], True),
    ([sys.executable, "cli.py", "sync"], True),
    ([sys.executable, "-c", "import time; time.sleep(60)"], False),
    ([sys.executable, "-m", "pip", "wheel", "."], False),
    (["chromium", "--headless", "--dump-dom", "report.html"], False),
    (["systemd-analyze", "verify", "presales-sync.service"], False),
    ([], False),
])
def test_starts_the_cli(args: Any, expected: bool) -> None:
    assert starts_the_cli(args) is expected


def test_slow_folders() -> None:
    assert in_slow_folder(TESTS / "e2e" / "test_demo.py")
    assert not in_slow_folder(TESTS / "unit" / "test_layering.py")
    assert not in_slow_folder(TESTS / "e2e_support.py")  # a sibling whose name starts alike


def test_a_fast_test_that_starts_the_cli_fails_before_the_process_starts() -> None:
    expected = r"starts the CLI as a process: mark it @pytest\.mark\.slow"
    with pytest.raises(pytest.fail.Exception, match=expected):
        subprocess.run([PRESALES, "--help"], capture_output=True, check=False, timeout=60)


def test_other_programs_still_start() -> None:
    assert subprocess.run([sys.executable, "-c", "print(7)"], capture_output=True, text=True,
                          check=True, timeout=60).stdout == "7\n"


@pytest.mark.slow
def test_a_slow_test_may_start_the_cli() -> None:
    proc = subprocess.run([PRESALES, "--help"], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0 and "sync" in proc.stdout
