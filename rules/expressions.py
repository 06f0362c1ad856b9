"""Admin-written rule expressions (intake, priority, level gating), on rule-engine.

    expr = Expression.compile('amount >= 1000000 and industry in ["Finance", "Government"]',
                              today=date(2026, 3, 2))
    expr.evaluate({"amount": 2_000_000, "industry": "Finance"})  # True

Everything an admin can get wrong is refused at load time (`compile`) as an `ExpressionError`:
syntax errors (with a 1-based column), unknown names (with rule-engine's "did you mean"),
type mismatches, a non-boolean result, the regex operators (`=~ =~~ !~ !~~`, a ReDoS risk),
the clock-reading built-ins (`$today`, `$now`, ...) and an expression past its cost limits
(`ExpressionLimits`: length, AST size, comprehensions nested in one another). Evaluation is
bounded too (comprehension steps per record) and never raises anything but `ExpressionError`
(`"abc".to_flt` is a rejected record, not a traceback). Pure: `today`, the working-day calendar
and the limits are arguments; nothing reads the clock or the environment.

Null semantics: a name missing from the values evaluates as null (None); an ordered comparison
(`<`, `<=`, `>`, `>=`) with a null side is false; `days_until(null)` is null. `0`, `False` and
`""` are values, not missing.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

import rule_engine
from rule_engine import DataType

from presales_sync.rules.calendar import WeekendCalendar

__all__ = ["FIELD_TYPES", "LIMIT_VARIABLES", "Expression", "ExpressionError", "ExpressionLimits",
           "WorkingDayCalendar"]

FIELD_TYPES: Mapping[str, type] = {
    "name": str,
    "account_name": str,
    "industry": str,
    "stage": str,
    "priority": str,
    "owner_id": str,
    "amount": float,
    "close_date": date,
    "is_closed": bool,
    "is_won": bool,
    "requested": bool,
}

FUNCTION_NAMES = ("days_until", "working_days_until")

# Regex operators run Python `re` on admin text: catastrophic backtracking (ReDoS).
_REGEX_OPERATORS = ("=~~", "=~", "!~~", "!~")


@dataclass(frozen=True, slots=True)
class ExpressionLimits:
    """What one admin expression may cost (docs/limits.md). Checked at load: its length, its
    AST size, how many comprehensions run inside one another (each multiplies the work: six
    nested over ten items is a million steps per record); while evaluating: comprehension
    steps per record."""

    max_chars: int = 10_000
    max_nodes: int = 1_000
    max_comprehension_depth: int = 1
    max_steps: int = 100_000


#: How an admin raises each limit (the config loader reads these environment variables).
LIMIT_VARIABLES: Mapping[str, str] = {
    "max_chars": "PRESALES_MAX_RULE_CHARS",
    "max_nodes": "PRESALES_MAX_RULE_NODES",
    "max_comprehension_depth": "PRESALES_MAX_RULE_NESTING",
    "max_steps": "PRESALES_MAX_RULE_STEPS",
}


def _raise_hint(field: str) -> str:
    return f"raise the limit with {LIMIT_VARIABLES[field]}=<n> if it is meant (docs/limits.md)"


class WorkingDayCalendar(Protocol):
    def is_working_day(self, d: date, /) -> bool: ...


class ExpressionError(ValueError):
    """A rule expression that cannot be loaded or evaluated."""

    def __init__(
        self,
        expression: str,
        message: str,
        *,
        column: int | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.expression = expression
        self.message = message
        self.column = column
        self.suggestion = suggestion
        text = message
        if column is not None:
            text += f" (column {column})"
        if suggestion:
            text += f"; {suggestion}"
        super().__init__(text)


def _data_type(name: str, py_type: type) -> Any:
    # bool before int/float: bool is a subclass of int.
    if issubclass(py_type, bool):
        return DataType.BOOLEAN
    if issubclass(py_type, (int, float, Decimal)):
        return DataType.FLOAT
    if issubclass(py_type, str):
        return DataType.STRING
    if issubclass(py_type, (date, _dt.datetime)):  # datetime is a date subclass
        return DataType.DATETIME
    raise TypeError(f"field {name!r}: unsupported type {py_type!r}")


class _OverBudget(Exception):
    """One evaluation went past its comprehension steps (caught in `Expression.evaluate`)."""


class _Budget:
    """Comprehension steps one evaluation may still take."""

    __slots__ = ("left",)

    def __init__(self, steps: int) -> None:
        self.left = steps

    def charge(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise _OverBudget


@dataclass(frozen=True)
class _Env:
    """What the resolver sees: the record plus today and the calendar (never the clock)."""

    values: Mapping[str, Any]
    today: date
    calendar: WorkingDayCalendar
    budget: _Budget


def _as_date(value: Any) -> date:
    # rule-engine coerces `date` values to `datetime`; the functions count whole days.
    return value.date() if isinstance(value, _dt.datetime) else value


def _days_until(env: _Env, d: Any) -> float | None:
    if d is None:
        return None
    return float((_as_date(d) - env.today).days)


def _working_days_until(env: _Env, d: Any) -> float | None:
    """Working days after today up to and including d; negative (working days from d up to,
    not including, today) when d is past; 0 for today."""
    if d is None:
        return None
    target = _as_date(d)
    step = 1 if target >= env.today else -1
    if target > env.today:
        start, end = env.today + timedelta(days=1), target
    else:
        start, end = target, env.today - timedelta(days=1)
    counter = getattr(env.calendar, "count_working_days", None)
    if counter is not None:
        return float(step * counter(start, end))
    count = 0
    day = start
    while day <= end:
        if env.calendar.is_working_day(day):
            count += 1
        day += timedelta(days=1)
    return float(step * count)


_FUNCTIONS: Mapping[str, Callable[[_Env, Any], float | None]] = {
    "days_until": _days_until,
    "working_days_until": _working_days_until,
}


def _resolver(thing: Any, name: str) -> Any:
    if not isinstance(thing, _Env):  # constant folding at compile time
        return None
    function = _FUNCTIONS.get(name)
    if function is not None:
        return functools.partial(function, thing)
    return thing.values.get(name)  # missing → null


def _mask_strings(text: str) -> str:
    """`text` with the inside of string literals blanked, same length (for operator scans)."""
    out: list[str] = []
    quote: str | None = None
    escaped = False
    for ch in text:
        if quote is None:
            if ch in "\"'":
                quote = ch
            out.append(ch)
        elif escaped:
            escaped = False
            out.append(" ")
        elif ch == "\\":
            escaped = True
            out.append(" ")
        elif ch == quote:
            quote = None
            out.append(ch)
        else:
            out.append(" ")
    return "".join(out)


def _column(text: str, pos: int) -> int:
    return pos - (text.rfind("\n", 0, pos) + 1) + 1


def _refuse_forbidden(text: str) -> None:
    masked = _mask_strings(text)
    for op in _REGEX_OPERATORS:
        pos = masked.find(op)
        if pos >= 0:
            raise ExpressionError(
                text,
                f"regex is not allowed: operator {op!r} (a regular expression can hang the sync); "
                "use ==, != or 'in' instead",
                column=_column(text, pos),
            )
    builtin = re.search(r"\$\w*", masked)
    if builtin:
        raise ExpressionError(
            text,
            f"built-in symbol {builtin.group()!r} is not allowed (it reads the clock); "
            "use days_until(...) or working_days_until(...)",
            column=_column(text, builtin.start()),
        )


def _children(node: Any) -> list[Any]:
    """The AST nodes directly below `node` (generic: attributes that are nodes)."""
    names = set(getattr(node, "__dict__", {}))
    for klass in type(node).__mro__:
        slots = getattr(klass, "__slots__", ())
        names.update((slots,) if isinstance(slots, str) else slots)
    found: list[Any] = []
    for attr in sorted(names):
        value = getattr(node, attr, None)
        children = value if isinstance(value, (list, tuple)) else (value,)
        found += [child for child in children if isinstance(child, rule_engine.ast.ASTNodeBase)]
    return found


def _walk(node: Any, seen: set[int] | None = None) -> Any:
    """Every rule-engine AST node below `node`."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    yield node
    for child in _children(node):
        yield from _walk(child, seen)


