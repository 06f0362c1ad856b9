"""The connector contract: what every adapter promises behind `Connector`, checked against
the sandbox over HTTPS, each test written once and run for Salesforce and for Zoho CRM.

1. paging ends: a read over several pages stops and hands out every record exactly once
   (on each CRM's second read path too: Salesforce Bulk query, Zoho page_token); an empty
   read hands out nothing and stops; a read by ids hands out each once, a deleted one not;
2. `since` is honoured: exactly the records with stamp >= since (a closed bound), stamps
   never going back across pages, (stamp, id) order within a page;
3. boundary ties: records sharing one stamp across a page boundary all come back, once;
4. writes are idempotent: the same change twice succeeds twice and reads back the same, and
   a no-op write leaves every other field as it was;
5. every fault the sandbox injects is classified: the adapter recovers (and the result is
   right) or raises the `ConnectorError` subclass — or returns the per-record result — that
   tells the caller what to do;
6. a record deleted in the CRM is `gone` on every write path: records, volume (Salesforce:
   Bulk API 2.0; Zoho: several PUT calls) and users.

The truth each check compares with is read from the CRM's own wire API (`Crm.stamps`), not
through the adapter under test."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import pytest
from contract_checks import assert_exactly_once, assert_ordered, records_of
from crm_fixture import Crm

from presales_sync.connector import (
    AuthError,
    Connector,
    ConnectorError,
    LimitExceededError,
    Page,
    RecordChange,
    RetryableError,
    WriteResult,
)

FAR_FUTURE = datetime.fromisoformat("2999-01-01T00:00:00+00:00")


def read(connector: Connector, crm: Crm, since: datetime | None) -> list[Page]:
    return list(connector.read_changed(object_name=crm.object, fields=crm.read_fields, since=since))


def by_id(connector: Connector, crm: Crm, ids: Sequence[str]) -> dict[str, dict[str, object]]:
    """The records' read fields, read back by id through the adapter."""
    pages: Iterator[Page] = connector.read_ids(object_name=crm.object, fields=crm.read_fields, ids=ids)
    return {r.id: {k: r.fields.get(k) for k in crm.read_fields} for page in pages for r in page.records}


def ok(results: Sequence[WriteResult]) -> list[tuple[str, bool]]:
    return [(r.id, r.ok) for r in results]


def message(tag: str) -> str:
    return f"contract {tag} {time.monotonic_ns()}"


def targets(crm: Crm, n: int, *, skip: int = 0) -> list[str]:
    """`n` ids of the org in id order from position `skip` (edits do not move them; a
    record deleted by an earlier test drops out). Tests keep to ranges of their own."""
    return sorted(crm.stamps())[skip : skip + n]


# -- 1. paging ends ---------------------------------------------------------------------------


def test_a_full_read_over_several_pages_hands_out_every_record_once(crm: Crm) -> None:
    truth = crm.stamps()
    assert len(truth) > 2 * crm.page_size  # several pages, or the test proves nothing
    pages = read(crm.connect(), crm, None)
    assert len([p for p in pages if p.records]) >= 3
    assert all(len(p.records) <= crm.page_size for p in pages)
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert_exactly_once(records_of(pages), truth)
    assert_ordered(pages)


def test_a_full_read_continued_by_the_crm_s_other_read_path_hands_out_every_record_once(crm: Crm) -> None:
    """Salesforce: a full read of more than ``bulk_read_threshold`` records (lowered to 300)
    continues after its first page through a Bulk API 2.0 query job; Zoho: past the tenth
    page the read continues with ``page_token`` (as every full read of this org does)."""
    truth = crm.stamps()
    connector = crm.connect(bulk_read_threshold=300)
    pages = read(connector, crm, None)
    assert_exactly_once(records_of(pages), truth)
    assert_ordered(pages)
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    if crm.kind == "salesforce":
        assert connector.api_calls().get("bulk_query_create") == 1, connector.api_calls()
    else:
        assert connector.api_calls()["get_records"] > 10


