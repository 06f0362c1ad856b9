"""The API budget: how much of the org's daily allowance a run may spend (`sync.api_budget`).

One object per run, asked before every call that can be skipped (the next page, a write
batch), by `presales sync` and `presales score` alike. It counts calls in the CRM's own write
batch (Zoho writes 100 records a call, Salesforce 200), so a cut write still fits the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from presales_sync.connector import Connector
from presales_sync.sync.config import ApiBudget

T = TypeVar("T")


class BudgetReached(Exception):
    """The run would spend more of the daily API allowance than the config allows."""


@dataclass(frozen=True, slots=True)
class Budget:
    crm: Connector
    limits: ApiBudget

    def calls_left(self) -> int | None:
        """API calls this run may still make (None when the CRM does not report its allowance)."""
        usage = self.crm.api_usage
        if usage is None or usage.total <= 0:
            return None
        spent = sum(self.crm.api_calls().values())
        return min(int(self.limits.max_share_total * usage.total) - usage.used,
                   int(self.limits.max_share_per_run * usage.total) - spent)

    def reached(self) -> BudgetReached:
        usage = self.crm.api_usage
        used, total = usage if usage is not None else (0, 0)
        return BudgetReached(
            f"API budget reached: the org has used {used} of its {total} daily calls and this run "
            f"{sum(self.crm.api_calls().values())} (limits: {self.limits.max_share_total:.0%} of the "
            f"allowance in all, {self.limits.max_share_per_run:.0%} per run); stopped here, the next "
            f"run resumes")

    def check(self) -> None:
        """Raise BudgetReached unless one more API call stays within the budget."""
        left = self.calls_left()
        if left is not None and left < 1:
            raise self.reached()

    def fit(self, writes: Sequence[T]) -> tuple[list[T], BudgetReached | None]:
        """The writes the budget allows, in the CRM's own batches, and why the rest waits."""
        self.check()
        left = self.calls_left()
        batch = self.crm.write_batch
        if left is not None and -(-len(writes) // batch) > left:
            return list(writes[: left * batch]), self.reached()
        return list(writes), None


__all__ = ["Budget", "BudgetReached"]