def _nesting(node: Any) -> int:
    """How many comprehensions run inside one another below `node`: the result and the
    condition run once per item, the iterable once."""
    if isinstance(node, rule_engine.ast.ComprehensionExpression):
        body = [n for n in (node.result, node.condition) if n is not None]
        return max(1 + max(map(_nesting, body)), _nesting(node.iterable))
    return max(map(_nesting, _children(node)), default=0)


def _charge_steps(node: Any) -> None:
    """Charge a comprehension's items to the evaluation's budget before it iterates them."""
    iterable = node.iterable
    original = iterable.evaluate

    def evaluate(thing: Any) -> Any:
        value = original(thing)
        if isinstance(thing, _Env) and hasattr(value, "__len__"):
            thing.budget.charge(len(value))
        return value

    iterable.evaluate = evaluate


def _check_cost(text: str, rule: rule_engine.Rule, limits: ExpressionLimits) -> list[Any]:
    """Refuse an expression past its AST size or comprehension nesting; its nodes otherwise."""
    nodes = list(_walk(rule.statement))
    if len(nodes) > limits.max_nodes:
        raise ExpressionError(text, f"too complex: {len(nodes):,} parts, the limit is {limits.max_nodes:,}; "
                                    f"split it into several rules, or {_raise_hint('max_nodes')}")
    depth = _nesting(rule.statement)
    if depth > limits.max_comprehension_depth:
        raise ExpressionError(text, f"too costly: {depth} comprehensions ([... for ... in ...]) run inside "
                                    f"one another, the limit is {limits.max_comprehension_depth} (each one "
                                    "multiplies the work per record); "
                                    + _raise_hint("max_comprehension_depth"))
    return nodes


