"""The engine against a store that misbehaves or records that repeat: a full disk rolls the
page in flight back and the next run finishes the job; a record repeated within a page or
across pages is applied once, from its newest copy."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_engine import ENGINEERS, NOW, MemoryCRM

from presales_sync import mappings
from presales_sync.connector import Page, RemoteRecord
from presales_sync.rules import RulesSettings
from presales_sync.sync.config import Config, CrmConfig, Loaded, SyncConfig
from presales_sync.sync.engine import run_sync
from presales_sync.sync.store import Store, StoreUnavailable


@pytest.fixture
def loaded(tmp_path: Path) -> Loaded:
    return Loaded(path=tmp_path / "presales.yaml",
                  config=Config(crm=CrmConfig(instance_url="https://example.my.salesforce.com"),
                                sync=SyncConfig(lookback_seconds=0)),
                  mapping=mappings.load_mapping(mappings.default_mapping_path("salesforce")),
                  rules=RulesSettings(), engineers=ENGINEERS, managers=frozenset())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    yield s
    s.close()


def _deals(n: int, name_size: int = 10) -> dict[str, dict[str, Any]]:
    return {f"006{i:03d}": {"Name": f"Deal {i} " + "x" * name_size, "IsClosed": False, "IsWon": False,
                            "Presales_Requested__c": True, "LastModifiedById": "005SALES"}
            for i in range(n)}


class RepeatingCRM(MemoryCRM):
    """Pages as a CRM paging by offset serves them while people edit: `repeat` ids come twice
    in the first page (an older copy first) and once more at the top of the next page."""

    def __init__(self, records: dict[str, dict[str, Any]], repeat: Sequence[str], page_size: int = 3):
        super().__init__(records, page_size)
        self.repeat = list(repeat)

    def read_changed(self, *, object_name: str, fields: Sequence[str],
                     since: datetime | None) -> Iterator[Page]:
        for n, page in enumerate(super().read_changed(object_name=object_name, fields=fields, since=since)):
            if n == 0:
                old = [RemoteRecord(r.id, r.stamp - timedelta(minutes=5), {**r.fields, "Name": "stale"})
                       for r in page.records if r.id in self.repeat]
                yield Page([*old, *page.records, *page.records[-1:]], page.number)
            elif n == 1:
                again = [self._current(rid, fields) for rid in self.repeat]
                yield Page([*again, *page.records], page.number)
            else:
                yield page

    def _current(self, rid: str, fields: Sequence[str]) -> RemoteRecord:
        return RemoteRecord(rid, self.stamps[rid], {f: self.records[rid].get(f) for f in fields})


def test_a_record_repeated_in_a_page_or_across_pages_is_applied_once(loaded: Loaded, store: Store) -> None:
    crm = RepeatingCRM(_deals(9), repeat=["006008", "006007"], page_size=4)  # the first page's ids
    report = run_sync(loaded, store, crm, now=NOW)
    assert report.failures == [] and report.exit_code == 0
    assert report.counts["repeated_in_page"] == 3
    with store.begin() as conn:
        assert store.count_tasks(conn) == 9
        names = store.opportunity_values(conn, ["006008", "006007"])
    assert {v["name"] for v in names.values()} == {"Deal 8 xxxxxxxxxx", "Deal 7 xxxxxxxxxx"}
    assert all(crm.records[r]["Presales_Step__c"] == "Requirements" for r in crm.records)


# -- a full disk ---------------------------------------------------------------------------

def _cap(store: Store, spare_pages: int | None) -> None:
    """Let the SQLite file grow by `spare_pages` pages (None: as much as it likes)."""
    store.engine.dispose()
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    limit = 1_073_741_823 if spare_pages is None else pages + spare_pages

    def _limit(dbapi_conn: sqlite3.Connection, _: object) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={limit}")

    for fn in list(getattr(store, "_caps", [])):
        sa.event.remove(store.engine, "connect", fn)
    sa.event.listen(store.engine, "connect", _limit)
    store._caps = [_limit]  # type: ignore[attr-defined]
    store.engine.dispose()


def _store_state(store: Store) -> tuple[Any, ...]:
    with store.begin() as conn:
        return (store.get_cursor(conn, "default", "Opportunity"), store.count_tasks(conn),
                store.failures(conn), conn.exec_driver_sql("PRAGMA integrity_check").scalar_one())


def test_a_full_disk_rolls_the_page_back_exits_3_and_the_next_run_finishes(
        loaded: Loaded, store: Store) -> None:
    crm = MemoryCRM(_deals(40, name_size=3000), page_size=4)
    _cap(store, 40)
    with pytest.raises(StoreUnavailable, match="is full") as caught:
        run_sync(loaded, store, crm, now=NOW)
    assert "rolled back" in str(caught.value) and "next run resumes" in str(caught.value)
    cursor, tasks, failures, integrity = _store_state(store)
    assert integrity == "ok" and failures == []  # nothing quarantined as a "bad record"
    assert cursor is not None and 0 < tasks < 40  # some pages committed, the page in flight not
    committed = sorted(crm.stamps.values())
    assert tasks == sum(1 for s in committed if s <= cursor) and tasks % 4 == 0
    assert crm.calls.get("composite_sobjects", 0) == 0

    _cap(store, None)  # space freed
    report = run_sync(loaded, store, crm, now=NOW + timedelta(minutes=5))
    assert report.exit_code == 0 and report.failures == []
    cursor, tasks, failures, integrity = _store_state(store)
    assert (tasks, failures, integrity) == (40, [], "ok")
    assert all(crm.records[r]["Presales_Step__c"] == "Requirements" for r in crm.records)
    with store.begin() as conn:
        runs = store.recent_runs(conn)
    assert runs[0]["exit_code"] == 0 and runs[1]["finished_at"] is not None  # closed or abandoned