def test_an_empty_read_hands_out_nothing_and_ends(crm: Crm) -> None:
    connector = crm.connect()
    pages = read(connector, crm, FAR_FUTURE)
    assert records_of(pages) == []
    assert len(pages) <= 1  # at most the one empty answer, never a loop
    assert sum(connector.api_calls().get(f, 0) for f in ("query", "query_more", "get_records")) == 1


def test_reading_is_lazy_a_page_is_fetched_when_asked_for(crm: Crm) -> None:
    connector = crm.connect()
    pages = connector.read_changed(object_name=crm.object, fields=crm.read_fields, since=None)
    first = next(pages)
    calls = dict(connector.api_calls())
    assert first.records and first.number == 1
    next(pages)
    assert sum(connector.api_calls().values()) == sum(calls.values()) + 1


def test_a_read_by_ids_hands_out_each_record_once_and_leaves_a_deleted_one_out(crm: Crm) -> None:
    ids = targets(crm, 30, skip=100)
    crm.delete(ids[7])
    truth = crm.stamps()
    connector = crm.connect()
    asked = [*ids, ids[3], ids[12]]  # an id asked twice is handed out once
    got = [r for page in connector.read_ids(object_name=crm.object, fields=crm.read_fields, ids=asked)
           for r in page.records]
    assert_exactly_once(got, {i: truth[i] for i in ids if i != ids[7]})


# -- 2. `since` honoured ------------------------------------------------------------------------


def test_since_is_a_closed_lower_bound(crm: Crm) -> None:
    edited = targets(crm, 30, skip=60)
    crm.edit(edited[:10], {crm.f("Presales_Message__c"): message("since-a")})
    crm.clock.step(1.05)  # both CRMs stamp whole seconds: a later second for the rest
    crm.edit(edited[10:], {crm.f("Presales_Message__c"): message("since-b")})
    truth = crm.stamps()
    since = truth[edited[0]]
    connector = crm.connect()

    pages = read(connector, crm, since)
    assert_exactly_once(records_of(pages), {i: s for i, s in truth.items() if s >= since})
    assert set(edited) <= {r.id for r in records_of(pages)}  # the record stamped `since` itself too
    assert_ordered(pages)

    # a bound past a stamp's second leaves the records of that second out
    later = since + timedelta(milliseconds=500)
    got = records_of(read(connector, crm, later))
    assert_exactly_once(got, {i: s for i, s in truth.items() if s >= later})
    assert not {r.id for r in got} & set(edited[:10])


