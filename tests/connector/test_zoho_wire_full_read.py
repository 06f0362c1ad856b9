"""The Zoho adapter's full read against the sandbox past Get Records' reach: one paged read
(page, then page_token) reaches 100,000 records and the next page is refused with
``PAGINATION_LIMIT_EXCEEDED``. Here the sandbox's reach is lowered to 500 over 1,300 deals
whose ``Modified_Time`` are tied in groups (Zoho stamps whole seconds), so the read must
continue from the last stamp it handed out, and skip the records it already handed out
at that second, several times."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import responses
from sandbox_seed import PLUGIN_ORG
from test_zoho_connector import API, Clock, add_tokens, calls_to, deal, make, query

from presales_sync.connector import FatalError
from presales_sync.connector.zoho import ZohoConnector, ZohoSettings, connect
from presales_sync.sandbox import Sandbox, ZohoLimits
from presales_sync.sandbox.zoho._store import ZohoStore

DEALS = 1300
REACH = 500
#: Records per second: the reach (500) ends inside a group each time.
TIED = 97
BASE = datetime(2026, 11, 2, 8, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sb = Sandbox(tmp_path_factory.mktemp("reach"), seed=DEALS,
                 zoho_limits=ZohoLimits(page_token_records=REACH), org=PLUGIN_ORG)
    sb.start()
    yield sb
    sb.stop()


def store_of(sb: Sandbox) -> ZohoStore:
    """The sandbox's own Zoho file: the truth a read is checked against."""
    return ZohoStore(sb.data_dir / "zoho.db")


def restamp(sb: Sandbox, stamp_of: dict[str, datetime]) -> None:
    store = store_of(sb)
    try:
        store.restamp("Deals", {rid: int(t.timestamp()) for rid, t in stamp_of.items()})
    finally:
        store.close()


def deal_ids(sb: Sandbox) -> list[str]:
    store = store_of(sb)
    try:
        return [r.id for r in store.all_rows("Deals")]
    finally:
        store.close()


def crm(sb: Sandbox) -> ZohoConnector:
    env = {"PRESALES_ZOHO_CLIENT_ID": sb.zoho_client_id, "PRESALES_ZOHO_CLIENT_SECRET": sb.zoho_client_secret,
           "PRESALES_ZOHO_REFRESH_TOKEN": sb.zoho_refresh_token}
    return connect(ZohoSettings(accounts_url=sb.zoho_accounts_url, ca_bundle=str(sb.ca_file)), env)


def read_all(connector: ZohoConnector, since: datetime | None = None) -> list[tuple[str, datetime]]:
    pages = connector.read_changed(object_name="Deals", fields=["Deal_Name", "Stage"], since=since)
    return [(r.id, r.stamp) for page in pages for r in page.records]


def test_a_full_read_past_the_reach_hands_out_every_record_once(box: Sandbox) -> None:
    ids = deal_ids(box)
    assert len(ids) == DEALS
    # in a shuffled order, so that the sandbox's tie order (by id) is not the order stamped
    order = sorted(ids, key=lambda rid: rid[::-1])
    stamps = {rid: BASE + timedelta(seconds=n // TIED) for n, rid in enumerate(order)}
    restamp(box, stamps)
    connector = crm(box)
    got = read_all(connector)
    counts = Counter(rid for rid, _stamp in got)
    assert not [rid for rid, n in counts.items() if n > 1]  # nothing twice
    assert set(counts) == set(ids)  # nothing missing
    assert all(stamp == stamps[rid] for rid, stamp in got)
    assert [s for _r, s in got] == sorted(s for _r, s in got)  # the cursor only moves forward
    # 1,300 records past a 500-record reach: at least two restarts, each refused once
    assert connector.api_calls()["get_records"] >= DEALS // 200 + 2

    # an incremental read from inside a tie is as exact: >= since, each record once
    since = BASE + timedelta(seconds=4)
    later = read_all(crm(box), since)
    assert sorted(rid for rid, _s in later) == sorted(rid for rid, s in stamps.items() if s >= since)


def test_more_ties_than_one_read_reaches_is_a_clear_error(box: Sandbox) -> None:
    ids = deal_ids(box)
    tied = {rid: BASE + timedelta(days=1) for rid in ids[: REACH + 10]}
    restamp(box, tied)
    with pytest.raises(FatalError, match="share Modified_Time") as info:
        read_all(crm(box), BASE + timedelta(days=1))
    assert info.value.code == "PAGINATION_LIMIT_EXCEEDED"


# -- the same against stubs: the request that continues, ties in another order ------------


def test_the_continuation_starts_at_the_last_stamp_and_skips_what_it_handed_out() -> None:
    reach = {"code": "PAGINATION_LIMIT_EXCEEDED", "details": {"limit": 3},
             "message": "pagination limit exceeded", "status": "error"}
    with responses.RequestsMock() as rsps:
        add_tokens(rsps)
        info = {"more_records": True, "next_page_token": "t1"}
        rsps.get(f"{API}/Deals", json={"data": [deal(1, "2026-11-20T10:00:00+08:00"),
                                                 deal(2, "2026-11-20T10:00:01+08:00"),
                                                 deal(3, "2026-11-20T10:00:01+08:00")], "info": info})
        rsps.get(f"{API}/Deals", status=400, json=reach)
        # the tie comes back in another order, with one record of it not handed out yet
        rsps.get(f"{API}/Deals", json={"data": [deal(5, "2026-11-20T10:00:01+08:00"),
                                                 deal(3, "2026-11-20T10:00:01+08:00"),
                                                 deal(2, "2026-11-20T10:00:01+08:00"),
                                                 deal(4, "2026-11-20T10:00:02+08:00")],
                                        "info": {"more_records": False}})
        pages = list(make(Clock()).read_changed(object_name="Deals", fields=["Deal_Name"], since=None))
        got = [r.id[-1] for p in pages for r in p.records]
        assert got == ["1", "2", "3", "5", "4"]
        first, refused, again = calls_to(rsps, API)
        assert "If-Modified-Since" not in first.request.headers
        assert query(refused)["page"] == ["2"]
        # a second before the stamp (Zoho's filter may be exclusive), from page 1 again
        assert again.request.headers["If-Modified-Since"] == "2026-11-20T02:00:00+00:00"
        assert query(again)["page"] == ["1"] and "page_token" not in query(again)
