"""The Zoho CRM adapter: `connect(settings, env)` returns a `ZohoConnector` implementing
`connector.base.Connector` over Zoho's v8 REST API, authenticated with the OAuth
refresh-token grant against the data centre's accounts server (US, EU, IN, AU, JP, CN, CA,
SA, or overridden URLs); the API domain comes from the token response.

Secrets come only from `env` (pass ``os.environ``): ``PRESALES_ZOHO_CLIENT_ID``,
``PRESALES_ZOHO_CLIENT_SECRET`` and ``PRESALES_ZOHO_REFRESH_TOKEN``; the refresh token needs
the scopes in `REQUIRED_SCOPES`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import requests

from presales_sync.connector.zoho._adapter import ZohoConnector
from presales_sync.connector.zoho._auth import (
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_REFRESH_TOKEN,
    load_credentials,
)
from presales_sync.connector.zoho._transport import Transport
from presales_sync.connector.zoho.settings import DATA_CENTERS, REQUIRED_SCOPES, ZohoSettings


def connect(
    settings: ZohoSettings,
    env: Mapping[str, str],
    *,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> ZohoConnector:
    """Read the credentials from `env` and return the connector. No call is made yet: the
    first API call mints (or reuses a cached) access token.

    Raises `ConfigError` naming a missing variable. `session`, `sleep` and `clock` are seams
    for tests."""
    credentials = load_credentials(env)
    return ZohoConnector(Transport(settings, credentials, session=session, sleep=sleep, clock=clock))


__all__ = ["DATA_CENTERS", "ENV_CLIENT_ID", "ENV_CLIENT_SECRET", "ENV_REFRESH_TOKEN", "REQUIRED_SCOPES",
           "ZohoConnector", "ZohoSettings", "connect"]
