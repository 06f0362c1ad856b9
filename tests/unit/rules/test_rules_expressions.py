"""Admin-written rule expressions: load-time refusals and null-aware evaluation."""

from __future__ import annotations

from datetime import date

import pytest

from presales_sync.rules.calendar import WeekendCalendar
from presales_sync.rules.expressions import FIELD_TYPES, Expression, ExpressionError

TODAY = date(2026, 11, 20)  # a Friday
EXAMPLE = 'amount >= 1000000 and industry in ["Finance", "Government"]'


def compile_(text: str, **kwargs: object) -> Expression:
    return Expression.compile(text, today=TODAY, **kwargs)  # type: ignore[arg-type]


def test_example_true_and_false():
    expr = compile_(EXAMPLE)
    assert expr.evaluate({"amount": 2_000_000, "industry": "Finance"}) is True
    assert expr.evaluate({"amount": 2_000_000.0, "industry": "Retail"}) is False
    assert expr.evaluate({"amount": 5, "industry": "Government"}) is False


def test_unknown_name_suggests():
    with pytest.raises(ExpressionError) as info:
        compile_("amout >= 1")
    assert "amount" in (info.value.suggestion or "")
    assert info.value.column == 1
    assert info.value.expression == "amout >= 1"


def test_syntax_error_has_column():
    with pytest.raises(ExpressionError) as info:
        compile_("amount >=")
    assert info.value.column is not None and info.value.column >= 8
    with pytest.raises(ExpressionError) as info:
        compile_("amount >= >= 1")
    assert info.value.column == 11


@pytest.mark.parametrize("op", ["=~", "=~~", "!~", "!~~"])
def test_regex_refused(op: str):
    with pytest.raises(ExpressionError, match="regex is not allowed") as info:
        compile_(f'name {op} "x.*"')
    assert info.value.column == 6


def test_regex_inside_a_string_is_just_text():
    assert compile_('name == "a =~ b"').evaluate({"name": "a =~ b"}) is True


def test_clock_builtins_refused():
    with pytest.raises(ExpressionError, match="not allowed"):
        compile_("close_date < $today")


@pytest.mark.parametrize("text", ['amount == "big"', "name != 1", 'amount >= "x"', "days_until(name) < 1"])
def test_type_mismatch_refused_at_compile(text: str):
    with pytest.raises(ExpressionError):
        compile_(text)


@pytest.mark.parametrize("text", ["amount", "name", "amount + 1"])
def test_non_boolean_refused_at_compile(text: str):
    with pytest.raises(ExpressionError, match="true or false"):
        compile_(text)


def test_days_until_with_given_today():
    expr = compile_("days_until(close_date) <= 30")
    assert expr.evaluate({"close_date": date(2026, 12, 20)}) is True
    assert expr.evaluate({"close_date": date(2026, 12, 21)}) is False
    assert compile_("days_until(close_date) == -1").evaluate({"close_date": date(2026, 11, 19)})
    later = Expression.compile("days_until(close_date) <= 30", today=date(2026, 11, 21))
    assert later.evaluate({"close_date": date(2026, 12, 21)}) is True


def test_working_days_until_over_a_weekend():
    expr = compile_("working_days_until(close_date) <= 2")
    assert expr.evaluate({"close_date": date(2026, 11, 23)}) is True  # Monday: 1
    assert expr.evaluate({"close_date": date(2026, 11, 24)}) is True  # Tuesday: 2
    assert expr.evaluate({"close_date": date(2026, 11, 25)}) is False  # Wednesday: 3
    assert compile_("working_days_until(close_date) == -1").evaluate({"close_date": date(2026, 11, 19)})
    assert compile_("working_days_until(close_date) == 0").evaluate({"close_date": TODAY})


def test_working_days_use_the_given_calendar():
    class MondayOff(WeekendCalendar):
        def is_working_day(self, d: date) -> bool:
            return super().is_working_day(d) and d != date(2026, 11, 23)

    expr = compile_("working_days_until(close_date) == 1", calendar=MondayOff())
    assert expr.evaluate({"close_date": date(2026, 11, 24)}) is True


def test_missing_values_are_null_not_errors():
    expr = compile_(EXAMPLE)
    assert expr.evaluate({"amount": None, "industry": "Finance"}) is False
    assert expr.evaluate({}) is False
    assert compile_("amount >= 1 or is_won").evaluate({"amount": None, "is_won": True}) is True
    assert compile_("days_until(close_date) <= 30").evaluate({"close_date": None}) is False
    assert compile_("amount == null").evaluate({}) is True


@pytest.mark.parametrize(
    ("text", "values"),
    [("amount == 0", {"amount": 0}), ("amount >= 0", {"amount": 0.0}),
     ("is_won == false", {"is_won": False}),
     ('name == ""', {"name": ""}), ("name != null", {"name": ""})],
)  # fmt: skip
def test_falsy_values_are_values(text: str, values: dict[str, object]):
    expr = compile_(text)
    assert expr.evaluate(values) is True
    assert expr.evaluate({}) is False


def test_wrong_value_type_raises_expression_error():
    with pytest.raises(ExpressionError):
        compile_("amount >= 1").evaluate({"amount": "big"})


def test_fields_are_a_parameter():
    fields = {**FIELD_TYPES, "region": str}
    assert Expression.compile('region == "EU"', fields=fields, today=TODAY).evaluate({"region": "EU"})
    with pytest.raises(ExpressionError):
        compile_('region == "EU"')


def test_compiled_rule_is_cached_and_today_is_not_shared():
    a = Expression.compile("days_until(close_date) <= 0", today=TODAY)
    b = Expression.compile("days_until(close_date) <= 0", today=date(2026, 12, 1))
    assert a._rule is b._rule
    assert a.evaluate({"close_date": date(2026, 11, 25)}) is False
    assert b.evaluate({"close_date": date(2026, 11, 25)}) is True
