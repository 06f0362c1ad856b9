"""Persistence: SQLAlchemy Core over SQLite (default) or PostgreSQL, migrated by Alembic."""

from sync.store.repo import ActivityRow, LockHeld, OpportunityRow, Store, StoredTask, StoreError

__all__ = ["ActivityRow", "LockHeld", "OpportunityRow", "Store", "StoreError", "StoredTask"]
