"""The public surface of rules/ and its purity (no I/O, no clock, no upper layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from presales_sync import rules

RULES_DIR = Path(rules.__file__).resolve().parent
FORBIDDEN_MODULES = {"connector", "sync", "mappings", "cli", "requests", "sqlalchemy"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "open", "read_text"}


def test_all_names_exist_and_are_unique():
    assert len(set(rules.__all__)) == len(rules.__all__)
    for name in rules.__all__:
        assert hasattr(rules, name), name


@pytest.mark.parametrize(
    "name",
    ["create_task", "assign", "apply_command", "close", "round_robin", "Assignment",
     "WorkCalendar", "WeekendCalendar", "step_due_date", "Health", "evaluate_health",
     "RulesSettings", "Task", "DomainError", "STEP_ORDER"],
)  # fmt: skip
def test_public_names_exported(name: str):
    assert name in rules.__all__


def impurities(source: str) -> list[str]:
    """Forbidden imports and clock / file calls in one module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "presales_sync":
            names = [f"presales_sync.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        found += [n for n in names if n.removeprefix("presales_sync.").split(".")[0] in FORBIDDEN_MODULES]
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in FORBIDDEN_CALLS:
                found.append(f"{called}()")
    return found


@pytest.mark.parametrize("path", sorted(RULES_DIR.glob("*.py")), ids=lambda p: p.name)
def test_rules_modules_are_pure(path: Path):
    assert impurities(path.read_text(encoding="utf-8")) == []


def test_purity_check_can_fail():
    bad = (
        "import requests\nfrom presales_sync.sync.engine import run\nfrom presales_sync import mappings\n"
        "from datetime import datetime\nx = datetime.now()\ny = open('f')\n"
    )
    assert impurities(bad) == ["requests", "presales_sync.sync.engine", "presales_sync.mappings", "now()",
                               "open()"]
