"""What every adapter's transport shares: the HTTP session (a default timeout on every
request, TLS always verified), the error-kind lookup by (HTTP status, vendor code), and small
helpers for URLs, JSON answers and batches."""

from __future__ import annotations

import enum
import errno
import os
import socket
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests

from presales_sync.connector.errors import ConfigError

T = TypeVar("T")


class Kind(enum.Enum):
    """What the caller should do about a failed exchange."""

    REAUTH = "reauth"  # the session / access token expired: re-authenticate once, retry once
    AUTH = "auth"
    LIMIT = "limit"
    CONFIG = "config"
    RETRY = "retry"
    FATAL = "fatal"


#: (HTTP status or status class like "5xx", vendor code or None for "any code") → Kind.
Table = Mapping[tuple[int | str, str | None], Kind]


def classify(table: Table, status: int, code: str | None) -> Kind:
    """Look `(status, code)` up most specific first; anything not listed is FATAL."""
    status_class = f"{status // 100}xx"
    for key in ((status, code), (status, None), (status_class, code), (status_class, None)):
        kind = table.get(key)
        if kind is not None:
            return kind
    return Kind.FATAL


def check_https_url(name: str, value: str) -> None:
    """`ConfigError` unless `value` is a bare https origin (TLS is always verified, so a
    plain-http CRM URL is a configuration mistake)."""
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.hostname:
        raise ConfigError(f"{name} must be an https:// URL, got {value!r}")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise ConfigError(f"{name} must be a bare origin like https://host[:port], got {value!r}")


def json_object(response: requests.Response) -> dict[str, Any] | None:
    """The answer's JSON object, None when the body is empty, not JSON or not an object."""
    if not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class HttpSession(requests.Session):
    """A `requests.Session` with a default timeout on every request and TLS always verified
    (against `ca_bundle` when given, else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE / certifi).

    Verification cannot be switched off: a false ``verify`` on a call or on the session is
    overridden on every request. The only way to reach a server with a private CA is to
    trust that CA by naming its file; a named file that does not exist is a `ConfigError`."""

    def __init__(self, *, timeout: float, ca_bundle: str | None = None) -> None:
        super().__init__()
        self.default_timeout = timeout
        if ca_bundle:
            _check_ca_file("crm.ca_bundle", ca_bundle)
        self.ca_bundle = ca_bundle or None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        # Per request: a request-level value wins over session.verify, and True is replaced
        # by REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (a named CA file) when the environment is trusted.
        kwargs["verify"] = self.ca_bundle or True
        if not self.ca_bundle and self.trust_env:
            for name in _CA_ENV:
                if os.environ.get(name):
                    _check_ca_file(name, os.environ[name])
                    break
        return super().request(method, url, *args, **kwargs)


_CA_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _check_ca_file(name: str, path: str) -> None:
    # requests would raise a bare OSError deep inside the call; say what to fix instead.
    if not os.path.exists(path):  # a file, or a c_rehash'd directory
        raise ConfigError(f"{name} names a CA file that does not exist: {path}")


def transport_failure(err: requests.RequestException) -> str:
    """One line naming the host and the cause of an exchange that got no answer.

    The URL is never quoted: its query string is URL-encoded SOQL (or a Zoho criteria) that
    buries the cause, and it can carry ids. The cause comes from the innermost socket or TLS
    error that urllib3 wrapped."""
    where = _host_of(err)
    return f"cannot reach {where}: {_cause(err)}" if where else f"no answer: {_cause(err)}"


def _host_of(err: requests.RequestException) -> str:
    url = getattr(err.request, "url", None) if err.request is not None else None
    if not url:
        return ""
    parsed = urlparse(str(url))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.hostname}:{port}" if parsed.hostname else ""


def _chain(err: BaseException) -> list[BaseException]:
    """`err` and every exception it wraps (urllib3 keeps them in ``reason``, ``args`` and the
    ``__cause__`` / ``__context__`` links), outermost first, each once."""
    out: list[BaseException] = []
    todo = [err]
    while todo:
        e = todo.pop(0)
        if any(e is seen for seen in out):
            continue
        out.append(e)
        nested = [getattr(e, "reason", None), e.__cause__, e.__context__, *getattr(e, "args", ())]
        todo.extend(n for n in nested if isinstance(n, BaseException))
    return out


def _cause(err: requests.RequestException) -> str:
    chain = _chain(err)
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return (f"TLS certificate not trusted ({e.verify_message or e.reason}); trust the "
                    f"server's CA with crm.ca_bundle or REQUESTS_CA_BUNDLE")
    for e in chain:
        if isinstance(e, socket.gaierror):
            return "DNS lookup failed (no such host, or no DNS server reachable)"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused (nothing listens on that port)"
        if isinstance(e, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake failed ({e.reason or e.strerror or type(e).__name__})"
        if isinstance(e, OSError) and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable (no route to it from this machine)"
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return "connection timed out (a firewall, or the host is down)"
    if isinstance(err, requests.Timeout):
        return "no answer within the timeout (crm.timeout_seconds)"
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS handshake failed"
    innermost = chain[-1]
    return type(innermost).__name__ + (f" ({innermost.strerror})" if isinstance(innermost, OSError)
                                       and innermost.strerror else "")


__all__ = ["HttpSession", "Kind", "Table", "check_https_url", "chunks", "classify", "json_object",
           "transport_failure"]
