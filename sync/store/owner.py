"""Which CRM org a store belongs to.

Records, tasks, ledger rows, state and the failure queue are keyed by profile and the CRM's
record ids, so two profiles keep their rows apart; until the commands that read the store
across profiles (`status`, the run history) are made per org as well, the store still records
its org on first use (`Store.claim`) and refuses another one; a second profile of the same org
may share it. The owner row itself is store-wide (not any profile's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: The `state` row that holds the owner.
OWNER_KEY = "store.owner"


@dataclass(frozen=True, slots=True)
class StoreOwner:
    """A CRM org as the config names it: kind and address (instance URL, Zoho API domain)."""

    kind: str
    org: str
    profile: str

    @classmethod
    def of(cls, kind: str, org: str, profile: str) -> StoreOwner:
        return cls(kind.lower(), org.strip().rstrip("/").lower(), profile)

    def same_org(self, other: StoreOwner) -> bool:
        return (self.kind, self.org) == (other.kind, other.org)

    def as_state(self, since: datetime) -> dict[str, Any]:
        return {"kind": self.kind, "org": self.org, "profile": self.profile, "since": since.isoformat()}

    @classmethod
    def from_state(cls, value: Any) -> StoreOwner:
        data = value if isinstance(value, dict) else {}
        return cls(str(data.get("kind", "?")), str(data.get("org", "?")), str(data.get("profile", "?")))

    def __str__(self) -> str:
        return f"profile '{self.profile}' ({self.kind} {self.org})"


def refusal(where: str, owner: StoreOwner, since: str, me: StoreOwner) -> str:
    """Why `me` may not use the store `where` that `owner` holds, and what to do."""
    return (f"store {where} belongs to {owner} since {since}, not to {me}: one store holds one CRM "
            f"org (records of two orgs would be taken for deleted ones). Nothing was changed. Give "
            f"this profile a store of its own (`store:` in its config), or if this is the same org at "
            f"a new address, point `store:` at a new file and let the first sync read the CRM again")


__all__ = ["OWNER_KEY", "StoreOwner", "refusal"]
