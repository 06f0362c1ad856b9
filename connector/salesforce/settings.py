"""Public settings of the Salesforce adapter (non-secret; secrets come from the environment)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

from presales_sync.connector._http import check_https_url
from presales_sync.connector.errors import ConfigError

_API_VERSION = re.compile(r"^\d{2,3}\.\d$")

#: The bounds Salesforce accepts for ``Sforce-Query-Options: batchSize=``.
MIN_PAGE_SIZE = 200
MAX_PAGE_SIZE = 2000


PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"


def default_audience(login_url: str) -> str:
    """The JWT audience Salesforce expects for a token endpoint.

    Salesforce checks ``aud`` against its authorization server, not against the host the
    assertion is posted to: ``https://login.salesforce.com`` for production and Developer
    Edition orgs, ``https://test.salesforce.com`` for sandboxes, even when the token is
    requested from a My Domain URL (OAuth 2.0 JWT Bearer Flow for Server-to-Server
    Integration). A sandbox's My Domain is ``<org>--<name>.sandbox.my.salesforce.com``."""
    host = (urlparse(login_url).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return SANDBOX_AUDIENCE
    return PRODUCTION_AUDIENCE


@dataclass(frozen=True)
class SalesforceSettings:
    """How to reach one Salesforce org. Validated on construction (`ConfigError`)."""

    instance_url: str
    """``https://acme.my.salesforce.com`` or the sandbox URL."""
    api_version: str = "66.0"
    """REST API version without a leading ``v``."""
    auth_method: Literal["session", "jwt"] = "jwt"
    login_url: str = "https://login.salesforce.com"
    """Host of the JWT token endpoint (login, test, or the org's My Domain URL)."""
    audience: str | None = None
    """The JWT ``aud``; None: `default_audience` of `login_url` (never the My Domain URL)."""
    ca_bundle: str | None = None
    """A private CA file (the sandbox's); else REQUESTS_CA_BUNDLE / certifi. TLS is always verified."""
    timeout: float = 60.0
    """Seconds, applied to every request."""
    max_retries: int = 5
    """Attempts per call for transient failures (row locks, 5xx, 420/429, connection errors)."""
    page_size: int = 2000
    """Query batch size (200..2000)."""
    bulk_write_threshold: int = 2000
    """Writes of more records than this go through Bulk API 2.0 ingest jobs."""
    bulk_read_threshold: int = 10_000
    """A full read of more records than this continues through a Bulk API 2.0 query job."""

    def __post_init__(self) -> None:
        check_https_url("instance_url", self.instance_url)
        check_https_url("login_url", self.login_url)
        if self.audience is not None and not (
            urlparse(self.audience).scheme == "https" and urlparse(self.audience).hostname
        ):  # a path is allowed: an Experience Cloud site's audience is https://host/customers
            raise ConfigError(f"audience must be an https:// URL, got {self.audience!r}")
        if not _API_VERSION.match(self.api_version):
            raise ConfigError(f"api_version must look like '66.0' (no leading 'v'), got {self.api_version!r}")
        if self.auth_method not in ("session", "jwt"):
            raise ConfigError(f"auth_method must be 'session' or 'jwt', got {self.auth_method!r}")
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be positive, got {self.timeout!r}")
        if self.max_retries < 1:
            raise ConfigError(f"max_retries must be at least 1, got {self.max_retries!r}")
        if self.bulk_write_threshold < 0 or self.bulk_read_threshold < 0:
            raise ConfigError("bulk thresholds must not be negative")
        if not MIN_PAGE_SIZE <= self.page_size <= MAX_PAGE_SIZE:
            raise ConfigError(
                f"page_size must be within {MIN_PAGE_SIZE}..{MAX_PAGE_SIZE}, got {self.page_size!r}"
            )

    @property
    def jwt_audience(self) -> str:
        """The ``aud`` claim to sign: the configured one, else the default for `login_url`."""
        return self.audience or default_audience(self.login_url)
