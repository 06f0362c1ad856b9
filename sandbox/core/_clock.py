"""The sandbox's one source of time: every stamp, expiry and rate window reads a `Clock`.

A real CRM's clock runs on its own; a test of what happens *later* (an access token or a
page token expiring, a rolling credit window passing, a record stamped after another) should
not have to wait for it. So nothing in the sandbox calls `time.time()` or `datetime.now()`:
the `Sandbox` handle is given a clock (`SystemClock` by default) and hands it to every CRM's
API and store. A test passes a `ManualClock` and moves it with `advance()`.

Readings are seconds since the epoch, as `time.time()` gives them; `now_ms` and `utcnow`
are the shapes the stores and seeders use. Durations (cursor idle time, a Bulk job's
processing time) are measured on the same clock, so a manual clock also freezes them.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the sandbox reads the time from."""

    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    """The machine's wall clock: what a served sandbox (the demo, `sandbox serve`) runs on."""

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to: `advance(seconds)` or `set(moment)`.

    It starts at `start` (default: the machine's time when it is made), so the stamps it
    gives look like today's and clients that compare them with their own clock still agree.
    Thread-safe: the server's request threads read it while a test moves it."""

    def __init__(self, start: float | datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = _seconds(start) if start is not None else time.time()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never back: a CRM's stamps only grow); the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, moment: float | datetime) -> None:
        """Jump to `moment`, which must not be earlier than now."""
        target = _seconds(moment)
        with self._lock:
            if target < self._now:
                raise ValueError("a clock only moves forward")
            self._now = target

    def __repr__(self) -> str:
        return f"ManualClock({utcnow(self).isoformat()})"


def _seconds(moment: float | datetime) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("a clock moment must be timezone-aware")
        return moment.timestamp()
    return float(moment)


def now_ms(clock: Clock) -> int:
    """The clock's reading in whole milliseconds (how the Salesforce store keeps stamps)."""
    return int(clock.now() * 1000)


def utcnow(clock: Clock) -> datetime:
    """The clock's reading as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.now(), UTC)
