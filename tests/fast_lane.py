"""What `make test-fast` leaves out, decided in one place (tests/conftest.py applies it).

The fast lane is `pytest -m "not slow and not postgres"`. A test is `slow` when it lives under
tests/e2e/ (marked here, by folder), or when it starts the `presales` command as a process or
takes more than about 3 s on the 2-core CI machine (marked `@pytest.mark.slow` where it is
written). The first half of that rule is enforced: a test not marked `slow` that starts the CLI
as a process fails, so a new CLI test cannot slip into the fast lane unnoticed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SLOW_FOLDERS = (TESTS / "e2e",)


def in_slow_folder(path: Path) -> bool:
    return any(path.resolve().is_relative_to(folder) for folder in SLOW_FOLDERS)


def starts_the_cli(args: str | bytes | os.PathLike[str] | Sequence[object]) -> bool:
    """Whether a `subprocess.Popen` argument list runs the `presales` command: the console
    script, `python -m presales_sync.cli` or `python cli.py`."""
    argv = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
    words = [os.fsdecode(a) if isinstance(a, str | bytes | os.PathLike) else str(a) for a in argv]
    if not words:
        return False
    if Path(words[0]).name == "presales":
        return True
    rest = words[1:]
    module = rest[rest.index("-m") + 1] if "-m" in rest[:-1] else None
    return module in {"presales_sync", "presales_sync.cli"} or bool(rest and Path(rest[0]).name == "cli.py")