def _why(error: BaseException) -> str:
    """What went wrong while computing a value, in the admin's words (no traceback)."""
    if isinstance(error, decimal.InvalidOperation):
        return "a text value is not a number (to_flt / to_int need digits)"
    if isinstance(error, ZeroDivisionError):
        return "division by zero"
    if isinstance(error, (OverflowError, decimal.Overflow)):
        return "a number is too large"
    return f"{type(error).__name__} while computing a value"


_ORDERED = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}


def _null_is_false(node: Any) -> None:
    """Make one ordered comparison false when either side is null (rule-engine raises)."""
    original = node._evaluator
    op = _ORDERED[node.type]

    def evaluator(thing: Any) -> Any:
        left = node.left.evaluate(thing)
        right = node.right.evaluate(thing)
        if left is None or right is None:
            return False
        if type(left) is type(right) and not isinstance(left, tuple):
            return op(left, right)
        return original(thing)  # arrays and mismatches: rule-engine's own behaviour

    node._evaluator = evaluator


def _null_in_null_out(node: Any) -> None:
    """A function call with a null argument is null (rule-engine raises a type error)."""
    original = node.evaluate

    def evaluate(thing: Any) -> Any:
        if any(argument.evaluate(thing) is None for argument in node.arguments):
            return None
        return original(thing)

    node.evaluate = evaluate


def _symbol_column(text: str, symbol: str | None) -> int | None:
    if not symbol:
        return None
    match = re.search(rf"(?<![\w$]){re.escape(symbol)}(?!\w)", _mask_strings(text))
    return _column(text, match.start()) if match else None


