"""The one place the Zoho adapter touches the network.

Every HTTP exchange (token grants and every ``/crm/v8`` call) runs through
`Transport._with_retries`, that is through the shared `TransportCore.run` (retries with a
jittered exponential wait — Zoho sends no ``Retry-After`` —, call counting per endpoint
family, redaction, the `requests` exceptions). What is Zoho's own stays here:

* the default timeout and TLS verification of every request (`HttpSession`);
* the access token: cached for its hour (optionally in a file across runs), refreshed
  `refresh_margin` seconds before it ends, never more than 10 mints per 10 minutes, and on
  ``401 INVALID_TOKEN`` exactly one refresh and one retry;
* the error classification table, keyed by (HTTP status, Zoho code), and the parser of
  Zoho's error envelope (`_answer`);
* the credits Zoho reports left (``X-API-CREDITS-REMAINING``, sent once half the day's
  allowance is used): a call that would dig into `credit_reserve` is refused, and a 429
  with no credits left is the day's limit, not a pause.

No `requests` exception leaves this module, and no secret reaches an error message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import requests
from tenacity import RetryCallState, wait_random_exponential

from presales_sync.connector._http import HttpSession, Kind, json_object
from presales_sync.connector._http import classify as classify_in
from presales_sync.connector._transport_core import TransportCore
from presales_sync.connector.errors import (
    AuthError,
    FatalError,
    LimitExceededError,
    RetryableError,
    UnknownFieldError,
)
from presales_sync.connector.zoho._auth import (
    CacheEntry,
    Credentials,
    MintLimiter,
    Token,
    TokenCache,
    parse_token_response,
    refresh_form,
)
from presales_sync.connector.zoho.settings import ZohoSettings

#: A wait for the minting limit longer than this is not slept through: the run stops with a
#: `RetryableError` carrying `retry_after`, and cron comes back later.
MAX_MINT_WAIT_SECONDS = 60.0
OAUTH = "oauth_token"
CREDITS_HEADER = "X-API-CREDITS-REMAINING"
#: Statuses whose answer the adapter reads: 204/304 mean "nothing"; 207 is a mixed batch.
OK_STATUSES = frozenset({200, 201, 202, 204, 207, 304})
#: The per-record (or per-field) result lists of batch answers.
RECORD_LISTS = ("data", "users", "fields", "modules", "variables")


class Answer(NamedTuple):
    """A successful exchange: the status and the JSON object (None for 204/304)."""

    status: int
    body: dict[str, Any] | None


#: (HTTP status or class like "5xx", Zoho code or None for "any code"); most specific first;
#: anything not listed is FATAL.
CLASSIFICATION: dict[tuple[int | str, str | None], Kind] = {
    (401, "INVALID_TOKEN"): Kind.REAUTH,
    (401, "OAUTH_SCOPE_MISMATCH"): Kind.CONFIG,  # the self client lacks a scope: re-grant it
    (401, None): Kind.AUTH,
    (403, None): Kind.CONFIG,  # NO_PERMISSION / NOT_SUPPORTED: the user's profile must change
    (400, "INVALID_MODULE"): Kind.CONFIG,
    (400, "INVALID_HOST"): Kind.CONFIG,
    (400, "REQUIRED_PARAM_MISSING"): Kind.CONFIG,
    (400, "INVALID_QUERY"): Kind.CONFIG,
    (400, "LIMIT_EXCEEDED"): Kind.CONFIG,  # custom-field allowance of the edition, too wide a call
    (400, "DUPLICATE_DATA"): Kind.CONFIG,
    (400, "NOT_ALLOWED"): Kind.CONFIG,
    (404, None): Kind.CONFIG,  # INVALID_URL_PATTERN: a wrong api_domain / accounts_url override
    (429, None): Kind.RETRY,  # TOO_MANY_REQUESTS: credits or concurrency; no Retry-After
    ("5xx", None): Kind.RETRY,
}


def classify(status: int, code: str | None) -> Kind:
    return classify_in(CLASSIFICATION, status, code)


class TokenExpiredError(AuthError):
    """401 INVALID_TOKEN: `Transport.request` refreshes once and retries once."""


def _error_parts(body: Mapping[str, Any] | None, response: requests.Response) -> tuple[str | None, str]:
    """(code, message) of Zoho's ``{"code", "details", "message", "status"}`` envelope."""
    if body is not None and body.get("code"):
        message = str(body.get("message") or "")
        details = body.get("details")
        if isinstance(details, Mapping) and details:
            message += " " + ", ".join(f"{k}={v}" for k, v in details.items())
        return str(body["code"]), message.strip()
    text = response.text if response.content else ""
    return None, text.strip()[:300]


