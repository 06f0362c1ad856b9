"""Shared fixtures: store URLs for SQLite and for the PostgreSQL server `make test` starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pg_url() -> str | None:
    return os.environ.get("PRESALES_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
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
