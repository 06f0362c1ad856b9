"""Our error taxonomy at the adapter boundary, grouped by what the caller should do.

No `requests`, `simple_salesforce` or `zeep` exception leaves `connector/`: adapters
translate them into these, keeping the vendor's error code.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error an adapter raises. `code` is the CRM's own error code."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status

    def __str__(self) -> str:
        base = super().__str__()
        return f"{self.code}: {base}" if self.code else base


class RetryableError(ConnectorError):
    """Transient: connection trouble, 5xx, row locks. Retried with back-off inside the
    adapter; raised only once the retries are spent."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object):
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """The CRM refused our credentials (after one re-authentication where possible)."""


class LimitExceededError(ConnectorError):
    """The org's API allowance is spent (Salesforce REQUEST_LIMIT_EXCEEDED): stop, try
    again later; retrying now only burns what other integrations need."""


class ConfigError(ConnectorError):
    """An admin must act: unknown field, malformed query, missing permission."""


class UnknownFieldError(ConfigError):
    """The CRM does not know a field we named on `object_name` (misspelt in the mapping, or
    hidden from the integration user by field-level security). `field` is the CRM's own
    word for it, so the caller can point at the mapping line that names it."""

    def __init__(self, message: str, *, field: str, object_name: str | None = None, **kw: object):
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.field = field
        self.object_name = object_name


class FatalError(ConnectorError):
    """Anything else the CRM answered that we cannot act on."""


__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "FatalError",
    "LimitExceededError",
    "RetryableError",
    "UnknownFieldError",
]
