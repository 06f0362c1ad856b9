"""The cursor (where a read starts, how far a page moves it, the equal-stamp tie rule) and the
ledger's echo detection, each on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from presales_sync import mappings
from presales_sync.connector import RemoteRecord
from presales_sync.mappings import inbound
from presales_sync.sync import cursor, ledger

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
LOOKBACK = timedelta(seconds=120)
OPP = mappings.load_mapping(mappings.default_mapping_path("salesforce")).opportunity


def test_a_read_starts_a_lookback_before_the_cursor_and_a_full_or_first_read_at_the_start() -> None:
    assert cursor.read_from(T0, LOOKBACK) == T0 - LOOKBACK
    assert cursor.read_from(None, LOOKBACK) is None
    assert cursor.read_from(T0, LOOKBACK, full=True) is None


def test_a_page_moves_the_cursor_to_its_newest_stamp_capped_at_the_runs_start() -> None:
    stamps = [T0 - timedelta(minutes=5), T0 - timedelta(minutes=1), T0 - timedelta(minutes=3)]
    assert cursor.moved_to(stamps, T0) == T0 - timedelta(minutes=1)
    # a CRM clock ahead of ours cannot push the cursor past records not yet written
    assert cursor.moved_to([*stamps, T0 + timedelta(hours=1)], T0) == T0


def test_the_tie_rule_compares_a_read_stamp_with_the_stored_one() -> None:
    assert cursor.compare(T0, None) is cursor.Seen.NEW
    assert cursor.compare(T0 + timedelta(microseconds=1), T0) is cursor.Seen.NEW
    assert cursor.compare(T0 - timedelta(seconds=1), T0) is cursor.Seen.OLDER
    assert cursor.compare(T0, T0) is cursor.Seen.TIE


def _record(**fields: object) -> RemoteRecord:
    base = {"Name": "Deal", "IsClosed": False, "IsWon": False, "Presales_Requested__c": True,
            "LastModifiedById": "005SALES"}
    return RemoteRecord("006A", T0, {**base, **fields})


def test_an_echo_is_a_tied_record_with_the_stored_values_and_an_edit_in_the_same_second_is_not() -> None:
    ours = _record(Presales_Step__c="Requirements")
    stored = inbound(OPP, ours.fields)
    assert ledger.same_version(OPP, ours, stored)
    edited = _record(Presales_Step__c="Requirements", Name="Deal, renamed in the same second")
    assert not ledger.same_version(OPP, edited, stored)
    assert not ledger.same_version(OPP, ours, None)  # nothing stored: never the same version


def test_a_record_that_does_not_map_is_never_the_same_version() -> None:
    bad = _record(Amount="not a number")
    assert not ledger.same_version(OPP, bad, {"name": "Deal"})


def test_the_diff_sends_only_what_the_ledger_does_not_hold() -> None:
    known = {"A__c": 0, "B__c": None}
    assert ledger.diff({"A__c": 0, "B__c": None, "C__c": None}, known) == {"C__c": None}