@functools.lru_cache(maxsize=512)
def _compile_rule(text: str, fields: tuple[tuple[str, type], ...],
                  limits: ExpressionLimits) -> rule_engine.Rule:
    """Parse and type-check once per (text, fields, limits); today and the calendar are bound
    per evaluation through `_Env`, so they are not part of the key."""
    if len(text) > limits.max_chars:
        raise ExpressionError(text, f"too long: {len(text):,} characters, the limit is {limits.max_chars:,}; "
                                    f"{_raise_hint('max_chars')}")
    _refuse_forbidden(text)
    types: dict[str, Any] = {name: _data_type(name, py_type) for name, py_type in fields}
    for fn in FUNCTION_NAMES:
        if fn in types:
            raise ExpressionError(text, f"field {fn!r} clashes with the function of that name")
        types[fn] = DataType.FUNCTION(fn, return_type=DataType.FLOAT, argument_types=(DataType.DATETIME,))
    context = rule_engine.Context(
        type_resolver=rule_engine.type_resolver_from_dict(types),
        resolver=_resolver,
        default_timezone=_dt.UTC,
    )
    try:
        rule = rule_engine.Rule(text, context=context)
    except rule_engine.RuleSyntaxError as error:
        token = error.token
        if token is None:
            column = len(text.rstrip()) + 1
            message = "syntax error: the expression ends too early"
        else:
            column = _column(text, token.lexpos)
            message = f"syntax error at {token.value!r}"
        raise ExpressionError(text, message, column=column) from None
    except rule_engine.SymbolResolutionError as error:
        name = error.symbol_name
        suggestion = f"did you mean {error.suggestion!r}?" if error.suggestion else None
        raise ExpressionError(
            text,
            f"unknown name {name!r}",
            column=_symbol_column(text, name),
            suggestion=suggestion,
        ) from None
    except rule_engine.EngineError as error:
        raise ExpressionError(text, f"invalid expression: {error.message}") from None
    except RecursionError:
        raise ExpressionError(text, "too deeply nested: split it into several rules") from None
    except (ArithmeticError, ValueError, TypeError, LookupError) as error:  # constants folded at parse
        raise ExpressionError(text, f"invalid expression: {_why(error)}") from None
    try:
        nodes = _check_cost(text, rule, limits)
    except RecursionError:
        raise ExpressionError(text, "too deeply nested: split it into several rules") from None

    for node in nodes:
        if isinstance(node, rule_engine.ast.ComprehensionExpression):
            _charge_steps(node)
        if isinstance(node, rule_engine.ast.ArithmeticComparisonExpression):
            _null_is_false(node)
        elif isinstance(node, rule_engine.ast.FunctionCallExpression):
            _null_in_null_out(node)
        elif isinstance(node, rule_engine.ast.ComparisonExpression) and node.type in ("eq", "ne"):
            # rule-engine lets `amount == "big"` through (always false); refuse it.
            left, right = node.left.result_type, node.right.result_type
            known = (DataType.UNDEFINED, DataType.NULL)
            if left not in known and right not in known and not DataType.is_compatible(left, right):
                raise ExpressionError(
                    text,
                    f"data type mismatch: cannot compare {left.name} with {right.name}",
                )
    result = rule.statement.expression.result_type
    if result not in (DataType.BOOLEAN, DataType.UNDEFINED):
        raise ExpressionError(text, f"the expression must be true or false, not {result.name}")
    return rule


class Expression:
    """A compiled admin expression; build with `Expression.compile`."""

    __slots__ = ("_rule", "calendar", "limits", "text", "today")

    def __init__(self, text: str, rule: rule_engine.Rule, today: date, calendar: WorkingDayCalendar,
                 limits: ExpressionLimits | None = None) -> None:
        self.text = text
        self.today = today
        self.calendar = calendar
        self.limits = limits or ExpressionLimits()
        self._rule = rule

    @classmethod
    def compile(
        cls,
        text: str,
        *,
        fields: Mapping[str, type] = FIELD_TYPES,
        today: date,
        calendar: WorkingDayCalendar | None = None,
        limits: ExpressionLimits | None = None,
    ) -> Expression:
        """Parse and check `text` against `fields` and `limits` (the defaults when None);
        raises ExpressionError. `today` and `calendar` (weekends only when None) feed
        days_until / working_days_until."""
        if isinstance(today, _dt.datetime):
            today = today.date()
        limits = limits or ExpressionLimits()
        key = tuple(sorted(fields.items()))
        rule = _compile_rule(text, key, limits)
        return cls(text, rule, today, calendar if calendar is not None else WeekendCalendar(), limits)

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        """True or false for one record's values; anything that goes wrong (a value that is
        not a number, the step budget spent) is an ExpressionError for that record."""
        env = _Env(values, self.today, self.calendar, _Budget(self.limits.max_steps))
        try:
            result = self._rule.evaluate(env)
        except ExpressionError:
            raise
        except _OverBudget:
            raise ExpressionError(self.text, "too costly for this record: more than "
                                             f"{self.limits.max_steps:,} comprehension steps; "
                                             + _raise_hint("max_steps")) from None
        except rule_engine.EngineError as error:
            raise ExpressionError(self.text, f"cannot evaluate: {error.message}") from None
        except RecursionError:
            raise ExpressionError(self.text, "cannot evaluate: too deeply nested") from None
        except (ArithmeticError, ValueError, TypeError, LookupError, AttributeError) as error:
            raise ExpressionError(self.text, f"cannot evaluate: {_why(error)}") from None
        if not isinstance(result, bool):
            raise ExpressionError(
                self.text, f"the expression must be true or false, got {type(result).__name__}"
            )
        return result

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, today={self.today.isoformat()})"
