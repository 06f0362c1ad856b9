"""The shared transport core: retries, Retry-After, the uncounted refusal, the translation of
exceptions, redaction and the exception for each error kind."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from presales_sync.connector._http import Kind
from presales_sync.connector._transport_core import MAX_RETRY_AFTER_SECONDS, TransportCore, error_for
from presales_sync.connector.errors import (
    AuthError,
    ConfigError,
    FatalError,
    LimitExceededError,
    RetryableError,
)


class ExpiredError(AuthError):
    pass


def _core(secrets: list[str] | None = None) -> TransportCore:
    return TransportCore("Acme", secrets=lambda: secrets or [], expired=ExpiredError, backoff=lambda _s: 7.0)


def _failing(*errors: Exception) -> Callable[[], str]:
    todo = list(errors)

    def fn() -> str:
        if todo:
            raise todo.pop(0)
        return "ok"

    return fn


def test_retries_with_backoff_or_the_servers_retry_after() -> None:
    core, sleeps = _core(), list[float]()
    fn = _failing(RetryableError("busy"), RetryableError("busy", retry_after=2.5))
    assert core.run("query", fn, attempts=3, sleep=sleeps.append) == "ok"
    assert sleeps == [7.0, 2.5] and core.calls == {"query": 3}


def test_stops_after_the_attempts_and_on_a_long_retry_after() -> None:
    core, sleeps = _core(), list[float]()
    with pytest.raises(RetryableError):
        core.run("query", _failing(*[RetryableError("busy")] * 5), attempts=2, sleep=sleeps.append)
    long = RetryableError("later", retry_after=MAX_RETRY_AFTER_SECONDS + 1)
    with pytest.raises(RetryableError) as info:
        core.run("query", _failing(long), attempts=5, sleep=sleeps.append)
    assert info.value is long and sleeps == [7.0] and core.calls == {"query": 3}


def test_only_retryable_errors_are_retried() -> None:
    core = _core()
    with pytest.raises(ConfigError):
        core.run("query", _failing(ConfigError("no")), attempts=5, sleep=lambda _s: None)
    assert core.calls == {"query": 1}


def test_a_refusal_before_the_attempt_is_not_counted() -> None:
    core = _core()

    def refuse(family: str) -> None:
        raise LimitExceededError(f"no credits for {family}")

    with pytest.raises(LimitExceededError, match="no credits for query"):
        core.run("query", _failing(), attempts=3, sleep=lambda _s: None, before=refuse)
    assert core.calls == {}


def test_requests_errors_become_ours_redacted() -> None:
    core = _core(["s3cret"])
    request = requests.Request("GET", "https://crm.example:8443/x?s3cret").prepare()
    cases = [(requests.exceptions.SSLError("bad", request=request), ConfigError),
             (requests.ConnectionError("s3cret refused", request=request), RetryableError),
             (requests.exceptions.InvalidURL("s3cret", request=request), FatalError)]
    for err, expected in cases:
        with pytest.raises(expected) as info:
            core.run("query", _failing(err), attempts=1, sleep=lambda _s: None)
        assert str(info.value).startswith("Acme query: cannot reach crm.example:8443")
        assert "s3cret" not in str(info.value) and info.value.__cause__ is err


def test_vendor_exceptions_go_through_translate_or_pass_unchanged() -> None:
    core = _core()
    mapped = FatalError("ours")
    with pytest.raises(FatalError) as info:
        core.run("q", _failing(KeyError("x")), attempts=1, sleep=lambda _s: None,
                 translate=lambda _f, _e: mapped)
    assert info.value is mapped and isinstance(info.value.__cause__, KeyError)
    with pytest.raises(KeyError):
        core.run("q", _failing(KeyError("x")), attempts=1, sleep=lambda _s: None,
                 translate=lambda _f, _e: None)


def test_redact_replaces_every_held_secret_and_skips_empty_ones() -> None:
    assert _core(["", "tok", "key"]).redact("tok and key and more") == "[redacted] and [redacted] and more"


@pytest.mark.parametrize(("kind", "expected"), [
    (Kind.REAUTH, ExpiredError), (Kind.AUTH, AuthError), (Kind.LIMIT, LimitExceededError),
    (Kind.CONFIG, ConfigError), (Kind.RETRY, RetryableError), (Kind.FATAL, FatalError)])
def test_error_for_each_kind(kind: Kind, expected: type[Exception]) -> None:
    err = error_for(kind, "text", code="C", status=400, retry_after=3.0, expired=ExpiredError)
    assert type(err) is expected and err.code == "C" and err.status == 400
    assert getattr(err, "retry_after", None) == (3.0 if kind is Kind.RETRY else None)
