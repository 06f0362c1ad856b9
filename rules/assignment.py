"""First assignment (派工): policies, then a fair round robin, equal chances (依次轮流, 机会均等).

`choose` applies, in this order (docs/rules.md):
1. level gating — the request's minimum level (hard);
2. one owner per customer account — the account's owner gets it if active, below capacity
   and of the level; otherwise the exception is noted and the round robin decides;
3. skills (hard) and industry (prefer / require);
4. capacity ceilings;
5. round robin in queue order among those left. An engineer who cannot take this request is
   skipped and keeps their place, so they are first in line next time; the engineer who gets
   it goes to the back. An account owner's task does not take a round-robin turn.
The queue is a plain value: the store keeps it between runs and passes it back in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from presales_sync.rules.model import Engineer, Level

LEVEL_RANK: dict[Level, int] = {level: rank for rank, level in enumerate(Level)}


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a request asks of its engineer (from the admin's rules) and its account's owner."""

    min_level: Level | None = None
    level_reason: str = ""
    skills: frozenset[str] = frozenset()
    industry: str | None = None
    industry_match: str = "prefer"
    account: str | None = None
    account_owner: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """One assignment decision, why, and the queue to keep for the next one."""

    engineer_id: str | None
    queue: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    policy: str = "round robin"
    notes: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """A short sentence for people: which policy picked whom, who was passed over and why."""
        passed = "; ".join(f"{eid} {why}" for eid, why in self.skipped)
        if self.engineer_id is not None:
            parts = [f"{self.policy}: assigned to {self.engineer_id}", *self.notes]
            if passed:
                parts.append(f"skipped {passed}")
            return "; ".join(parts)
        if not self.queue:
            return "round robin: no engineers in the roster"
        return "; ".join([f"{self.policy}: no eligible engineer ({passed})", *self.notes])


def _ineligible(engineer: Engineer, load: int, need: Requirement | None = None, *,
                skills: bool = True) -> str | None:
    """Why this engineer cannot take this request now, or None if they can."""
    if not engineer.active:
        return "inactive"
    if need is not None and need.min_level is not None \
            and LEVEL_RANK[engineer.level] < LEVEL_RANK[need.min_level]:
        return f"level {engineer.level} below {need.min_level}"
    if need is not None and skills and need.skills:
        missing = sorted(need.skills - set(engineer.skills))
        if missing:
            return f"lacks skills {', '.join(missing)}"
    if load >= engineer.capacity:
        return f"at capacity ({load}/{engineer.capacity})"
    return None


def _matches_industry(engineer: Engineer, industry: str) -> bool:
    return industry.casefold() in {i.casefold() for i in engineer.industries}


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
    return choose(queue, engineers, open_load, Requirement())


def choose(
    queue: Sequence[str],
    engineers: Mapping[str, Engineer],
    open_load: Mapping[str, int],
    need: Requirement,
) -> Assignment:
    """Apply the policies in the module's order to one request (see the module docstring)."""
    order = reconcile_queue(queue, engineers)
    notes: list[str] = []
    if need.min_level is not None:
        notes.append(f"needs {need.min_level} or above ({need.level_reason})")
    if need.skills:
        notes.append(f"needs skills {', '.join(sorted(need.skills))}")
    owner = need.account_owner
    if owner is not None:
        owner_eng = engineers.get(owner)
        why_not = ("not in the roster" if owner_eng is None
                   else _ineligible(owner_eng, open_load.get(owner, 0), need, skills=False))
        if why_not is None:
            return Assignment(engineer_id=owner, queue=order, policy="account owner",
                              notes=(f"owns account {need.account}", *notes))
        notes.append(f"exception: account owner {owner} unavailable ({why_not})")
    skipped: list[tuple[str, str]] = []
    candidates: list[str] = []
    for eid in order:
        why = _ineligible(engineers[eid], open_load.get(eid, 0), need)
        if why is None:
            candidates.append(eid)
        else:
            skipped.append((eid, why))
    if need.industry and need.industry_match != "off" and candidates:
        matching = [eid for eid in candidates if _matches_industry(engineers[eid], need.industry)]
        if matching:
            skipped += [(eid, f"no {need.industry} experience") for eid in candidates if eid not in matching]
            candidates = matching
        elif need.industry_match == "require":
            skipped += [(eid, f"no {need.industry} experience") for eid in candidates]
            candidates = []
        else:
            notes.append(f"nobody available with {need.industry} experience")
    if not candidates:
        return Assignment(engineer_id=None, queue=order, skipped=tuple(skipped), notes=tuple(notes))
    eid = candidates[0]
    skipped_before = tuple((other, why) for other, why in skipped if order.index(other) < order.index(eid))
    rest = tuple(other for other in order if other != eid)
    return Assignment(engineer_id=eid, queue=(*rest, eid), skipped=skipped_before, notes=tuple(notes))


__all__ = ["LEVEL_RANK", "Assignment", "Requirement", "choose", "reconcile_queue", "round_robin"]
