"""A non-editable install gives a `presales` command that works from any directory."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_install_gives_a_working_presales_command(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                            str(ROOT)], capture_output=True, text=True, timeout=600, check=False)
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("presales_sync-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    target = Path(subprocess.run([str(env_dir / "bin" / "python"), "-c",
                                  "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies come from this test's environment as a plain path entry: the
    # project's own editable hook there is *not* processed, so only the wheel provides
    # cli/connector/mappings/sync/rules.
    (target / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"),
                              "install", "--no-deps", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=600, check=False)
    assert install.returncode == 0, install.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exe = env_dir / "bin" / "presales"
    helped = subprocess.run([str(exe), "--help"], cwd=elsewhere, capture_output=True, text=True,
                            timeout=120, check=False)
    assert helped.returncode == 0, helped.stderr
    for command in ("sync", "status", "demo", "sandbox", "task"):
        assert command in helped.stdout
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                            "import cli, connector, mappings, sync, rules; print(cli.__file__)"],
                           cwd=elsewhere, capture_output=True, text=True, timeout=60, check=True)
    assert str(target) in where.stdout
    assert (target / "mappings" / "salesforce.yaml").exists()
    assert (target / "rules" / "default.yaml").exists()
    assert (target / "sync" / "store" / "migrations" / "versions" / "0001_initial.py").exists()
    # a config problem, from another directory, is reported with exit code 2
    missing = subprocess.run([str(exe), "--config", "nope.yaml", "status"], cwd=elsewhere,
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
