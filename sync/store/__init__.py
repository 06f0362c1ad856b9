"""Persistence: SQLAlchemy Core over SQLite (default) or PostgreSQL, migrated by Alembic."""

from sync.store.repo import LockHeld, OpportunityRow, Store, StoredTask, StoreError

__all__ = ["LockHeld", "OpportunityRow", "Store", "StoreError", "StoredTask"]
