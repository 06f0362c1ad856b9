"""The KPI tables on SQLite and PostgreSQL: activities de-duplicated, scores with the
manager's inputs kept apart from the computed values."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from presales_sync.sync.store import ActivityRow, Store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()


def test_kpi_tables_exist(store: Store) -> None:
    assert {"activities", "kpi_scores"} <= set(sa.inspect(store.engine).get_table_names())


def test_activities_are_added_once_and_read_by_day_range(store: Store) -> None:
    rows = [ActivityRow("005A", date(2026, 10, 3), "document", "Bank DR template", "https://kb/1"),
            ActivityRow("005A", date(2026, 12, 31), "training", "K8s course", None),
            ActivityRow("005B", date(2026, 9, 30), "sharing", "Q3 lessons", None)]
    with store.begin() as conn:
        assert store.add_activities(conn, [*rows, rows[0]], T0) == 3
    with store.begin() as conn:
        assert store.add_activities(conn, rows, T0) == 0  # re-import adds nothing
        q4 = store.activities(conn, date(2026, 10, 1), date(2027, 1, 1))
    assert [a for _, a in q4] == rows[:2]
    assert len({i for i, _ in q4}) == 2


def test_scores_update_only_the_given_columns(store: Store) -> None:
    with store.begin() as conn:
        store.save_kpi_score(conn, "2026Q4", "005A", {"behaviour_score": 90, "calibrated_band": "良好",
                                                      "calibration_note": "calibration meeting"}, T0)
        store.save_kpi_score(conn, "2026Q4", "005A", {"raw_score": 61.5, "kpi_score": 58.0, "band": "合格",
                                                      "detail": {"metrics": [1, 2]}}, T0)
    with store.begin() as conn:
        row = store.kpi_scores(conn, "2026Q4")["005A"]
        assert store.kpi_scores(conn, "2026Q3") == {}
    assert row["raw_score"] == 61.5
    assert (row["band"], row["calibrated_band"], row["behaviour_score"]) == ("合格", "良好", 90.0)
    assert row["detail"] == {"metrics": [1, 2]} and row["computed_at"].tzinfo is not None
