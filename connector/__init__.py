"""CRM adapters behind one small typed interface.

`Connector` (in `connector.base`) is all the sync layer sees: `describe`, `read_changed`
(streamed `Page`s of `RemoteRecord`s ordered by the CRM's modification stamp), `write`
(batched `RecordChange`s → per-record `WriteResult`s), `current_user` and `api_calls`.
Adapters know HTTP and their CRM's wire format, nothing of presales. Every failure leaves an
adapter as a `ConnectorError` subclass saying what the caller should do (retry later, fix
the configuration, re-authenticate, stop for the day's API limit, give up); no transport
library exception crosses this boundary.

`connect_salesforce(settings, env)` builds the Salesforce adapter, `connect_zoho(settings, env)`
the Zoho CRM one.
"""

from presales_sync.connector.base import (
    ApiUsage,
    Connector,
    FieldInfo,
    ObjectChangePlan,
    ObjectSchema,
    ObjectSpec,
    Page,
    RecordChange,
    RecordUpsert,
    RemoteRecord,
    WriteResult,
)
from presales_sync.connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    FatalError,
    LimitExceededError,
    RetryableError,
    UnknownFieldError,
)
from presales_sync.connector.salesforce import connect as connect_salesforce
from presales_sync.connector.zoho import connect as connect_zoho

__all__ = [
    "ApiUsage",
    "AuthError",
    "ConfigError",
    "Connector",
    "ConnectorError",
    "FatalError",
    "FieldInfo",
    "LimitExceededError",
    "ObjectChangePlan",
    "ObjectSchema",
    "ObjectSpec",
    "Page",
    "RecordChange",
    "RecordUpsert",
    "RemoteRecord",
    "RetryableError",
    "UnknownFieldError",
    "WriteResult",
    "connect_salesforce",
    "connect_zoho",
]
