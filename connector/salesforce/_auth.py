"""Credentials for the two supported auth methods and the OAuth 2.0 JWT bearer flow.

Secrets are read only from the environment mapping handed to `load_credentials` and held
as `SecretStr`, so they never show up in a repr, a log line or an error message. This
module builds requests and reads responses; `_transport` is what sends them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jwt
import requests
from pydantic import SecretStr

from presales_sync.connector._http import json_object
from presales_sync.connector.errors import AuthError, ConfigError, FatalError, RetryableError

ENV_SESSION_ID = "PRESALES_SF_SESSION_ID"
ENV_USERNAME = "PRESALES_SF_USERNAME"
ENV_CONSUMER_KEY = "PRESALES_SF_CONSUMER_KEY"
ENV_PRIVATE_KEY_FILE = "PRESALES_SF_PRIVATE_KEY_FILE"

JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce accepts assertions that expire within a few minutes; simple-salesforce uses 3.
JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class SessionCredentials:
    """An existing session id (access token); it cannot be refreshed by us."""

    session_id: SecretStr


@dataclass(frozen=True)
class JwtCredentials:
    """What the OAuth 2.0 JWT bearer flow needs (External Client App + certificate)."""

    username: str
    consumer_key: SecretStr
    private_key: SecretStr


Credentials = SessionCredentials | JwtCredentials


@dataclass(frozen=True)
class Token:
    """A usable session: access token, the org's instance URL, the user id when known."""

    access_token: SecretStr
    instance_url: str
    user_id: str | None = None


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or not value.strip():
        # Name the variable, never its value.
        raise ConfigError(f"environment variable {name} is not set")
    return value.strip()


def load_credentials(auth_method: str, env: Mapping[str, str]) -> Credentials:
    """Read the secrets for `auth_method` from `env`; `ConfigError` names a missing one."""
    if auth_method == "session":
        return SessionCredentials(session_id=SecretStr(_require(env, ENV_SESSION_ID)))
    if auth_method == "jwt":
        username = _require(env, ENV_USERNAME)
        consumer_key = _require(env, ENV_CONSUMER_KEY)
        key_file = _require(env, ENV_PRIVATE_KEY_FILE)
        try:
            with open(key_file, encoding="utf-8") as fh:
                private_key = fh.read()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(
                f"cannot read the private key file named by {ENV_PRIVATE_KEY_FILE}: {type(err).__name__}"
            ) from None
        return JwtCredentials(
            username=username,
            consumer_key=SecretStr(consumer_key),
            private_key=SecretStr(private_key),
        )
    raise ConfigError(f"unsupported auth method {auth_method!r}")


def jwt_assertion(creds: JwtCredentials, *, audience: str, clock: Callable[[], float] = time.time) -> str:
    """The RS256-signed assertion of the JWT bearer flow (iss, sub, aud, exp as int)."""
    claims = {
        "iss": creds.consumer_key.get_secret_value(),
        "sub": creds.username,
        "aud": audience,
        "exp": int(clock()) + JWT_LIFETIME_SECONDS,
    }
    try:
        return jwt.encode(claims, creds.private_key.get_secret_value(), algorithm="RS256")
    except (jwt.PyJWTError, ValueError, TypeError) as err:
        # The exception text of a key parser may quote key material: keep only its type.
        raise ConfigError(
            f"the private key in {ENV_PRIVATE_KEY_FILE} is not a usable RSA key ({type(err).__name__})"
        ) from None


def jwt_form(assertion: str) -> dict[str, str]:
    return {"grant_type": JWT_GRANT_TYPE, "assertion": assertion}


def token_url(login_url: str) -> str:
    return login_url.rstrip("/") + "/services/oauth2/token"


def parse_token_response(response: requests.Response, *, default_instance_url: str) -> Token:
    """Turn the token endpoint's answer into a `Token` or one of our errors.

    Error bodies are JSON objects ``{"error": "invalid_grant", "error_description": …}``.
    """
    status = response.status_code
    body = json_object(response)
    if status == 200 and body is not None and body.get("access_token"):
        identity = body.get("id")
        user_id = None
        if isinstance(identity, str) and identity.rstrip("/"):
            # https://login.salesforce.com/id/<org id>/<user id>
            user_id = identity.rstrip("/").rsplit("/", 1)[-1]
        return Token(
            access_token=SecretStr(str(body["access_token"])),
            instance_url=str(body.get("instance_url") or default_instance_url).rstrip("/"),
            user_id=user_id,
        )
    if status == 200:
        raise FatalError("token endpoint answered 200 without an access_token", status=status)
    if status in (420, 429) or status >= 500:
        raise RetryableError(
            f"token endpoint answered HTTP {status}",
            status=status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if body is not None and body.get("error"):
        description = str(body.get("error_description") or "")
        raise AuthError(
            f"JWT bearer login refused: {description}".rstrip(": "),
            code=str(body["error"]),
            status=status,
        )
    raise AuthError(f"JWT bearer login refused with HTTP {status}", status=status)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