def test_since_in_the_middle_of_the_org_reads_the_newer_half(crm: Crm) -> None:
    truth = crm.stamps()
    since = sorted(truth.values())[len(truth) // 2]
    pages = read(crm.connect(), crm, since)
    assert_exactly_once(records_of(pages), {i: s for i, s in truth.items() if s >= since})
    assert_ordered(pages)


# -- 3. boundary ties -------------------------------------------------------------------------


def test_records_tied_on_one_stamp_across_page_boundaries_all_come_back_once(crm: Crm) -> None:
    # A few records, then, in one later second, more tied records than a page holds: the
    # read from the first stamp meets the tie inside its first page and the tie runs on
    # past at least one page boundary.
    lead = targets(crm, crm.page_size // 4, skip=120)
    tied = targets(crm, crm.write_call + crm.page_size // 4, skip=120 + len(lead))
    crm.edit(lead, {crm.f("Presales_Message__c"): message("tie-lead")})
    with crm.clock.held_at_next_second():  # both CRMs stamp whole seconds: one stamp for all
        crm.edit(tied, {crm.f("Presales_Message__c"): message("tie")})  # two write calls
    truth = crm.stamps()
    assert len({truth[i] for i in tied}) == 1, "the tie's write calls fell in two seconds"
    assert len(tied) > crm.page_size and max(truth[i] for i in lead) < truth[tied[0]]

    since = min(truth[i] for i in lead)
    pages = read(crm.connect(), crm, since)
    assert_exactly_once(records_of(pages), {i: s for i, s in truth.items() if s >= since})
    assert_ordered(pages)
    holding = [p.number for p in pages if set(tied) & {r.id for r in p.records}]
    assert len(holding) >= 2, "the tie fits one page: the test proves nothing"

    # and a read from the tied stamp itself: the tie alone, spread over pages, each once
    pages = read(crm.connect(), crm, truth[tied[0]])
    assert_exactly_once(records_of(pages), {i: truth[i] for i in tied})
    assert len([p for p in pages if p.records]) >= 2


# -- 4. idempotent writes ------------------------------------------------------------------------


def test_the_same_change_written_twice_succeeds_twice_and_reads_back_the_same(crm: Crm) -> None:
    ids = targets(crm, 3, skip=10)
    connector = crm.connect()
    text = message("twice")
    values = {crm.f("Presales_Message__c"): text, crm.f("Presales_Step__c"): "Presentation"}
    changes = [RecordChange(i, values) for i in ids]
    first = connector.write(object_name=crm.object, changes=changes)
    after_first = by_id(connector, crm, ids)
    second = connector.write(object_name=crm.object, changes=changes)
    after_second = by_id(connector, crm, ids)
    assert ok(first) == ok(second) == [(i, True) for i in ids]
    assert after_first == after_second
    assert {v[crm.f("Presales_Message__c")] for v in after_second.values()} == {text}
    assert {v[crm.f("Presales_Step__c")] for v in after_second.values()} == {"Presentation"}


def test_a_no_op_write_leaves_every_other_field_alone(crm: Crm) -> None:
    ids = targets(crm, 2, skip=20)
    connector = crm.connect()
    crm.edit(ids, {crm.f("Presales_Step__c"): "Feedback", "Amount": 12345})
    before = by_id(connector, crm, ids)
    field = crm.f("Presales_Message__c")
    same = [RecordChange(i, {field: before[i][field]}) for i in ids]
    results = connector.write(object_name=crm.object, changes=same)
    assert ok(results) == [(i, True) for i in ids]
    assert by_id(connector, crm, ids) == before


# -- 5. every injected fault classified -----------------------------------------------------------
#
# Per fault: the spec, where it strikes (read or write), and what the contract says the
# caller sees. "recovers" means the adapter's result is exactly the fault-free one.


def _write_and_check(crm: Crm, connector: Connector, ids: Sequence[str], tag: str) -> list[WriteResult]:
    text = message(tag)
    results = connector.write(object_name=crm.object,
                              changes=[RecordChange(i, {crm.f("Presales_Message__c"): text}) for i in ids])
    written = crm.values(ids, crm.f("Presales_Message__c"))
    assert [r.id for r in results if r.ok and written[r.id] != text] == [], "reported written, and not"
    return results


def _write_family(crm: Crm) -> str:
    return "zoho_records_put" if crm.kind == "zoho" else "composite_sobjects"


def _read_family(crm: Crm) -> str:
    return "zoho_records_get" if crm.kind == "zoho" else "query"


@pytest.mark.parametrize("fault", [
    "server_error@{read}:status=503,times=2",
    "server_error@{read}:status=500,times=2",
    "latency@{read}:seconds=1.2,times=1",
    "lost_response@{read}:times=1",
])
def test_a_transient_fault_on_a_read_is_recovered(crm: Crm, fault: str) -> None:
    connector = crm.connect(timeout=1.0)
    truth = crm.stamps()
    crm.set_faults(fault.format(read=_read_family(crm)))
    pages = read(connector, crm, None)
    assert crm.faults_fired() == [int(fault.rsplit("times=", 1)[1])]
    assert_exactly_once(records_of(pages), truth)


@pytest.mark.parametrize("fault", [
    "server_error@{write}:status=503,times=2",
    "server_error@{write}:status=500,times=1",
    "latency@{write}:seconds=1.2,times=1",
    "lost_response@{write}:times=1",  # committed, answer lost: sent again, nothing doubled
])
def test_a_transient_fault_on_a_write_is_recovered(crm: Crm, fault: str) -> None:
    connector = crm.connect(timeout=1.0)
    ids = targets(crm, 3, skip=30)
    crm.set_faults(fault.format(write=_write_family(crm)))
    results = _write_and_check(crm, connector, ids, "transient")
    assert crm.faults_fired() == [int(fault.rsplit("times=", 1)[1])]
    assert ok(results) == [(i, True) for i in ids]


@pytest.mark.parametrize("fault", [
    "server_error@{read}:status=503,times=0",
    "server_error@{read}:status=500,times=0",
    "latency@{read}:seconds=1.2,times=0",
    "lost_response@{read}:times=0",
])
def test_a_transient_fault_that_persists_is_retryable(crm: Crm, fault: str) -> None:
    connector = crm.connect(timeout=1.0, max_retries=2)
    crm.set_faults(fault.format(read=_read_family(crm)))
    with pytest.raises(RetryableError):
        read(connector, crm, None)
    assert crm.faults_fired() == [2]  # max_retries attempts, then the caller is told


def test_a_write_whose_answers_are_all_lost_is_retryable_and_commits_once(crm: Crm) -> None:
    connector = crm.connect(max_retries=2)
    ids = targets(crm, 2, skip=35)
    text = message("lost")
    crm.set_faults(f"lost_response@{_write_family(crm)}:times=0")
    with pytest.raises(RetryableError):
        connector.write(object_name=crm.object, changes=[RecordChange(i, {crm.f("Presales_Message__c"): text})
                                                         for i in ids])
    crm.clear_faults()
    assert set(crm.values(ids, crm.f("Presales_Message__c")).values()) == {text}


def test_a_session_expiring_mid_run_costs_one_login_and_the_run_goes_on(crm: Crm) -> None:
    connector = crm.connect()
    truth = crm.stamps()
    since = sorted(truth.values())[len(truth) // 3]  # a read of several pages, not the whole org
    ids = targets(crm, 2, skip=40)
    connector.current_user()

    def logins() -> int:
        return connector.api_calls().get("oauth_token", 0)

    before = logins()
    # between two pages of a read: Salesforce's queryMore, Zoho's second Get Records page
    next_page = "query_more" if crm.kind == "salesforce" else "zoho_records_get:after=1,"
    crm.set_faults(f"session_expired@{next_page.rstrip(',')}{',' if ':' in next_page else ':'}times=1")
    pages = read(connector, crm, since)
    assert len(pages) >= 2
    assert_exactly_once(records_of(pages), {i: s for i, s in truth.items() if s >= since})
    assert (crm.faults_fired(), logins()) == ([1], before + 1)
    crm.set_faults(f"session_expired@{_write_family(crm)}:times=1")
    assert ok(_write_and_check(crm, connector, ids, "relogin")) == [(i, True) for i in ids]
    assert (crm.faults_fired(), logins()) == ([1], before + 2)


def test_a_session_refused_after_a_fresh_login_is_an_auth_error(crm: Crm) -> None:
    connector = crm.connect()
    crm.set_faults(f"session_expired@{_read_family(crm)}:times=0")
    with pytest.raises(AuthError):
        read(connector, crm, None)
    assert crm.faults_fired() == [2]  # once with the old session, once with the new one


def test_an_expired_session_that_cannot_be_renewed_is_an_auth_error(crm: Crm) -> None:
    connector = crm.connect(refreshable=crm.kind == "zoho")  # Zoho's refresh token always renews
    crm.set_faults(f"session_expired@{_read_family(crm)}:times=1")
    if crm.kind == "zoho":
        assert records_of(read(connector, crm, FAR_FUTURE)) == []
        return
    with pytest.raises(AuthError, match="PRESALES_SF_SESSION_ID"):
        read(connector, crm, FAR_FUTURE)


def test_throttling_is_retried_or_stops_the_run(crm: Crm) -> None:
    """The sandbox's ``rate_limit``: Salesforce's 403 REQUEST_LIMIT_EXCEEDED is the day's
    allowance spent, never retried (it would burn what other integrations need); Zoho's
    429 TOO_MANY_REQUESTS without credits reported gone is throttling, backed off."""
    connector = crm.connect()
    truth = crm.stamps()
    crm.set_faults(f"rate_limit@{_read_family(crm)}:times=2")
    if crm.kind == "zoho":
        assert_exactly_once(records_of(read(connector, crm, None)), truth)
        assert crm.faults_fired() == [2]
        return
    with pytest.raises(LimitExceededError) as caught:
        read(connector, crm, None)
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert crm.faults_fired() == [1]


def test_the_daily_limit_spent_stops_the_run_without_retrying(crm: Crm) -> None:
    connector = crm.connect()
    connector.current_user()  # logged in before the allowance runs out
    calls = sum(connector.api_calls().values())
    undo = crm.exhaust_daily_limit()
    try:
        with pytest.raises(LimitExceededError):
            read(connector, crm, None)
        assert sum(connector.api_calls().values()) == calls + 1  # one refused call, no retry
    finally:
        undo()


def test_a_row_lock_is_retried_or_reported_retryable_for_that_record_alone(crm: Crm) -> None:
    connector = crm.connect()
    ids = targets(crm, 3, skip=45)
    crm.set_faults(f"lock_row:records={ids[1]},times=1")
    results = _write_and_check(crm, connector, ids, "lock-once")
    assert [r.ok for r in results][0::2] == [True, True]
    locked = results[1]
    # Salesforce sends a row-locked record once more itself; Zoho hands it back, retryable
    assert locked.ok or (locked.retryable and not locked.gone and locked.error_code == "RECORD_LOCKED")


def test_a_row_lock_that_persists_is_a_retryable_record_result(crm: Crm) -> None:
    connector = crm.connect()
    ids = targets(crm, 3, skip=50)
    crm.set_faults(f"lock_row:records={ids[0]},times=0")
    results = _write_and_check(crm, connector, ids, "lock-always")
    assert ok(results) == [(ids[0], False), (ids[1], True), (ids[2], True)]
    assert (results[0].retryable, results[0].gone) == (True, False)
    assert results[0].error_code == ("RECORD_LOCKED" if crm.kind == "zoho" else "UNABLE_TO_LOCK_ROW")


@pytest.mark.parametrize("times", [1, 0])
def test_a_row_lock_on_the_volume_write_path_is_met_and_retried_or_reported(crm: Crm, times: int) -> None:
    """Salesforce: a Bulk API 2.0 ingest job's row that fails with UNABLE_TO_LOCK_ROW (in
    ``failedResults``) is sent once more through sObject Collections, and reported retryable
    if still locked; Zoho: a record of the second PUT call is handed back RECORD_LOCKED,
    retryable."""
    n = 3 if crm.kind == "salesforce" else crm.write_call + 3
    ids = targets(crm, n, skip=55)
    connector = crm.connect(bulk_write_threshold=2)
    crm.set_faults(f"lock_row:records={ids[-2]},times={times}")
    results = _write_and_check(crm, connector, ids, "lock-volume")
    fired = crm.faults_fired()
    assert fired[0] >= 1, "the write never met the lock"
    assert all(r.ok for r in results if r.id != ids[-2])
    locked = results[-2]
    if crm.kind == "salesforce":
        # one follow-up batch, as on the sObject Collections path: two tries in all
        assert connector.api_calls().get("composite_sobjects") == 1, connector.api_calls()
    if crm.kind == "salesforce" and times == 1:
        assert locked.ok
        return
    code = "RECORD_LOCKED" if crm.kind == "zoho" else "UNABLE_TO_LOCK_ROW"
    assert (locked.ok, locked.retryable, locked.gone, locked.error_code) == (False, True, False, code)


#: The test that classifies each of the sandbox's fault kinds.
FAULT_TESTS = {
    "rate_limit": (test_throttling_is_retried_or_stops_the_run,
                   test_the_daily_limit_spent_stops_the_run_without_retrying),
    "server_error": (test_a_transient_fault_on_a_read_is_recovered,
                     test_a_transient_fault_on_a_write_is_recovered,
                     test_a_transient_fault_that_persists_is_retryable),
    "session_expired": (test_a_session_expiring_mid_run_costs_one_login_and_the_run_goes_on,
                        test_a_session_refused_after_a_fresh_login_is_an_auth_error,
                        test_an_expired_session_that_cannot_be_renewed_is_an_auth_error),
    "lock_row": (test_a_row_lock_is_retried_or_reported_retryable_for_that_record_alone,
                 test_a_row_lock_that_persists_is_a_retryable_record_result,
                 test_a_row_lock_on_the_volume_write_path_is_met_and_retried_or_reported),
    "latency": (test_a_transient_fault_on_a_read_is_recovered,
                test_a_transient_fault_on_a_write_is_recovered,
                test_a_transient_fault_that_persists_is_retryable),
    "lost_response": (test_a_transient_fault_on_a_read_is_recovered,
                      test_a_transient_fault_on_a_write_is_recovered,
                      test_a_transient_fault_that_persists_is_retryable,
                      test_a_write_whose_answers_are_all_lost_is_retryable_and_commits_once),
}


def test_every_fault_kind_of_the_sandbox_has_its_tests(crm: Crm) -> None:
    """A fault kind added to the sandbox fails here until this suite classifies it."""
    assert sorted(crm.fault_kinds()) == sorted(FAULT_TESTS)


# -- 6. deleted on every write path -------------------------------------------------------------------


def _deleted_is_gone(crm: Crm, connector: Connector, ids: Sequence[str], deleted: str,
                     object_name: str) -> None:
    text = message("gone")
    users = object_name == crm.user_object
    field = crm.f("Presales_KPI_Period__c" if users else "Presales_Message__c")
    value = "2026Q4" if users else text
    results = connector.write(object_name=object_name, changes=[RecordChange(i, {field: value}) for i in ids])
    assert [r.id for r in results] == list(ids)
    gone = [r for r in results if r.id == deleted]
    assert [(r.ok, r.gone, r.retryable) for r in gone] == [(False, True, False)] * len(gone), gone
    assert all(r.ok for r in results if r.id != deleted), results


def _delete(crm: Crm, record_id: str, how: str) -> None:
    if how == "to the recycle bin":
        crm.delete(record_id)
    else:
        crm.delete_for_good(record_id)


DELETIONS = ("to the recycle bin", "for good")


@pytest.mark.parametrize("how", DELETIONS)
def test_a_deleted_record_is_gone_on_the_record_write_path(crm: Crm, how: str) -> None:
    ids = targets(crm, 3, skip=70)
    _delete(crm, ids[1], how)
    _deleted_is_gone(crm, crm.connect(), ids, ids[1], crm.object)


@pytest.mark.parametrize("how", DELETIONS)
def test_a_deleted_record_is_gone_on_the_volume_write_path(crm: Crm, how: str) -> None:
    """Salesforce: past ``bulk_write_threshold`` (lowered to 2) the write is a Bulk API 2.0
    ingest job; Zoho has one record write, so volume is more than one PUT call (100 each),
    the deleted record in the second."""
    n = 3 if crm.kind == "salesforce" else crm.write_call + 3
    ids = targets(crm, n, skip=80)
    _delete(crm, ids[-2], how)
    connector = crm.connect(bulk_write_threshold=2)
    _deleted_is_gone(crm, connector, ids, ids[-2], crm.object)
    calls = connector.api_calls()
    if crm.kind == "salesforce":
        assert calls.get("composite_sobjects", 0) == 0 and any(k.startswith("bulk") for k in calls), calls
    else:
        assert calls["update_records"] == 2


def test_a_user_gone_from_the_crm_is_gone_on_the_user_write_path(crm: Crm) -> None:
    """Neither CRM deletes users (they are deactivated, and stay writable): a user id the
    org does not have is what "gone" means on this path."""
    users = crm.user_ids()[:2]
    missing = crm.missing_user_id()
    _deleted_is_gone(crm, crm.connect(), [users[0], missing, users[1]], missing, crm.user_object)


def test_a_write_error_is_a_connector_error_never_a_transport_one(crm: Crm) -> None:
    """The contract's floor: with every call refused, what leaves the adapter is ours."""
    connector = crm.connect(max_retries=1)
    [target] = targets(crm, 1)
    crm.set_faults("server_error:status=500,times=0")
    with pytest.raises(ConnectorError) as caught:
        connector.write(object_name=crm.object, changes=[RecordChange(target, {})])
    assert type(caught.value).__module__.startswith("presales_sync.connector")
