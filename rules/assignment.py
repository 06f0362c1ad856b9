"""First assignment (派工): a fair round robin, equal chances (依次轮流, 机会均等).

Work is dealt in queue order. An engineer who cannot take work now (inactive, or at the
ceiling of open tasks) is skipped for this round and keeps their place, so they are first in
line next time; the engineer who gets the task goes to the back. The queue is a plain value:
the store keeps it between runs and passes it back in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rules.model import Engineer


@dataclass(frozen=True, slots=True)
class Assignment:
    """One round-robin decision and the queue to keep for the next one."""

    engineer_id: str | None
    queue: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def reason(self) -> str:
        """A short sentence for people: who was picked, and who was passed over and why."""
        passed = "; ".join(f"{eid} {why}" for eid, why in self.skipped)
        if self.engineer_id is not None:
            head = f"round robin: assigned to {self.engineer_id}"
            return f"{head}; skipped {passed}" if passed else head
        if not self.queue:
            return "round robin: no engineers in the roster"
        return f"round robin: no eligible engineer ({passed})"


def _ineligible(engineer: Engineer, load: int) -> str | None:
    """Why this engineer cannot take a new task now, or None if they can."""
    if not engineer.active:
        return "inactive"
    if load >= engineer.capacity:
        return f"at capacity ({load}/{engineer.capacity})"
    return None


def reconcile_queue(queue: Sequence[str], engineers: Mapping[str, Engineer]) -> tuple[str, ...]:
    """The stored queue brought in line with the roster.

    Ids no longer in the roster (and repeats) are dropped; roster engineers missing from the
    queue join at the back in roster order.
    """
    kept: list[str] = []
    for eid in queue:
        if eid in engineers and eid not in kept:
            kept.append(eid)
    kept.extend(eid for eid in engineers if eid not in kept)
    return tuple(kept)


def round_robin(
    queue: Sequence[str],
    engineers: Mapping[str, Engineer],
    open_load: Mapping[str, int],
) -> Assignment:
    """Pick the first eligible engineer in queue order and move them to the back.

    `engineers` maps CRM user id → roster entry; `open_load` maps CRM user id → open tasks
    (absent means none). Nobody eligible → `engineer_id` None and the (reconciled) queue as is.
    """
    order = reconcile_queue(queue, engineers)
    skipped: list[tuple[str, str]] = []
    for eid in order:
        why = _ineligible(engineers[eid], open_load.get(eid, 0))
        if why is not None:
            skipped.append((eid, why))
            continue
        rest = tuple(other for other in order if other != eid)
        return Assignment(engineer_id=eid, queue=(*rest, eid), skipped=tuple(skipped))
    return Assignment(engineer_id=None, queue=order, skipped=tuple(skipped))


__all__ = ["Assignment", "reconcile_queue", "round_robin"]
