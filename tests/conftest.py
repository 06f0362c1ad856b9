"""Shared fixtures: store URLs for SQLite and for the PostgreSQL server `make test` starts;
the `slow` marking of tests/e2e/ and the guard that keeps CLI processes out of the fast lane."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fast_lane import in_slow_folder, starts_the_cli

ROOT = Path(__file__).resolve().parent.parent


def _pg_url() -> str | None:
    return os.environ.get("PRESALES_TEST_PG_URL")


# The PostgreSQL half is marked `postgres`: the fast lane (`make test-fast`) leaves it out.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = _pg_url()
    if not url:
        # Never a skip: the PostgreSQL half of the store tests must run to count as passing.
        pytest.fail("PRESALES_TEST_PG_URL is not set: run the suite through `make test` "
                    "(or scripts/with-postgres pytest), which starts a throwaway server")
    import sqlalchemy as sa

    schema_db = f"t_{abs(hash(str(tmp_path))) % 10**10}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{schema_db}"'))
    admin.dispose()
    yield url.rsplit("/", 1)[0] + "/" + schema_db


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ is `slow` (see fast_lane.py); other slow tests say so."""
    for item in items:
        if in_slow_folder(item.path):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _the_cli_as_a_process_is_slow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test not marked `slow` that starts the `presales` command as a process fails: such a
    test belongs in `make test` only, not in the fast lane."""
    if request.node.get_closest_marker("slow"):
        return
    original = subprocess.Popen.__init__

    def guarded(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        if starts_the_cli(args):
            pytest.fail(f"{request.node.nodeid} starts the CLI as a process: mark it @pytest.mark.slow "
                        "(see tests/fast_lane.py)", pytrace=False)
        original(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
