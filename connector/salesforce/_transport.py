"""The one place the Salesforce adapter touches the network.

Every HTTP exchange (token requests, every simple-salesforce call, every Metadata API SOAP
call through zeep) runs through `Transport._with_retries`, that is through the shared
`TransportCore.run` (retries honouring ``Retry-After``, call counting per endpoint family,
redaction, the `requests` exceptions). What is Salesforce's own stays here:

* the default timeout and TLS verification of every request (`HttpSession`);
* the error classification table, keyed by (HTTP status, Salesforce errorCode), the
  error-body parser, and the translation of simple-salesforce errors, zeep faults and the
  Metadata API's bare `Exception` (`_translate`);
* the one classifier of a per-record write result (`record_result`: sObject Collections,
  Bulk 2.0 ingest results, User writes);
* the last ``Sforce-Limit-Info`` usage and ``Retry-After`` of every answer (`_observe`);
* re-authentication: one JWT re-login on ``401 INVALID_SESSION_ID`` (or the SOAP fault
  ``sf:INVALID_SESSION_ID``), then one retry with a fresh client.

No `requests`, `simple_salesforce` or `zeep` exception leaves this module.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, TypeVar

import requests
import zeep.exceptions
import zeep.transports
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.metadata import SfdcMetadataApi
from tenacity import RetryCallState, wait_random_exponential

from presales_sync.connector._http import HttpSession, Kind
from presales_sync.connector._http import classify as classify_in
from presales_sync.connector._transport_core import (  # the limit is re-exported: its old home
    MAX_RETRY_AFTER_SECONDS as MAX_RETRY_AFTER_SECONDS,
)
from presales_sync.connector._transport_core import TransportCore
from presales_sync.connector.base import ApiUsage, WriteResult
from presales_sync.connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    FatalError,
    UnknownFieldError,
)
from presales_sync.connector.salesforce._auth import (
    ENV_SESSION_ID,
    Credentials,
    JwtCredentials,
    Token,
    jwt_assertion,
    jwt_form,
    parse_token_response,
    retry_after_seconds,
    token_url,
)
from presales_sync.connector.salesforce.settings import SalesforceSettings

T = TypeVar("T")

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")

#: The endpoint family every Metadata API (SOAP, zeep) call is counted under.
METADATA = "metadata"
_METADATA_STATUS = re.compile(r"\(([A-Z_]+), ")
#: SOAP fault codes (``sf:…``) that are not FATAL; a fault is always HTTP 500.
_FAULT_KINDS = {"INVALID_SESSION_ID": Kind.REAUTH, "REQUEST_LIMIT_EXCEEDED": Kind.LIMIT}


#: (HTTP status or status class like "5xx", Salesforce errorCode or None for "any code").
#: Looked up most specific first; anything not listed is FATAL.
CLASSIFICATION: dict[tuple[int | str, str | None], Kind] = {
    (401, "INVALID_SESSION_ID"): Kind.REAUTH,
    (401, None): Kind.AUTH,
    # Never retried: the daily allowance is shared with every other integration of the org.
    (403, "REQUEST_LIMIT_EXCEEDED"): Kind.LIMIT,
    # An admin must act (missing field or FLS, bad object, permission, retired version).
    (400, "INVALID_FIELD"): Kind.CONFIG,
    (400, "MALFORMED_QUERY"): Kind.CONFIG,
    (400, "INVALID_TYPE"): Kind.CONFIG,
    (400, "INVALID_FIELD_FOR_INSERT_UPDATE"): Kind.CONFIG,
    (403, "INSUFFICIENT_ACCESS"): Kind.CONFIG,
    (403, "API_DISABLED_FOR_ORG"): Kind.CONFIG,
    (410, None): Kind.CONFIG,
    # Transient.
    (400, "UNABLE_TO_LOCK_ROW"): Kind.RETRY,
    (420, None): Kind.RETRY,
    (429, None): Kind.RETRY,
    ("5xx", None): Kind.RETRY,
}


def classify(status: int, code: str | None) -> Kind:
    return classify_in(CLASSIFICATION, status, code)


class RecordOutcome(StrEnum):
    """What one record's write result means for the sync."""

    OK = "ok"
    #: The record is in the recycle bin (ENTITY_IS_DELETED): its task is closed as deleted.
    GONE = "gone"
    #: No record has this id (hard-deleted, or the recycle bin emptied): gone too. The same
    #: code also reports a lookup value pointing nowhere, which names that field instead.
    MISSING = "missing"
    #: Transient (a row lock): worth one more try.
    RETRY = "retry"
    #: Anything else: this record is skipped and reported, the rest goes on.
    REJECTED = "rejected"


