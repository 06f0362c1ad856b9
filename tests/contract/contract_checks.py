"""The contract's generic checks on what a read handed out, kept apart from the tests that
use them so that tests/contract/test_contract_checks.py can prove each of them fails."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from presales_sync.connector import Page, RemoteRecord


def records_of(pages: Sequence[Page]) -> list[RemoteRecord]:
    return [r for page in pages for r in page.records]


def assert_exactly_once(got: Sequence[RemoteRecord], expected: dict[str, datetime]) -> None:
    counts = Counter(r.id for r in got)
    assert [i for i, n in counts.items() if n > 1] == [], "a record handed out twice"
    assert sorted(set(expected) - set(counts)) == [], "records lost"
    assert sorted(set(counts) - set(expected)) == [], "records that should not be there"
    assert {r.id: r.stamp for r in got} == expected, "stamps as the CRM has them"


def assert_ordered(pages: Sequence[Page]) -> None:
    for page in pages:
        keys = [(r.stamp, r.id) for r in page.records]
        assert keys == sorted(keys), f"page {page.number} is not in (stamp, id) order"
    stamps = [r.stamp for r in records_of(pages)]
    assert stamps == sorted(stamps), "a stamp went back across pages"


__all__ = ["assert_exactly_once", "assert_ordered", "records_of"]
