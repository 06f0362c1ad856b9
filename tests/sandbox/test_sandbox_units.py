"""Sandbox internals that HTTP tests can't pin down: the never-backwards write clock, SOQL
literal precision, and id checksums."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from presales_sync.sandbox.salesforce import _store
from presales_sync.sandbox.salesforce._soql import SoqlError, parse
from presales_sync.sandbox.salesforce._values import make_id, normalize_id, parse_datetime


class _SteppingClock:
    """A clock a test sets to any reading, backwards too (a machine's clock may step back)."""

    reading = 0.0

    def now(self) -> float:
        return self.reading


def test_write_clock_never_goes_backwards_and_keeps_whole_seconds(tmp_path: Path) -> None:
    """A real org's SystemModstamp is a whole second: writes in one second share it."""
    clock = _SteppingClock()
    store = _store.Store(tmp_path / "s.db", clock)
    try:

        def stamp_at(seconds: float) -> int:
            clock.reading = seconds
            return store.next_stamp()

        # seconds: same, within the second, back, forward
        assert [stamp_at(t) for t in (5.0, 5.4, 4.0, 6.7)] == [5_000, 5_000, 5_000, 6_000]
    finally:
        store.close()


def test_datetime_literals_keep_milliseconds_in_utc() -> None:
    where = parse("SELECT Id FROM Opportunity WHERE SystemModstamp >= 2026-11-20T16:15:02.123+08:00").where
    value = where.value  # type: ignore[union-attr]
    assert value.value == datetime(2026, 11, 20, 8, 15, 2, 123000, tzinfo=UTC)  # type: ignore[union-attr]
    assert parse_datetime("2026-11-20T08:15:02.123Z") == parse_datetime("2026-11-20T16:15:02.123+0800")
    assert parse_datetime("2026-11-20T08:15:02.123Z") % 1000 == 123  # type: ignore[operator]


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Opportunity WHERE CloseDate = 2026-02-30",
        "SELECT Id FROM Opportunity WHERE Name = 'a\\q'",
        "SELECT Id FROM Opportunity ORDER BY",
        "SELECT Id FROM Opportunity WHERE Amount IN ()",
        "SELECT Id FROM Opportunity WHERE Name LIKE 5",
        "SELECT Id FROM Opportunity LIMIT 5 extra",
    ],
)
def test_malformed(soql: str) -> None:
    with pytest.raises(SoqlError) as err:
        parse(soql)
    assert err.value.code == "MALFORMED_QUERY" and "ERROR at Row:1:Column:" in err.value.message


def test_ids_carry_the_case_safe_suffix() -> None:
    oid = make_id("006", 3_000_123)
    assert len(oid) == 18 and oid.startswith("006") and normalize_id(oid[:15]) == oid
    assert normalize_id("006-bad") is None
    assert make_id("006", 1) != make_id("006", 2)