#: Salesforce per-record status codes (sObject Collections ``errors[].statusCode``, Bulk 2.0
#: ``sf__Error``) that are not a plain rejection.
RECORD_OUTCOMES: dict[str, RecordOutcome] = {
    "ENTITY_IS_DELETED": RecordOutcome.GONE,
    "INVALID_CROSS_REFERENCE_KEY": RecordOutcome.MISSING,
    "UNABLE_TO_LOCK_ROW": RecordOutcome.RETRY,
}


def record_outcome(code: str | None, fields: Sequence[str] = ()) -> RecordOutcome:
    """The outcome of a failed record for its status code and the fields the error names."""
    outcome = RECORD_OUTCOMES.get(code or "", RecordOutcome.REJECTED)
    if outcome is RecordOutcome.MISSING and any(f.lower() != "id" for f in fields):
        return RecordOutcome.REJECTED  # a lookup field's value points nowhere, not this record
    return outcome


def record_result(record_id: str, *, ok: bool, code: str | None = None, message: str | None = None,
                  fields: Sequence[str] = ()) -> WriteResult:
    """One record's write result in our terms, whichever API reported it."""
    if ok:
        return WriteResult(id=record_id, ok=True)
    outcome = record_outcome(code, fields)
    return WriteResult(id=record_id, ok=False, error_code=code or "UNKNOWN", message=message,
                       retryable=outcome is RecordOutcome.RETRY,
                       gone=outcome in (RecordOutcome.GONE, RecordOutcome.MISSING))


class SessionExpiredError(AuthError):
    """401 INVALID_SESSION_ID: `Transport.call` re-authenticates once where it can."""


#: INVALID_FIELD's sentence after the echoed query: "No such column 'Amout' on entity 'Opportunity'".
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)' on (?:entity|sobject of type) '?([A-Za-z0-9_]+)'?")


def _error_parts(content: Any) -> tuple[str | None, str]:
    """(errorCode, message) from a Salesforce error body: a JSON list of
    ``{message, errorCode}``, an OAuth-style object, or plain text."""
    if isinstance(content, list):
        items = [item for item in content if isinstance(item, dict)]
        if items:
            code = items[0].get("errorCode") or items[0].get("statusCode")
            message = "; ".join(str(item.get("message", "")).strip() for item in items)
            return (str(code) if code else None), message
    if isinstance(content, dict):
        code = content.get("errorCode") or content.get("error")
        message = content.get("message") or content.get("error_description") or ""
        return (str(code) if code else None), str(message).strip()
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return None, str(content or "").strip()[:300]


