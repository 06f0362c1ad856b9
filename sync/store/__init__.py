"""Persistence: SQLAlchemy Core over SQLite (default) or PostgreSQL, migrated by Alembic.

A store is checked before it is used (`Store.open`): its errors are `StoreError` kinds that
name the file or URL and say what to do (see `sync.store.errors`); it belongs to one CRM org
(`Store.claim`)."""

from presales_sync.sync.store.errors import (
    OrgHasAnotherStore,
    StoreCorrupt,
    StoreError,
    StoreInaccessible,
    StoreOwnedElsewhere,
    StoreTooNew,
    StoreUnavailable,
    store_fault,
)
from presales_sync.sync.store.owner import StoreOwner
from presales_sync.sync.store.repo import ActionRow, ActivityRow, LockHeld, OpportunityRow, Store, StoredTask

__all__ = [
    "ActionRow",
    "ActivityRow",
    "LockHeld",
    "OpportunityRow",
    "OrgHasAnotherStore",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreInaccessible",
    "StoreOwnedElsewhere",
    "StoreOwner",
    "StoreTooNew",
    "StoreUnavailable",
    "StoredTask",
    "store_fault",
]
