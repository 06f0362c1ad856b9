"""Each generic check of the contract suite fails on the fault it is there to catch: a
record handed out twice (a tie re-read at a page boundary), one lost (a tie cut off), one
that should not be there (`since` ignored), a stamp other than the CRM's, a page out of
(stamp, id) order, a stamp going back across pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from contract_checks import assert_exactly_once, assert_ordered

from presales_sync.connector import Page, RemoteRecord

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
TRUTH = {"a": T0, "b": T1, "c": T1, "d": T1}


def rec(rid: str, stamp: datetime) -> RemoteRecord:
    return RemoteRecord(id=rid, stamp=stamp, fields={})


def pages(*groups: list[RemoteRecord]) -> list[Page]:
    return [Page(records=g, number=n) for n, g in enumerate(groups, 1)]


GOOD = pages([rec("a", T0), rec("b", T1)], [rec("c", T1), rec("d", T1)])


def test_a_good_read_passes() -> None:
    assert_exactly_once([r for p in GOOD for r in p.records], TRUTH)
    assert_ordered(GOOD)


@pytest.mark.parametrize(("got", "why"), [
    ([rec("a", T0), rec("b", T1), rec("b", T1), rec("c", T1), rec("d", T1)], "twice"),
    ([rec("a", T0), rec("b", T1), rec("d", T1)], "lost"),
    ([rec("a", T0), rec("b", T1), rec("c", T1), rec("d", T1), rec("e", T0)], "should not be there"),
    ([rec("a", T1), rec("b", T1), rec("c", T1), rec("d", T1)], "stamps"),
])
def test_exactly_once_catches(got: list[RemoteRecord], why: str) -> None:
    with pytest.raises(AssertionError, match=why):
        assert_exactly_once(got, TRUTH)


@pytest.mark.parametrize(("read", "why"), [
    (pages([rec("b", T1), rec("a", T0)]), "not in .stamp, id. order"),
    (pages([rec("c", T1), rec("b", T1)]), "not in .stamp, id. order"),  # a tie out of id order
    (pages([rec("b", T1)], [rec("a", T0)]), "went back across pages"),
])
def test_ordered_catches(read: list[Page], why: str) -> None:
    with pytest.raises(AssertionError, match=why):
        assert_ordered(read)