class Transport:
    """Runs Salesforce API calls with timeout, retries, classification, counting and
    re-authentication. `sleep` and `wait` are injectable so tests never sleep."""

    def __init__(
        self,
        settings: SalesforceSettings,
        credentials: Credentials,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wait: Callable[[RetryCallState], float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._credentials = credentials
        self.session = session or HttpSession(timeout=settings.timeout, ca_bundle=settings.ca_bundle)
        self.session.hooks["response"].append(self._observe)
        self.sleep = sleep
        self._core = TransportCore("Salesforce", secrets=self._secrets, expired=SessionExpiredError,
                                   backoff=wait or wait_random_exponential(multiplier=0.5, max=30))
        self._clock = clock
        self._sf: Salesforce | None = None
        self._mdapi: SfdcMetadataApi | None = None
        self._token: Token | None = None
        self._last_retry_after: float | None = None
        self.api_usage: ApiUsage | None = None

    # -- public surface for the adapter ------------------------------------------------

    @property
    def calls(self) -> dict[str, int]:
        return self._core.calls

    @property
    def can_refresh(self) -> bool:
        return isinstance(self._credentials, JwtCredentials)

    @property
    def token_user_id(self) -> str | None:
        """The user id from the token response's identity URL (JWT only)."""
        return self._token.user_id if self._token else None

    def login(self) -> None:
        """Obtain a session (JWT: one token request; session auth: no call) and build the
        simple-salesforce client around our `requests.Session`."""
        creds = self._credentials
        if isinstance(creds, JwtCredentials):
            assertion = jwt_assertion(creds, audience=self.settings.jwt_audience, clock=self._clock)
            url = token_url(self.settings.login_url)

            def request_token() -> Token:
                response = self.session.post(
                    url, data=jwt_form(assertion), headers={"Accept": "application/json"}
                )
                return parse_token_response(response, default_instance_url=self.settings.instance_url)

            token = self._with_retries("oauth_token", request_token)
        else:
            token = Token(access_token=creds.session_id, instance_url=self.settings.instance_url)
        self._token = token
        # The Metadata API client caches the session id: a new login needs a new one.
        self._mdapi = None
        try:
            self._sf = Salesforce(
                instance_url=token.instance_url,
                session_id=token.access_token.get_secret_value(),
                version=self.settings.api_version,
                session=self.session,
                object_pairs_hook=dict,
            )
        except Exception as err:  # defensive: the constructor makes no call in 'direct' mode
            raise FatalError(
                self.redact(f"cannot build the Salesforce client: {type(err).__name__}")
            ) from err

    def call(self, family: str, op: Callable[[Salesforce], T]) -> T:
        """Run `op` (which makes exactly one HTTP request through the given client) under
        the retry policy; on an expired session re-authenticate once (JWT) and retry once."""
        return self._with_reauth(family, lambda: op(self._client()))

    def metadata(self, op: Callable[[SfdcMetadataApi], T]) -> T:
        """Run `op` (exactly one Metadata API SOAP call through the given client) like
        `call`, counted as ``metadata``. A failed component result (simple-salesforce raises
        a bare `Exception`) becomes `ConfigError`; a SOAP fault INVALID_SESSION_ID
        re-authenticates once (JWT) with a fresh Metadata API client, else `AuthError`."""
        return self._with_reauth(METADATA, lambda: op(self._metadata_api()))

    def _with_reauth(self, family: str, fn: Callable[[], T]) -> T:
        if self._sf is None:
            self.login()
        try:
            return self._with_retries(family, fn)
        except SessionExpiredError as err:
            if not self.can_refresh:
                raise AuthError(
                    "Salesforce session expired or invalid; session auth cannot be refreshed: "
                    f"set a new {ENV_SESSION_ID}",
                    code=err.code,
                    status=err.status,
                ) from err
        self.login()
        try:
            return self._with_retries(family, fn)
        except SessionExpiredError as err:
            raise AuthError(
                "Salesforce refused the session again right after a JWT re-login",
                code=err.code,
                status=err.status,
            ) from err

    def redact(self, text: str) -> str:
        """Remove every secret we hold from `text`."""
        return self._core.redact(text)

    def _secrets(self) -> list[str]:
        secrets: list[str] = []
        if self._token is not None:
            secrets.append(self._token.access_token.get_secret_value())
        creds = self._credentials
        if isinstance(creds, JwtCredentials):
            secrets.append(creds.consumer_key.get_secret_value())
        else:
            secrets.append(creds.session_id.get_secret_value())
        return secrets

    # -- internals ----------------------------------------------------------------------

    def _client(self) -> Salesforce:
        assert self._sf is not None
        return self._sf

    def _metadata_api(self) -> SfdcMetadataApi:
        """The Metadata API client for the current session, built on first use (the WSDL is
        a bundled file). Its SOAP calls go through our `requests.Session`, so they get our
        timeout, TLS verification against `ca_bundle`, and response hook."""
        if self._mdapi is None:
            sf = self._client()
            mdapi = SfdcMetadataApi(
                session=self.session,
                session_id=sf.session_id,
                instance=sf.sf_instance,
                metadata_url=sf.metadata_url,
                headers=sf.headers,
                api_version=sf.sf_version,
            )
            # zeep builds its own requests.Session (no ca_bundle, no timeout): replace it.
            mdapi._client.transport = _ZeepTransport(self.session)
            self._mdapi = mdapi
        return self._mdapi

    def _with_retries(self, family: str, fn: Callable[[], T]) -> T:
        return self._core.run(family, fn, attempts=self.settings.max_retries, sleep=self.sleep,
                              before=self._forget_retry_after, translate=self._translate)

    def _forget_retry_after(self, family: str) -> None:
        self._last_retry_after = None  # set again by `_observe` when this attempt is answered

    def _translate(self, family: str, err: Exception) -> ConnectorError | None:
        """simple-salesforce and zeep exceptions in our terms; None for anything else."""
        if isinstance(err, SalesforceError):
            return self._from_salesforce(family, err)
        if isinstance(err, zeep.exceptions.Fault):
            return self._from_fault(family, err)
        if isinstance(err, zeep.exceptions.TransportError):
            status = int(err.status_code or 0)
            text = self.redact(f"Salesforce {family} failed with HTTP {status}: {err.message}")[:500]
            kind = Kind.RETRY if status in (420, 429) or status >= 500 else Kind.FATAL
            return self._core.error(kind, text, code=None, status=status, retry_after=self._last_retry_after)
        if isinstance(err, zeep.exceptions.Error):
            return FatalError(self.redact(f"Salesforce {family}: {type(err).__name__}: {err}")[:500])
        # simple-salesforce's Metadata API raises a bare Exception listing the failed
        # components: "\nOpportunity.X__c: (STATUS, message), ".
        if family == METADATA and type(err) is Exception:
            message = self.redact(str(err).strip().rstrip(","))
            match = _METADATA_STATUS.search(message)
            return ConfigError(
                f"Salesforce metadata call rejected: {message}", code=match.group(1) if match else None
            )
        return None

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Response hook: remember quota usage and Retry-After of every answer."""
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = ApiUsage(int(match.group(1)), int(match.group(2)))
        self._last_retry_after = retry_after_seconds(response.headers.get("Retry-After"))

    def _from_salesforce(self, family: str, err: SalesforceError) -> ConnectorError:
        status = int(err.status)
        code, message = _error_parts(err.content)
        text = self.redact(
            f"Salesforce {family} failed with HTTP {status}" + (f": {message}" if message else "")
        )
        unknown = _NO_SUCH_COLUMN.search(message) if code == "INVALID_FIELD" else None
        if unknown:  # the query echo before it is URL-sized noise: keep Salesforce's sentence
            return UnknownFieldError(
                self.redact(f"Salesforce {family}: {message[unknown.start():]}"), field=unknown.group(1),
                object_name=unknown.group(2), code=code, status=status)
        return self._core.error(classify(status, code), text, code=code, status=status,
                                retry_after=self._last_retry_after)

    def _from_fault(self, family: str, err: zeep.exceptions.Fault) -> ConnectorError:
        code = str(err.code or "").rpartition(":")[2] or None
        text = self.redact(f"Salesforce {family} SOAP fault: {err.message}")[:500]
        return self._core.error(_FAULT_KINDS.get(code or "", Kind.FATAL), text, code=code, status=500)


class _ZeepTransport(zeep.transports.Transport):  # type: ignore[misc]
    """A zeep transport over an existing session, leaving that session untouched (zeep's
    own constructor mounts a file:// adapter and overwrites the User-Agent)."""

    def __init__(self, session: requests.Session) -> None:
        self.cache = None
        self.load_timeout = None
        self.operation_timeout = None  # HttpSession applies the configured timeout
        self.logger = logging.getLogger("zeep.transports")
        self._close_session = False
        self.session = session

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        response = self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)
        # A SOAP answer (faults included, HTTP 500) is XML; a gateway error page is not, and
        # zeep's lenient parser would fail on it with an AttributeError: report the status.
        if not response.content.lstrip().startswith(b"<"):
            raise zeep.exceptions.TransportError(
                f"HTTP {response.status_code}, not a SOAP answer",
                status_code=response.status_code,
                content=response.content,
            )
        return response
