"""Zoho's documented limits as one value: what the sandbox enforces, lowerable for fast tests.

A test of "the 11th token in ten minutes is refused" or "the page past 100,000 records is
refused" should not need ten minutes or 100,000 records; it lowers the limit instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZohoLimits:
    """Zoho's documented limits, lowerable for fast tests."""

    discrete_records: int = 2000  # reachable with page/per_page; beyond needs page_token
    #: What one paged read reaches (Zoho: page_token "up to a maximum of 100,000 records");
    #: the page past it is refused with PAGINATION_LIMIT_EXCEEDED (by page too, when this is
    #: lowered below discrete_records).
    page_token_records: int = 100_000
    max_per_page: int = 200
    max_fields: int = 50
    max_write: int = 100
    max_field_create: int = 5
    token_grants: int = 10  # access tokens per refresh token per window
    token_window: float = 600.0
    token_ttl: int = 3600
    daily_credits: int = 100_000
    page_token_ttl: float = 86_400.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"ZohoLimits.{name} must be positive, got {value!r}")
