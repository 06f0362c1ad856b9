"""What every CRM transport does around its one network touch point, written once.

`TransportCore.run` is the single function through which each adapter's HTTP exchanges go.
It owns:

* the tenacity policy: a stop (the attempts allowed, or a ``Retry-After`` longer than we
  sleep through inside a call), a wait (the server's ``Retry-After`` when the error carries
  one, else a jittered exponential back-off) and a predicate (only `RetryableError`);
* the count of API calls per endpoint family;
* the translation of every exception: ours pass through, a `requests` exception (no answer)
  becomes `ConfigError` / `RetryableError` / `FatalError`, a vendor's own exception goes
  through the CRM's `translate` hook;
* redaction of every secret the CRM holds.

`error_for` builds the exception for an error `Kind`. What stays per CRM: its classification
table, its error-body parser, its authentication (and when to refresh it) and its own rules
(Zoho's credit reserve, Salesforce's ``Sforce-Limit-Info``, SOAP faults, …).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_any
from tenacity.stop import stop_base

from presales_sync.connector._http import Kind, transport_failure
from presales_sync.connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    FatalError,
    LimitExceededError,
    RetryableError,
)

T = TypeVar("T")

#: A Retry-After longer than this is not slept through inside a call: the error is raised
#: with `retry_after` set and the caller decides (e.g. end the run, come back later).
MAX_RETRY_AFTER_SECONDS = 60.0

#: A tenacity wait: seconds to sleep before the next attempt.
Wait = Callable[[RetryCallState], float]
#: A CRM's hook for its own exceptions (not ours, not `requests`): our error, or None to let
#: the exception through unchanged.
Translate = Callable[[str, Exception], ConnectorError | None]

REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced, in the order given."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def error_for(kind: Kind, text: str, *, code: str | None, status: int | None,
              retry_after: float | None = None, expired: type[AuthError] = AuthError) -> ConnectorError:
    """The exception for `kind`. `expired` is the CRM's own "refresh once, retry once" error
    (Kind.REAUTH); `retry_after` is kept by a `RetryableError` only."""
    if kind is Kind.REAUTH:
        return expired(text, code=code, status=status)
    if kind is Kind.AUTH:
        return AuthError(text, code=code, status=status)
    if kind is Kind.LIMIT:
        return LimitExceededError(text, code=code, status=status)
    if kind is Kind.CONFIG:
        return ConfigError(text, code=code, status=status)
    if kind is Kind.RETRY:
        return RetryableError(text, code=code, status=status, retry_after=retry_after)
    return FatalError(text, code=code, status=status)


class TransportCore:
    """The retry runner, call counter, redactor and exception builder of one CRM transport.

    `vendor` starts every message ("Salesforce", "Zoho"); `secrets` is asked for the secrets
    held right now each time a message is redacted; `expired` is the CRM's REAUTH error;
    `backoff` is the wait between attempts when the server names none (a seam for tests)."""

    def __init__(self, vendor: str, *, secrets: Callable[[], Iterable[str]], expired: type[AuthError],
                 backoff: Wait) -> None:
        self.vendor = vendor
        self._secrets = secrets
        self._expired = expired
        self._backoff = backoff
        self._calls: Counter[str] = Counter()

    @property
    def calls(self) -> dict[str, int]:
        """API calls made so far, per endpoint family (retries and refused calls included)."""
        return dict(self._calls)

    def redact(self, text: str) -> str:
        """Remove every secret the CRM holds from `text`."""
        return redact(text, self._secrets())

    def error(self, kind: Kind, text: str, *, code: str | None, status: int | None,
              retry_after: float | None = None) -> ConnectorError:
        """`error_for` with this CRM's expired-session error."""
        return error_for(kind, text, code=code, status=status, retry_after=retry_after, expired=self._expired)

    def run(self, family: str, fn: Callable[[], T], *, attempts: int, sleep: Callable[[float], None],
            before: Callable[[str], None] | None = None, translate: Translate | None = None) -> T:
        """Run `fn` (exactly one HTTP exchange) under the retry policy, at most `attempts`
        times. `before(family)` runs ahead of each attempt and may refuse it by raising
        (not counted as a call); `translate` maps the CRM's own exceptions."""
        retrying = Retrying(
            stop=stop_any(stop_after_attempt(attempts), _StopOnLongRetryAfter()),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableError),
            sleep=sleep,
            reraise=True,
        )
        return retrying(self._attempt, family, fn, before, translate)

    def _attempt(self, family: str, fn: Callable[[], T], before: Callable[[str], None] | None,
                 translate: Translate | None) -> T:
        """THE network touch point: one HTTP exchange, counted and classified."""
        if before is not None:
            before(family)
        self._calls[family] += 1
        try:
            return fn()
        except ConnectorError:
            raise
        except requests.RequestException as err:
            raise self.no_answer(family, err) from err
        except Exception as err:
            ours = translate(family, err) if translate is not None else None
            if ours is None:
                raise
            raise ours from err

    def no_answer(self, family: str, err: requests.RequestException) -> ConnectorError:
        """An exchange that got no answer: untrusted TLS is for an admin to fix, a lost
        connection or a timeout is worth retrying, anything else is fatal."""
        text = f"{self.vendor} {family}: " + self.redact(transport_failure(err))
        if isinstance(err, requests.exceptions.SSLError):  # before ConnectionError, its base
            return ConfigError(text)
        if isinstance(err, requests.ConnectionError | requests.Timeout):
            return RetryableError(text)
        return FatalError(text)

    def _wait(self, retry_state: RetryCallState) -> float:
        exc = _exception(retry_state)
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(retry_state))


def _exception(retry_state: RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    return outcome.exception() if outcome is not None else None


class _StopOnLongRetryAfter(stop_base):
    """Stop when the server asks for a pause longer than we are willing to sleep in a call."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = _exception(retry_state)
        return (
            isinstance(exc, RetryableError)
            and exc.retry_after is not None
            and exc.retry_after > MAX_RETRY_AFTER_SECONDS
        )


__all__ = ["MAX_RETRY_AFTER_SECONDS", "REDACTED", "Translate", "TransportCore", "Wait", "error_for",
           "redact"]
