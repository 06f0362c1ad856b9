"""Call accounting shared by every CRM of one sandbox: calls counted per endpoint family.

``GET /_sandbox/stats`` and ``POST /_sandbox/stats/reset`` read and clear it, for benchmarks
and for "a quiet run makes no writes" checks; the Salesforce and the Zoho APIs count into the
same counter, so one reading covers a run against either CRM.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class CallStats:
    """A thread-safe counter of calls by family (``query``, ``zoho_records_get``, …)."""

    def __init__(self) -> None:
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, family: str) -> None:
        with self._lock:
            self._calls[family] += 1

    def snapshot(self) -> dict[str, Any]:
        """``{"calls": {family: n, …} (sorted), "total": n}``: the stats endpoint's body."""
        with self._lock:
            return {"calls": dict(sorted(self._calls.items())), "total": sum(self._calls.values())}

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
