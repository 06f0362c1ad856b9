"""The run record every job keeps: `presales sync` and `presales score` alike.

A run takes the profile's lock (LockHeld when another run holds it), closes the records
of runs whose process died, and is recorded from start to finish with its exit code, its
counts and the API calls it spent — also when it fails, with the exit code the command
line gives that failure, so `presales status` and a cron job read the same outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from presales_sync.connector import ConfigError
from presales_sync.sync.store import Store, StoreError, StoreUnavailable, store_fault

log = logging.getLogger("presales.sync")

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_CRM = 0, 1, 2, 3


@dataclass
class RunRecord:
    """What the job reports when it ends well (its exit code and counts)."""

    id: int
    exit_code: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)

    def ended(self, exit_code: int, counts: dict[str, Any]) -> None:
        self.exit_code, self.counts = exit_code, counts


def exit_code_for(failure: BaseException | None) -> int:
    """The exit code a failed run is recorded with (the CLI's for the same error)."""
    admin = isinstance(failure, ConfigError | StoreError) and not isinstance(failure, StoreUnavailable)
    return EXIT_CONFIG if admin else EXIT_CRM


@contextmanager
def recorded_run(store: Store, profile: str, kind: str, *, now: datetime, dry_run: bool,
                 api_calls: Callable[[], dict[str, int]]) -> Iterator[RunRecord]:
    """Hold the profile's lock and keep the run's record around the body. A store error
    outside `Store.begin` (a dry run's own transaction) leaves as the store's fault."""
    store.acquire_lock(profile, now)
    store.abandon_unfinished_runs(profile, now)
    record = RunRecord(store.start_run(profile, kind, now, dry_run))
    failure: Exception | None = None
    try:
        yield record
    except SQLAlchemyError as err:
        failure = store_fault(err, store.where) or StoreUnavailable(f"store {store.where} failed: {err}")
        raise failure from err
    except Exception as err:
        failure = err
        raise
    finally:
        code = exit_code_for(failure) if failure is not None or record.exit_code is None else record.exit_code
        _record_end(store, profile, record.id, failure, now=datetime.now(now.tzinfo), exit_code=code,
                    counts=record.counts if failure is None else {}, api_calls=api_calls(),
                    error=None if failure is None else f"{type(failure).__name__}: {failure}")


def _record_end(store: Store, profile: str, run_id: int, failure: Exception | None,
                **end: Any) -> None:
    """Record the run's end and release the lock. After a failure (a full disk) the store may
    refuse these writes too: that is logged, not raised over the first error; the next run
    takes the dead process's lock over and closes its record as abandoned."""
    try:
        store.finish_run(run_id, **end)
    except StoreError as err:
        if failure is None:
            raise
        log.warning("could not record the end of run %s: %s", run_id, err)
    finally:
        try:
            store.release_lock(profile)
        except StoreError as err:
            if failure is None:
                raise
            log.warning("could not release the run lock of %s (the next run takes it over): %s",
                        profile, err)


__all__ = ["EXIT_CONFIG", "EXIT_CRM", "EXIT_OK", "EXIT_PARTIAL", "RunRecord", "exit_code_for", "recorded_run"]
