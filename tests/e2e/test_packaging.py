"""A non-editable install gives a `presales` command that works from any directory, and puts
exactly one import package into site-packages (`presales_sync`), so PyPI's `rules`
(django-rules) and ours live side by side."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _venv_with_our_wheel(tmp_path: Path) -> tuple[Path, Path]:
    """A new venv with our wheel installed (not editable): (its folder, its purelib)."""
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
    # presales_sync (django-rules' `rules` comes from there too).
    (target / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"),
                              "install", "--no-deps", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=600, check=False)
    assert install.returncode == 0, install.stderr

    return env_dir, target


def test_wheel_install_gives_a_working_presales_command(tmp_path: Path) -> None:
    env_dir, target = _venv_with_our_wheel(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exe = env_dir / "bin" / "presales"
    helped = subprocess.run([str(exe), "--help"], cwd=elsewhere, capture_output=True, text=True,
                            timeout=120, check=False)
    assert helped.returncode == 0, helped.stderr
    for command in ("sync", "status", "demo", "sandbox", "task"):
        assert command in helped.stdout
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                            "import presales_sync.cli as cli; print(cli.__file__)"],
                           cwd=elsewhere, capture_output=True, text=True, timeout=60, check=True)
    assert str(target) in where.stdout
    package = target / "presales_sync"
    assert (package / "mappings" / "salesforce.yaml").exists()
    assert (package / "rules" / "default.yaml").exists()
    assert (package / "sync" / "store" / "migrations" / "versions" / "0001_initial.py").exists()
    assert (package / "sandbox" / "core" / "_clock.py").exists()
    # exactly one top-level import package from our wheel (its RECORD lists what it installed)
    (record,) = target.glob("presales_sync-*.dist-info/RECORD")
    tops = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines() if line}
    assert {t for t in tops if not t.endswith(".dist-info") and t != ".."} == {"presales_sync"}
    for name in ("cli", "connector", "mappings", "sandbox", "sync", "rules"):
        assert not (target / name).exists() and not (target / f"{name}.py").exists()
    # a config problem, from another directory, is reported with exit code 2
    missing = subprocess.run([str(exe), "--config", "nope.yaml", "status"], cwd=elsewhere,
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr


def test_django_rules_and_our_wheel_are_both_importable_and_working(tmp_path: Path) -> None:
    """PyPI's `rules` (django-rules, a test dependency here) owns the top-level name `rules`;
    with our wheel installed beside it, both import and work, and uninstalling ours leaves
    theirs whole."""
    from importlib.metadata import distribution

    assert distribution("rules").metadata["Name"] == "rules"  # django-rules, from the test extras
    env_dir, target = _venv_with_our_wheel(tmp_path)
    python = str(env_dir / "bin" / "python")
    both = subprocess.run([python, "-c",
                           "import rules, presales_sync.rules as ours\n"
                           "rules.add_rule('can_sign', rules.always_allow)\n"
                           "assert rules.test_rule('can_sign')\n"
                           "assert ours.STEP_ORDER[0].value == 'Requirements'\n"
                           "print(rules.__file__); print(ours.__file__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert both.returncode == 0, both.stderr
    theirs, ours = both.stdout.split()
    assert "presales_sync" not in theirs and str(target / "presales_sync") in ours
    removed = subprocess.run([sys.executable, "-m", "pip", "--python", python, "uninstall", "-y", "-q",
                              "presales-sync"], capture_output=True, text=True, timeout=300, check=False)
    assert removed.returncode == 0, removed.stderr
    still = subprocess.run([python, "-c", "import rules; rules.add_rule('x', rules.always_allow)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert still.returncode == 0, still.stderr
