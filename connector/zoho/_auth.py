"""Zoho OAuth: the refresh-token grant, the access token's life, and Zoho's minting limit.

Secrets are read only from the environment mapping given to `load_credentials` and held as
`SecretStr`. This module builds requests and reads answers; `_transport` sends them.

Zoho lets one refresh token mint at most 10 access tokens per 10 minutes (then minting is
blocked for the rest of the window), so a token is cached for its hour and refreshed only
shortly before it ends; `MintLimiter` keeps the mint times and `TokenCache` carries both
across processes (each cron run is a new one).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from pydantic import SecretStr

from presales_sync.connector._http import json_object
from presales_sync.connector._secrets_file import read_secret_file, write_secret_file
from presales_sync.connector.errors import AuthError, ConfigError, FatalError, RetryableError

ENV_CLIENT_ID = "PRESALES_ZOHO_CLIENT_ID"
ENV_CLIENT_SECRET = "PRESALES_ZOHO_CLIENT_SECRET"
ENV_REFRESH_TOKEN = "PRESALES_ZOHO_REFRESH_TOKEN"

#: Zoho Accounts: one refresh token mints at most this many access tokens per window.
MINTS_PER_WINDOW = 10
MINT_WINDOW_SECONDS = 600.0
#: Zoho's access tokens live an hour; used when an answer omits ``expires_in``.
DEFAULT_LIFETIME = 3600.0


@dataclass(frozen=True)
class Credentials:
    """A Zoho self-client (or server-based app) and the refresh token it was granted."""

    client_id: SecretStr
    client_secret: SecretStr
    refresh_token: SecretStr

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.client_id, self.client_secret, self.refresh_token)]

    def cache_key(self) -> str:
        """Identifies the refresh token in a cache file without storing it."""
        raw = "\0".join(self.secrets()).encode()
        return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Token:
    """An access token, the API domain it belongs to and when it stops working (epoch s)."""

    access_token: SecretStr
    api_domain: str
    expires_at: float


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or not value.strip():
        # Name the variable, never its value.
        raise ConfigError(f"environment variable {name} is not set")
    return value.strip()


def load_credentials(env: Mapping[str, str]) -> Credentials:
    """`ConfigError` names the first missing variable."""
    return Credentials(
        client_id=SecretStr(_require(env, ENV_CLIENT_ID)),
        client_secret=SecretStr(_require(env, ENV_CLIENT_SECRET)),
        refresh_token=SecretStr(_require(env, ENV_REFRESH_TOKEN)),
    )


def refresh_form(creds: Credentials) -> dict[str, str]:
    """The refresh-token grant, sent as a form body (as Zoho's own v8 SDK does)."""
    return {
        "grant_type": "refresh_token",
        "client_id": creds.client_id.get_secret_value(),
        "client_secret": creds.client_secret.get_secret_value(),
        "refresh_token": creds.refresh_token.get_secret_value(),
    }


def parse_token_response(response: requests.Response, *, now: float, default_api_domain: str) -> Token:
    """The token endpoint's answer as a `Token`, or one of our errors.

    Zoho reports a refused grant with HTTP **200** and ``{"error": "invalid_code"}``: success
    is the presence of ``access_token``, never the status. Throttling is a 400 with
    ``{"error": "Access Denied", "error_description": "You have made too many requests…"}``."""
    status = response.status_code
    body = json_object(response)
    if status == 200 and body is not None and body.get("access_token") and not body.get("error"):
        try:
            lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME)
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME
        domain = str(body.get("api_domain") or default_api_domain).rstrip("/")
        return Token(SecretStr(str(body["access_token"])), domain, now + lifetime)
    error = str(body.get("error") or "") if body is not None else ""
    description = str(body.get("error_description") or "") if body is not None else ""
    if status == 429 or status >= 500 or (status == 400 and error == "Access Denied"):
        raise RetryableError(f"Zoho token endpoint throttled or failed (HTTP {status}) {description}".strip(),
                             code=error or None, status=status)
    if error:
        hint = {
            "invalid_code": f"the refresh token is invalid or revoked: set a new {ENV_REFRESH_TOKEN}",
            "invalid_client": f"the client is unknown: check {ENV_CLIENT_ID} / {ENV_CLIENT_SECRET} "
                              "and the data centre",
        }.get(error, description or "refused")
        raise AuthError(f"Zoho refused the refresh-token grant: {hint}", code=error, status=status)
    if status == 200:
        raise FatalError("Zoho token endpoint answered 200 without an access_token", status=status)
    raise AuthError(f"Zoho refused the refresh-token grant with HTTP {status}", status=status)


@dataclass
class MintLimiter:
    """At most `limit` mints per `window` seconds: `wait_needed` says how long until the next
    mint is allowed (0 when it is)."""

    limit: int = MINTS_PER_WINDOW
    window: float = MINT_WINDOW_SECONDS
    mints: list[float] = field(default_factory=list)

    def wait_needed(self, now: float) -> float:
        self.mints = sorted(t for t in self.mints if now - t < self.window)
        if len(self.mints) < self.limit:
            return 0.0
        return self.mints[-self.limit] + self.window - now

    def record(self, now: float) -> None:
        self.mints.append(now)


@dataclass
class CacheEntry:
    """What one refresh token's cache entry keeps: its current access token, its recent mint
    times and the id of the user it acts as (which never changes for a refresh token)."""

    token: Token | None = None
    mints: list[float] = field(default_factory=list)
    user_id: str | None = None


class TokenCache:
    """`CacheEntry`s in a private file, keyed by a hash of the credentials so another
    refresh token never picks up this one's token.

    The file is written and read through `connector._secrets_file`: mode 0600, a fresh
    temporary file (O_EXCL | O_NOFOLLOW) renamed over it, never through a symlink, and only
    in a folder nobody else may write to (`ConfigError` otherwise): a planted cache could
    point the connector at another ``api_domain``, a redirected one leak the token."""

    WHAT = "the Zoho token cache"

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key

    def load(self) -> CacheEntry:
        text = read_secret_file(self.path, what=self.WHAT)
        try:
            data = json.loads(text) if text is not None else None
        except ValueError:
            return CacheEntry()
        entry = data.get(self.key) if isinstance(data, dict) else None
        if not isinstance(entry, dict):
            return CacheEntry()
        mints = [float(t) for t in entry.get("mints", []) if isinstance(t, int | float)]
        token = None
        if isinstance(entry.get("access_token"), str) and isinstance(entry.get("api_domain"), str):
            with contextlib.suppress(TypeError, ValueError):
                token = Token(SecretStr(entry["access_token"]), entry["api_domain"],
                              float(entry["expires_at"]))
        user_id = entry.get("user_id") if isinstance(entry.get("user_id"), str) else None
        return CacheEntry(token, mints, user_id)

    def save(self, entry: CacheEntry) -> None:
        data: dict[str, Any] = {"mints": entry.mints, "user_id": entry.user_id}
        if entry.token is not None:
            data.update(access_token=entry.token.access_token.get_secret_value(),
                        api_domain=entry.token.api_domain, expires_at=entry.token.expires_at)
        write_secret_file(self.path, json.dumps({self.key: data}), what=self.WHAT)
