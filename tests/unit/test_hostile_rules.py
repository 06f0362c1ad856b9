"""Hostile rule expressions: a cost limit per expression checked at load (length, AST size,
comprehensions nested in one another; exit 2 naming the rules file, line and key), a step
budget per evaluation, and evaluation errors (`to_flt` of text) as a clear per-record
`ExpressionError`, never a traceback."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from presales_sync.mappings import FileProblems
from presales_sync.rules import Expression, ExpressionError
from presales_sync.rules.expressions import ExpressionLimits
from presales_sync.sync import config as config_mod

TODAY = date(2026, 11, 23)
TEN = "[" + ", ".join(str(i) for i in range(10)) + "]"


def nested(depth: int, iterable: str = TEN) -> str:
    """`depth` comprehensions inside one another: 10**depth steps per record over TEN."""
    inner = "1"
    for level in range(depth):
        inner = f"[{inner} for x{level} in {iterable}]"
    return inner


def _org(tmp_path: Path, intake: str) -> Path:
    (tmp_path / "engineers.yaml").write_text("engineers:\n  - {crm_user_id: 005A, name: A}\n",
                                             encoding="utf-8")
    (tmp_path / "rules.yaml").write_text(f"# admin rules\nintake: '{intake}'\n", encoding="utf-8")
    path = tmp_path / "presales.yaml"
    path.write_text('crm: {kind: salesforce, instance_url: "https://x.my.salesforce.com"}\n'
                    "rules: rules.yaml\n", encoding="utf-8")
    return path


def test_nested_comprehensions_are_refused_at_load_naming_file_line_key_and_limit(tmp_path: Path) -> None:
    # six deep over ten items: a million steps per record (main ran it record after record)
    path = _org(tmp_path, f"requested and {nested(6)}.length > 0")
    with pytest.raises(FileProblems) as err:
        config_mod.load(path)
    (problem,) = err.value.problems
    assert (problem.file, problem.line, problem.key) == (str(tmp_path / "rules.yaml"), 2, "intake")
    assert "6 comprehensions" in problem.message and "the limit is 1" in problem.message
    assert "PRESALES_MAX_RULE_NESTING" in problem.message


def test_one_comprehension_and_one_over_anothers_result_are_fine() -> None:
    expr = Expression.compile(f"[x for x in [y for y in {TEN}] if x > 5].length == 4", today=TODAY)
    assert expr.evaluate({})


@pytest.mark.parametrize(("text", "expected"), [
    (" or ".join(["amount > 1"] * 1200), "too long: 16,796 characters, the limit is 10,000"),
    ("industry in [" + ", ".join(f'"i{i}"' for i in range(1200)) + "]", "too complex"),
    ("not " * 600 + "requested", "too deeply nested"),
    ('"abc".to_flt > 1', "a text value is not a number"),
])
def test_costly_or_broken_expressions_are_refused_at_compile(text: str, expected: str) -> None:
    with pytest.raises(ExpressionError, match=expected):
        Expression.compile(text, today=TODAY)


def test_the_step_budget_rejects_one_record_quickly() -> None:
    limits = ExpressionLimits(max_comprehension_depth=3, max_steps=5_000)
    expr = Expression.compile(f"{nested(3, 'name.to_ary')}.length > 0", today=TODAY, limits=limits)
    assert expr.evaluate({"name": "abc"})  # 3 + 9 + 27 steps
    started = time.monotonic()
    with pytest.raises(ExpressionError, match=r"more than 5,000 comprehension steps.*_MAX_RULE_STEPS"):
        expr.evaluate({"name": "x" * 200})  # 8,000,000 steps unbounded
    assert time.monotonic() - started < 2
    assert ExpressionLimits().max_steps == 100_000


@pytest.mark.parametrize("value", ["abc", "", "1,5", "nan"])
def test_to_flt_of_text_that_is_not_a_number_is_an_expression_error_for_that_record(value: str) -> None:
    expr = Expression.compile("name.to_flt > 3", today=TODAY)
    assert expr.evaluate({"name": "5"}) and not expr.evaluate({"name": None})
    with pytest.raises(ExpressionError) as err:
        expr.evaluate({"name": value})
    assert str(err.value) == "cannot evaluate: a text value is not a number (to_flt / to_int need digits)"
    assert err.value.expression == "name.to_flt > 3"
