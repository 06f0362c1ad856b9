"""The Salesforce adapter: `connect(settings, env)` returns a `SalesforceConnector`
implementing `connector.base.Connector` over the REST API (describe, SOQL paging, sObject
Collections and their upsert by external id, Bulk API 2.0) and the Metadata API (custom
fields and objects), with JWT bearer or session-id auth.

Secrets come only from `env` (pass ``os.environ``): session auth reads
``PRESALES_SF_SESSION_ID``; JWT bearer reads ``PRESALES_SF_USERNAME``,
``PRESALES_SF_CONSUMER_KEY`` and ``PRESALES_SF_PRIVATE_KEY_FILE``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import requests

from presales_sync.connector.base import ApiUsage
from presales_sync.connector.salesforce._adapter import SalesforceConnector
from presales_sync.connector.salesforce._auth import load_credentials
from presales_sync.connector.salesforce._transport import Transport
from presales_sync.connector.salesforce.settings import SalesforceSettings


def connect(
    settings: SalesforceSettings,
    env: Mapping[str, str],
    *,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SalesforceConnector:
    """Read the credentials from `env`, log in (JWT: one token request; session auth: no
    call) and return the connector.

    Raises `ConfigError` naming a missing variable, `AuthError` when the login is refused,
    `RetryableError` when the token endpoint cannot be reached. `session` and `sleep` are
    seams for tests (a custom `requests.Session`; a retry sleep that does not sleep)."""
    credentials = load_credentials(settings.auth_method, env)
    transport = Transport(settings, credentials, session=session, sleep=sleep)
    transport.login()
    return SalesforceConnector(transport)


__all__ = ["ApiUsage", "SalesforceConnector", "SalesforceSettings", "connect"]
