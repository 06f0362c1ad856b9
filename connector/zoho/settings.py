"""Public settings of the Zoho adapter (non-secret; secrets come from the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from presales_sync.connector.errors import ConfigError

#: Data centre → (accounts server, API domain), from Zoho's v8 SDK. The API domain is only a
#: fallback: the token response's ``api_domain`` is what every call goes to.
DATA_CENTERS: dict[str, tuple[str, str]] = {
    "com": ("https://accounts.zoho.com", "https://www.zohoapis.com"),
    "eu": ("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    "in": ("https://accounts.zoho.in", "https://www.zohoapis.in"),
    "com.au": ("https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
    "jp": ("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    "com.cn": ("https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
    "ca": ("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    "sa": ("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
}
#: The OAuth scopes the self client's refresh token needs: records (Deals, Users and the
#: plugin's custom module: ``custom``), field and module metadata and their creation, the
#: profiles a new module is given, and the org variables holding the plugin's org values.
#: Zoho: https://zoho.com/crm/developer/docs/api/v8/create-custom-module-api.html
#: (``ZohoCRM.settings.modules.CREATE|ALL``), .../create-variables.html
#: (``ZohoCRM.settings.variables.ALL``); docs/design/issue-14-wire-facts.md §7, §11.
REQUIRED_SCOPES = (
    "ZohoCRM.modules.deals.ALL", "ZohoCRM.modules.custom.ALL", "ZohoCRM.users.ALL",
    "ZohoCRM.settings.fields.ALL", "ZohoCRM.settings.modules.ALL", "ZohoCRM.settings.profiles.READ",
    "ZohoCRM.settings.variables.ALL",
)
#: The names people use for the same data centres (``US``, ``CN``, ...).
DC_ALIASES = {"us": "com", "au": "com.au", "cn": "com.cn"}


def data_center_key(name: str) -> str:
    key = name.strip().lower()
    key = DC_ALIASES.get(key, key)
    if key not in DATA_CENTERS:
        choices = ", ".join([*DATA_CENTERS, *DC_ALIASES])
        raise ConfigError(f"unknown Zoho data_center {name!r}; expected one of: {choices}")
    return key


def _base_url(name: str, value: str) -> str:
    """An https base URL; a path is allowed (a proxy, or the sandbox's ``/accounts``)."""
    parsed = urlparse(value)
    # TLS is always verified, so a plain-http URL is a configuration mistake.
    if parsed.scheme != "https" or not parsed.hostname or parsed.query or parsed.fragment:
        raise ConfigError(f"{name} must be an https:// URL without query, got {value!r}")
    return value.rstrip("/")


@dataclass(frozen=True)
class ZohoSettings:
    """How to reach one Zoho CRM org. Validated on construction (`ConfigError`)."""

    data_center: str = "com"
    """``com`` (US), ``eu``, ``in``, ``com.au``, ``jp``, ``com.cn`` (China), ``ca``, ``sa``."""
    accounts_url: str | None = None
    """Overrides the data centre's accounts server (token endpoint host)."""
    api_domain: str | None = None
    """Overrides the ``api_domain`` of the token response (e.g. a proxy); normally unset."""
    ca_bundle: str | None = None
    """A private CA file (the sandbox's); else REQUESTS_CA_BUNDLE / certifi. TLS is always verified."""
    timeout: float = 60.0
    """Seconds, applied to every request."""
    max_retries: int = 5
    """Attempts per call for transient failures (429, 5xx, token throttling, connection errors)."""
    refresh_margin: float = 300.0
    """Refresh the access token this many seconds before Zoho's hour is up."""
    token_cache: Path | None = None
    """A file (mode 0600, in a folder only its owner may write) keeping the access token and
    its mint times between runs, so cron runs reuse one token per hour and the
    10-tokens-per-10-minutes limit holds across processes."""
    credit_reserve: int = 0
    """Stop (LimitExceededError) once ``X-API-CREDITS-REMAINING`` falls to this many credits."""
    daily_credits: int | None = None
    """The org's API credits per 24 hours (by edition and licences); with it the adapter
    reports `api_usage` so the sync can keep to its share of the allowance."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_center", data_center_key(self.data_center))
        if self.accounts_url is not None:
            object.__setattr__(self, "accounts_url", _base_url("accounts_url", self.accounts_url))
        if self.api_domain is not None:
            object.__setattr__(self, "api_domain", _base_url("api_domain", self.api_domain))
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be positive, got {self.timeout!r}")
        if self.max_retries < 1:
            raise ConfigError(f"max_retries must be at least 1, got {self.max_retries!r}")
        if not 0 <= self.refresh_margin < 3000:
            raise ConfigError(f"refresh_margin must be within 0..3000 seconds, got {self.refresh_margin!r}")
        if self.daily_credits is not None and self.daily_credits < 1:
            raise ConfigError(f"daily_credits must be positive, got {self.daily_credits!r}")
        if self.credit_reserve < 0:
            raise ConfigError(f"credit_reserve must not be negative, got {self.credit_reserve!r}")

    @property
    def token_url(self) -> str:
        accounts = self.accounts_url or DATA_CENTERS[self.data_center][0]
        return accounts + "/oauth/v2/token"

    @property
    def default_api_domain(self) -> str:
        return self.api_domain or DATA_CENTERS[self.data_center][1]
