"""Fuzzing (hypothesis) of a damaged store file: any byte flipped, any cut. Opening it and
reading it migrates it forward or ends in our own `StoreError` naming the file; a store that
is refused is left byte for byte as it was. Never a traceback from SQLite or Alembic.

A store is made once per session at the schema of this version (Alembic's migrations run
from an empty file) and copied for every example. Budget: ``PRESALES_FUZZ_EXAMPLES``."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from presales_sync.sync.store import Store, StoreError

EXAMPLES = int(os.environ.get("PRESALES_FUZZ_EXAMPLES", "300"))
# each example opens a SQLite file and may run the migrations: a tenth of the text budget
FUZZ = settings(max_examples=max(20, EXAMPLES // 10), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def _template() -> bytes:
    """A migrated store holding a cursor and a state row, as bytes (WAL checkpointed)."""
    folder = Path(tempfile.mkdtemp(prefix="presales-fuzz-store-"))
    try:
        store = Store.open(f"sqlite:///{folder / 'presales.db'}")
        with store.begin() as conn:
            store.set_state(conn, "fuzz", {"seeded": True})
        store.close()
        return (folder / "presales.db").read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@FUZZ
@given(data=st.data())
def test_a_damaged_store_opens_or_is_refused_untouched(data: st.DataObject) -> None:
    original = _template()
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(original))), label="cut")
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)),
                               max_size=6), label="flips")
    damaged = bytearray(original)
    for offset, value in flips:
        damaged[offset] = value
    if cut is not None:
        del damaged[cut:]
    folder = Path(tempfile.mkdtemp(prefix="presales-fuzz-store-"))
    path = folder / "presales.db"
    path.write_bytes(bytes(damaged))
    try:
        try:
            store = Store.open(f"sqlite:///{path}")
        except StoreError as err:  # refused at the door: named, and not a byte changed
            assert str(path) in str(err)
            assert path.read_bytes() == bytes(damaged)
            return
        try:
            with store.begin() as conn:  # damage found while reading is named too
                store.all_cursors(conn)
                store.count_tasks(conn)
                store.get_state(conn, "fuzz")
        except StoreError as err:
            assert str(path) in str(err)
        finally:
            store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
