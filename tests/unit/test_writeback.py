"""One write-back path for every object (sync.writeback): `presales score` writes the
engineers' users through the mapping's `user:` map with the sync's ledger diff, API budget,
deleted-record handling and run record."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from presales_sync import mappings
from presales_sync.connector import ApiUsage, RecordChange, WriteResult
from presales_sync.mappings.fields import plugin_fields
from presales_sync.rules import Engineer, Level, RulesSettings
from presales_sync.rules.kpi import Period
from presales_sync.sync.config import Config, CrmConfig, Loaded
from presales_sync.sync.scoring import run_score
from presales_sync.sync.store import Store

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
Q4 = Period(2026, 4)
ENGINEERS = {f"005E{i}": Engineer(f"005E{i}", f"Engineer {i}", Level.SENIOR) for i in range(5)}


class Users:
    """The users of a CRM in memory: batched writes, one result per record, a daily allowance."""

    kind = "memory"

    def __init__(self, write_batch: int = 200, daily_limit: int | None = None):
        self.write_batch = write_batch
        self.daily_limit = daily_limit
        self.values: dict[str, dict[str, Any]] = {e: {} for e in ENGINEERS}
        self.calls = 0
        self.objects: list[str] = []

    @property
    def api_usage(self) -> ApiUsage | None:
        return None if self.daily_limit is None else ApiUsage(self.calls, self.daily_limit)

    def write(self, *, object_name: str, changes: Sequence[RecordChange]) -> list[WriteResult]:
        self.objects.append(object_name)
        out = []
        for start in range(0, len(changes), self.write_batch):
            self.calls += 1
            for c in changes[start:start + self.write_batch]:
                if c.id not in self.values:
                    out.append(WriteResult(c.id, False, "ENTITY_IS_DELETED", "entity is deleted", gone=True))
                    continue
                self.values[c.id].update(c.fields)
                out.append(WriteResult(c.id, True))
        return out

    def api_calls(self) -> dict[str, int]:
        return {"write": self.calls}


def _loaded(tmp_path: Path, mapping: mappings.Mapping | None = None) -> Loaded:
    return Loaded(path=tmp_path / "presales.yaml",
                  config=Config(crm=CrmConfig(instance_url="https://example.my.salesforce.com")),
                  mapping=mapping or mappings.load_mapping(mappings.default_mapping_path("salesforce")),
                  rules=RulesSettings(), engineers=ENGINEERS, managers=frozenset())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    yield s
    s.close()


def _renamed_mapping(tmp_path: Path) -> mappings.Mapping:
    data = yaml.safe_load(mappings.default_mapping_path("salesforce").read_text(encoding="utf-8"))
    data["user"]["outbound"]["kpi_score"] = {"field": "Team_Score__c", "type": "number", "scale": 1}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return mappings.load_mapping(path)


def test_score_writes_the_fields_the_user_map_names_and_a_second_run_writes_nothing(
        tmp_path: Path, store: Store) -> None:
    crm = Users()
    loaded = _loaded(tmp_path, _renamed_mapping(tmp_path))
    first = run_score(loaded, store, crm, Q4, now=NOW)
    assert first.written == 5 and crm.objects == ["User"]
    assert set(crm.values["005E0"]) == {"Team_Score__c", "Presales_Rating__c", "Presales_KPI_Period__c"}
    assert crm.values["005E0"]["Presales_KPI_Period__c"] == "2026Q4"
    again = run_score(loaded, store, crm, Q4, now=NOW)
    assert (again.written, again.changes, crm.calls) == (0, [], 1)


def test_install_creates_the_user_fields_the_mapping_names(tmp_path: Path) -> None:
    fields = plugin_fields(_renamed_mapping(tmp_path))
    assert "Team_Score__c" in {f.name for f in fields["User"]}
    assert "Presales_KPI_Score__c" not in {f.name for f in fields["User"]}
    zoho = plugin_fields(mappings.load_mapping(mappings.default_mapping_path("zoho")))
    assert "Presales_KPI_Score" in {f.name for f in zoho["users"]}


def test_a_mapping_copied_before_the_user_map_existed_writes_the_shipped_user_fields(tmp_path: Path) -> None:
    for crm in ("salesforce", "zoho"):
        data = yaml.safe_load(mappings.default_mapping_path(crm).read_text(encoding="utf-8"))
        shipped = mappings.load_mapping(mappings.default_mapping_path(crm)).user
        del data["user"]
        path = tmp_path / f"old-{crm}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        assert mappings.load_mapping(path).user == shipped


def test_a_user_map_without_a_required_field_names_it(tmp_path: Path) -> None:
    data = yaml.safe_load(mappings.default_mapping_path("salesforce").read_text(encoding="utf-8"))
    del data["user"]["outbound"]["rating"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(mappings.FileProblems, match=r"user\.outbound\.rating"):
        mappings.load_mapping(path)


def test_score_stops_at_the_api_budget_counting_the_crm_s_batch_and_the_next_run_resumes(
        tmp_path: Path, store: Store) -> None:
    # 5 users, 2 a call: 3 calls to write them all; the budget (25% of 8 a run) allows 2
    crm = Users(write_batch=2, daily_limit=8)
    loaded = _loaded(tmp_path)
    first = run_score(loaded, store, crm, Q4, now=NOW)
    assert first.written == 4 and first.stopped and "API budget reached" in first.stopped
    assert first.exit_code == 1 and first.as_dict()["stopped"] == first.stopped
    crm.calls = 0  # a new day
    second = run_score(loaded, store, crm, Q4, now=NOW)
    assert (second.written, second.stopped, second.exit_code) == (1, None, 0)
    assert all(v for v in crm.values.values())


def test_a_user_gone_from_the_crm_is_parked_as_deleted_not_as_a_failed_write(
        tmp_path: Path, store: Store) -> None:
    crm = Users()
    del crm.values["005E3"]
    report = run_score(_loaded(tmp_path), store, crm, Q4, now=NOW)
    assert report.written == 4 and report.exit_code == 1
    assert [(r, c) for r, c, _ in report.failures] == [("005E3", "DELETED")]
    with store.begin() as conn:
        (queued,) = store.failures(conn)
    assert (queued["object"], queued["record_id"], queued["error_code"]) == ("User", "005E3", "DELETED")


def test_score_keeps_the_same_run_record_as_sync(tmp_path: Path, store: Store) -> None:
    dead = store.start_run("default", "sync", NOW, False)  # a run whose process died
    report = run_score(_loaded(tmp_path), store, Users(), Q4, now=NOW)
    with store.begin() as conn:
        runs = {r["id"]: r for r in store.recent_runs(conn)}
        assert conn.exec_driver_sql("select count(*) from run_locks").scalar() == 0
    assert runs[dead]["error"].startswith("abandoned")
    (mine,) = [r for i, r in runs.items() if i != dead]
    assert (mine["kind"], mine["exit_code"], mine["counts"]["written"]) == ("score", 0, report.written)
