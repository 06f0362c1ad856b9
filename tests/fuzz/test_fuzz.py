"""Fuzzing (hypothesis) of what reads untrusted text: the mapping loader, the rules loader
(settings and their expressions), the sandbox's SOQL parser and compiler, and the value
mapping of every CRM field type (Infinity, NaN, huge exponents, NUL, lone surrogates). Whatever the
input, the outcome is a value or *our own* clear error (`FileProblems` naming the file,
`SoqlError` with Salesforce's MALFORMED_QUERY / INVALID_FIELD framing) — never a crash.

Budget: ``PRESALES_FUZZ_EXAMPLES`` examples per test (default 300, what `make test` runs);
``PRESALES_FUZZ_EXAMPLES=20000 pytest tests/fuzz --timeout=0`` is the long run (no per-test
timeout: it takes hours on 2 cores).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_seed import PLUGIN_ORG

from presales_sync import rules as rules_pkg
from presales_sync.connector.salesforce._adapter import build_soql
from presales_sync.connector.salesforce._soql import soql_like, soql_string
from presales_sync.mappings import (
    FileProblems,
    ValueError_,
    default_mapping_path,
    inbound,
    load_mapping,
    load_model,
    observed,
)
from presales_sync.mappings.apply import MAX_INTEGER, canonical
from presales_sync.mappings.model import FieldType
from presales_sync.rules import RulesSettings
from presales_sync.sandbox.salesforce._catalog import default_objects
from presales_sync.sandbox.salesforce._query import compile_select
from presales_sync.sandbox.salesforce._soql import SoqlError, parse
from presales_sync.sync.config import check_expressions

EXAMPLES = int(os.environ.get("PRESALES_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MAPPING = yaml.safe_load(default_mapping_path("salesforce").read_text(encoding="utf-8"))
RULES_FILE = Path(rules_pkg.__file__).parent / "default.yaml"
RULES = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
OBJECTS = {o.name.lower(): o for o in default_objects(PLUGIN_ORG.fields)}

# -- values and mutations ------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
                    st.sampled_from(["", "0", "null", "yes", "P1", "Sign Off", "Presales_Step__c",
                                     "2026-13-45", "not a == b", "amount > ", "{{", "__import__('os')"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], action: str, value: Any, key: str) -> Any:
    """A copy of `doc` with the node at `path` replaced, deleted, or given an extra key."""
    if not path:
        return value if action != "extra" or not isinstance(doc, dict) else {**doc, key: value}
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        copy = dict(doc)
        if not rest and action == "delete":
            copy.pop(head, None)
        else:
            copy[head] = _mutate(doc[head], rest, action, value, key)
        return copy
    copy_list = list(doc)
    if not rest and action == "delete":
        del copy_list[head]
    else:
        copy_list[head] = _mutate(doc[head], rest, action, value, key)
    return copy_list


def mutated(doc: Any) -> st.SearchStrategy[Any]:
    """`doc` with one to three random edits: a value replaced, a key deleted or added."""
    paths = _paths(doc)

    def edit(d: Any, draw: Callable[..., Any]) -> Any:
        current = _paths(d)
        action = draw(st.sampled_from(["replace", "delete", "extra"]))
        return _mutate(d, draw(st.sampled_from(current)), action, draw(values),
                       draw(st.text(min_size=1, max_size=12)))

    @st.composite
    def strategy(draw: Callable[..., Any]) -> Any:
        d = doc
        for _ in range(draw(st.integers(1, 3))):
            d = edit(d, draw)
        return d

    assert paths
    return strategy()


yaml_texts = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from(list(":-[]{}|>&*!%@`'\"#,?\n\t ab12")), max_size=120),
)


def _write(text: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as fh:
        fh.write(text)
    return Path(name)


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _loads_or_problems(text: str, load: Callable[[Path], Any]) -> Any:
    path = _write(text)
    try:
        return load(path)
    except FileProblems as err:
        assert err.problems and all(p.file == str(path) for p in err.problems)
        assert all(str(p) for p in err.problems)
        return None
    finally:
        path.unlink()


# -- the mapping loader ----------------------------------------------------------------------


@pytest.mark.slow  # 4-5 s (tests/fast_lane.py)
@FUZZ
@given(yaml_texts)
def test_mapping_loader_on_any_text(text: str) -> None:
    _loads_or_problems(text, load_mapping)


@pytest.mark.slow  # 5 s (tests/fast_lane.py)
@FUZZ
@given(mutated(MAPPING))
def test_mapping_loader_on_edited_mappings(doc: Any) -> None:
    _loads_or_problems(_dump(doc), load_mapping)


# -- the rules loader ------------------------------------------------------------------------

SHIPPED_MAPPING = load_mapping(default_mapping_path("salesforce"))


def _load_rules(path: Path) -> RulesSettings:
    settings_ = load_model(path, RulesSettings)
    check_expressions(settings_, SHIPPED_MAPPING, path)
    return settings_


@FUZZ
@given(yaml_texts)
def test_rules_loader_on_any_text(text: str) -> None:
    _loads_or_problems(text, _load_rules)


@pytest.mark.slow  # 4 s (tests/fast_lane.py)
@FUZZ
@given(mutated(RULES))
def test_rules_loader_on_edited_rules(doc: Any) -> None:
    _loads_or_problems(_dump(doc), _load_rules)


# -- the sandbox's SOQL parser and compiler ----------------------------------------------------

SOQL_WORDS = ["SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
              "NULLS", "FIRST", "LAST", "LIMIT", "NULL", "TRUE", "FALSE", "COUNT", "(", ")", ",", "=", "!=",
              "<>", "<", "<=", ">", ">=", "Id", "Name", "Amount", "StageName", "Account.Name",
              "Owner.Name", "SystemModstamp", "CloseDate", "IsClosed", "Opportunity", "Account", "User",
              "Presales_Step__c", "'a'", "'it\\'s'", "'\\%'", "'\\q'", "'", "42", "-1.5", "1e3",
              "2026-11-20", "2026-02-30", "2026-11-20T08:15:02.123Z", "2026-11-20T25:00:00Z", "\\", "\"", "*"]


@st.composite
def soql_like_text(draw: Callable[..., Any]) -> str:
    words = draw(st.lists(st.sampled_from(SOQL_WORDS), min_size=0, max_size=14))
    if draw(st.booleans()):
        words = ["SELECT", "Id", "FROM", "Opportunity", *words]
    return " ".join(words)


def _parse_and_compile(query: str) -> None:
    try:
        compile_select(parse(query), OBJECTS)
    except SoqlError as err:
        assert err.code in ("MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE") and err.message


@FUZZ
@given(st.one_of(st.text(max_size=200), soql_like_text()))
def test_soql_parser_and_compiler_on_any_text(query: str) -> None:
    _parse_and_compile(query)


@FUZZ
@given(st.text(max_size=60))
def test_quoted_values_parse_back_to_themselves(value: str) -> None:
    """What the connector quotes, the sandbox's parser reads back exactly (and LIKE patterns
    built with soql_like match the value literally)."""
    where = parse(f"SELECT Id FROM Account WHERE Name = {soql_string(value)}").where
    assert where is not None and where.value.value == value  # type: ignore[union-attr]
    like = parse(f"SELECT Id FROM Account WHERE Name LIKE {soql_like(value, suffix='%')}").where
    assert like is not None and like.value.value == value + "%"  # type: ignore[union-attr]


@FUZZ
@given(st.lists(st.sampled_from(sorted(f.name for f in OBJECTS["opportunity"].fields)), max_size=8),
       st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                    timezones=st.timezones()) | st.none())
def test_the_connector_s_queries_compile_in_the_sandbox(fields: list[str], since: Any) -> None:
    compile_select(parse(build_soql("Opportunity", fields, since)), OBJECTS)


# -- CRM values through the mapping (what any CRM field may hold over the wire) ---------------

wire_values = st.one_of(
    scalars, st.integers(), st.floats(), st.text(max_size=60),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=20),  # surrogates, NUL, non-BMP
    st.sampled_from([float("inf"), float("-inf"), float("nan"), "Infinity", "-Infinity", "NaN", "1e999",
                     "-1e400", 10**30, -(2**63), 2**63, "\x00", "a\x00b", "\ud800", "\udfff x", "😀客户",
                     "2026-11-20T08:15:02.123456789+08:00", "2026-11-20T08:15:02Z", "2026-02-30",
                     "24:00", "9999-12-31T23:59:59-23:59", "0100-01-01T00:00:00Z",
                     "0001-01-01T00:00:00+14:00", "x" * 140_000]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@FUZZ
@given(kind=st.sampled_from(get_args(FieldType)), value=wire_values,
       scale=st.one_of(st.none(), st.integers(0, 18)), timezone=st.sampled_from([None, "Asia/Shanghai"]))
def test_canonical_on_any_wire_value(kind: Any, value: Any, scale: int | None, timezone: str | None) -> None:
    """Every CRM field type, whatever the wire carries: a canonical value that the store can
    keep and that is its own canonical form (so the echo of our write compares equal), or a
    ValueError that the sync turns into a quarantined record. Never another exception."""
    options: dict[str, Any] = {"scale": scale if kind == "number" else None, "timezone": timezone}
    try:
        out = canonical(kind, value, **options)
    except ValueError:
        return
    assert canonical(kind, out, **options) == out
    if isinstance(out, str):
        out.encode("utf-8")  # no lone surrogate
        assert "\x00" not in out
    if isinstance(out, float):
        assert out == out and abs(out) != float("inf")
    if isinstance(out, int) and not isinstance(out, bool):
        assert abs(out) <= MAX_INTEGER


DEFAULT_MAP = load_mapping(default_mapping_path("salesforce")).opportunity
SF_FIELDS = sorted({fm.field for fm in (*DEFAULT_MAP.inbound.values(), *DEFAULT_MAP.outbound.values())})


@FUZZ
@given(record=st.dictionaries(st.sampled_from(SF_FIELDS), wire_values, max_size=8))
def test_a_record_maps_or_is_refused_naming_the_field(record: dict[str, Any]) -> None:
    for apply in (inbound, observed):
        try:
            apply(DEFAULT_MAP, record)
        except ValueError_ as err:
            assert str(err).split(":", 1)[0] in record  # the message names the CRM field