def _unknown_field(code: str | None, body: Mapping[str, Any] | None) -> str | None:
    """The field Zoho refused in a ``fields`` parameter (INVALID_DATA with
    ``details: {param_name: fields, param: <name>}``), else None."""
    details = body.get("details") if body is not None else None
    if code == "INVALID_DATA" and isinstance(details, Mapping) and details.get("param_name") == "fields":
        return str(details.get("param") or "") or None
    return None


def _credits(response: requests.Response) -> int | None:
    value = response.headers.get(CREDITS_HEADER)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class Transport:
    """Runs Zoho API calls with a valid token, timeout, retries, classification and
    counting. `sleep`, `wait` and `clock` are seams so tests never sleep or wait an hour."""

    def __init__(
        self,
        settings: ZohoSettings,
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
        self.sleep = sleep
        self._core = TransportCore("Zoho", secrets=self._secrets, expired=TokenExpiredError,
                                   backoff=wait or wait_random_exponential(multiplier=1, max=60))
        self._clock = clock
        self._cache = (TokenCache(settings.token_cache, credentials.cache_key())
                       if settings.token_cache is not None else None)
        self._token: Token | None = None
        self._limiter = MintLimiter()
        self._loaded_cache = False
        self._old_tokens: list[str] = []
        self._user_id: str | None = None
        self.credits_remaining: int | None = None

    # -- public surface for the adapter ------------------------------------------------

    @property
    def calls(self) -> dict[str, int]:
        return self._core.calls

    @property
    def api_domain(self) -> str:
        """Where the calls go: the override, else the token response's ``api_domain``."""
        return self.settings.api_domain or self.token().api_domain

    def token(self) -> Token:
        """A token good for at least `refresh_margin` more seconds (minted only when needed)."""
        self._load_cache()
        token = self._token
        if token is not None and self._clock() < token.expires_at - self.settings.refresh_margin:
            return token
        return self._mint()

    @property
    def user_id(self) -> str | None:
        """The integration user's id as remembered in the token cache (None: ask Zoho)."""
        self._load_cache()
        return self._user_id

    def remember_user(self, user_id: str) -> None:
        """Keep the integration user's id with the token: later runs need not ask again."""
        self._user_id = user_id
        self._save_cache()

    def request(self, family: str, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, headers: Mapping[str, str] | None = None,
                record_errors: bool = False) -> Answer:
        """One ``/crm/v8`` call (`path` starts with ``/crm/``) under the retry policy. On
        ``401 INVALID_TOKEN`` the token is refreshed once and the call retried once.
        `record_errors`: a 400 whose body is a per-record list (every record of a batch
        rejected) is an answer, not an error."""

        def send() -> Answer:
            token = self._token
            assert token is not None
            url = (self.settings.api_domain or token.api_domain) + path
            all_headers = {"Authorization": "Zoho-oauthtoken " + token.access_token.get_secret_value(),
                           "Accept": "application/json", **(headers or {})}
            response = self.session.request(method, url, params=params, json=json, headers=all_headers)
            return self._answer(family, response, record_errors)

        self.token()
        try:
            return self._with_retries(family, send)
        except TokenExpiredError:
            self._mint(force=True)
        try:
            return self._with_retries(family, send)
        except TokenExpiredError as err:
            raise AuthError("Zoho refused a freshly minted access token (INVALID_TOKEN twice)",
                            code=err.code, status=err.status) from err

    def redact(self, text: str) -> str:
        """Remove every secret we hold from `text`."""
        return self._core.redact(text)

    def _secrets(self) -> list[str]:
        secrets = [*self._credentials.secrets(), *self._old_tokens]
        if self._token is not None:
            secrets.append(self._token.access_token.get_secret_value())
        return secrets

    # -- the token -----------------------------------------------------------------------

    def _mint(self, *, force: bool = False) -> Token:
        if self._cache is not None and not force:
            # Another process may have minted meanwhile: use its token, count its mints.
            entry = self._cache.load()
            cached = entry.token
            self._limiter.mints = sorted(set(self._limiter.mints) | set(entry.mints))
            if cached is not None and self._clock() < cached.expires_at - self.settings.refresh_margin:
                self._token = cached
                return cached
        wait = self._limiter.wait_needed(self._clock())
        if wait > MAX_MINT_WAIT_SECONDS:
            raise RetryableError(
                f"Zoho allows 10 access tokens per 10 minutes per refresh token and they are spent; "
                f"the next one in {wait:.0f} s", code="TOKEN_LIMIT", retry_after=wait)
        if wait > 0:
            self.sleep(wait)

        def grant() -> Token:
            response = self.session.post(self.settings.token_url, data=refresh_form(self._credentials),
                                         headers={"Accept": "application/json"})
            return parse_token_response(response, now=self._clock(),
                                        default_api_domain=self.settings.default_api_domain)

        token = self._with_retries(OAUTH, grant)
        self._limiter.record(self._clock())
        if self._token is not None:
            self._old_tokens.append(self._token.access_token.get_secret_value())
        self._token = token
        self._save_cache()
        return token

    def _load_cache(self) -> None:
        if not self._loaded_cache and self._cache is not None:
            entry = self._cache.load()
            self._token, self._limiter.mints, self._user_id = entry.token, entry.mints, entry.user_id
        self._loaded_cache = True

    def _save_cache(self) -> None:
        if self._cache is not None:
            self._cache.save(CacheEntry(self._token, self._limiter.mints, self._user_id))

    # -- internals ----------------------------------------------------------------------

    def _with_retries(self, family: str, fn: Callable[[], Any]) -> Any:
        return self._core.run(family, fn, attempts=self.settings.max_retries, sleep=self.sleep,
                              before=self._check_credits)

    def _check_credits(self, family: str) -> None:
        """Refuse (uncounted) a call that would dig into the credits left to the org."""
        if self.credits_remaining is not None and self.credits_remaining <= self.settings.credit_reserve \
                and family != OAUTH:
            raise LimitExceededError(
                f"Zoho reports {self.credits_remaining} API credits left (reserve "
                f"{self.settings.credit_reserve}): stopping to leave them to the org", code="CREDITS_RESERVE")

    def _answer(self, family: str, response: requests.Response, record_errors: bool) -> Answer:
        status = response.status_code
        credits = _credits(response)
        if credits is not None:
            self.credits_remaining = credits
        body = json_object(response)
        if status in OK_STATUSES:
            if status in (204, 304):
                return Answer(status, None)
            if body is None:
                raise FatalError(f"Zoho {family} answered HTTP {status} without a JSON object", status=status)
            return Answer(status, body)
        if record_errors and status == 400 and body is not None and any(
                isinstance(body.get(key), list) for key in RECORD_LISTS):
            return Answer(status, body)
        code, message = _error_parts(body, response)
        text = self.redact(f"Zoho {family} failed with HTTP {status}" + (f": {message}" if message else ""))
        field = _unknown_field(code, body)
        if field is not None:
            raise UnknownFieldError(text, field=field, code=code, status=status)
        kind = classify(status, code)
        if kind is Kind.RETRY and status == 429 and credits == 0:
            kind = Kind.LIMIT  # the day's credits are spent: retrying only burns the next ones
        raise self._core.error(kind, text, code=code, status=status)
