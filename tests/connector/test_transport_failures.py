"""An exchange that gets no answer ends in one line naming the host and the cause: a
refused port, a DNS failure, an unreachable host, an untrusted certificate. Never the URL
(its query string is URL-encoded SOQL), never a urllib3 repr. Every case is a real socket
on 127.0.0.1 or a real failure raised where the socket layer raises it."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest
from sandbox_seed import PLUGIN_ORG

from presales_sync.connector import ConfigError, ConnectorError, RetryableError
from presales_sync.connector.salesforce import SalesforceSettings
from presales_sync.connector.salesforce import connect as connect_salesforce
from presales_sync.connector.zoho import ZohoSettings
from presales_sync.connector.zoho import connect as connect_zoho
from presales_sync.sandbox import Sandbox

SF_ENV = {"PRESALES_SF_SESSION_ID": "00Dx!sessionsecretvalue"}
ZOHO_ENV = {"PRESALES_ZOHO_CLIENT_ID": "1000.CLIENT", "PRESALES_ZOHO_CLIENT_SECRET": "clientsecretvalue",
            "PRESALES_ZOHO_REFRESH_TOKEN": "1000.refreshsecretvalue"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_salesforce(url: str, **settings: object) -> ConnectorError:
    sf = connect_salesforce(SalesforceSettings(instance_url=url, auth_method="session", max_retries=2,
                                               **settings), SF_ENV, sleep=lambda _s: None)  # type: ignore[arg-type]
    with pytest.raises(ConnectorError) as caught:
        list(sf.read_changed(object_name="Opportunity", fields=["Name", "Amount"], since=None))
    return caught.value


def _assert_one_clean_line(message: str) -> None:
    assert "\n" not in message
    noises = ("%2C", "SELECT", "HTTPSConnectionPool", "Max retries", "sessionsecretvalue", "object at 0x")
    for noise in noises:
        assert noise not in message, message


def test_refused_port_names_host_port_and_cause() -> None:
    port = _closed_port()
    err = _read_salesforce(f"https://127.0.0.1:{port}")
    assert isinstance(err, RetryableError)
    assert str(err) == (f"Salesforce query: cannot reach 127.0.0.1:{port}: "
                        "connection refused (nothing listens on that port)")


def test_dns_failure_names_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(host: object, *args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)  # no lookup leaves the machine
    err = _read_salesforce("https://acme.my.salesforce.com")
    assert isinstance(err, RetryableError)
    assert "cannot reach acme.my.salesforce.com:443: DNS lookup failed" in str(err)
    _assert_one_clean_line(str(err))


def test_unreachable_host_names_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()

    def no_route(self: socket.socket, address: object) -> None:
        raise OSError(errno.EHOSTUNREACH, "No route to host")

    monkeypatch.setattr(socket.socket, "connect", no_route)
    err = _read_salesforce(f"https://127.0.0.1:{port}")
    assert f"cannot reach 127.0.0.1:{port}: host unreachable" in str(err)
    _assert_one_clean_line(str(err))


def test_untrusted_certificate_is_a_config_error_saying_what_to_trust(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    with Sandbox(tmp_path / "sb", seed=5, org=PLUGIN_ORG) as sb:
        err = _read_salesforce(sb.url)
    assert isinstance(err, ConfigError)
    assert f"cannot reach 127.0.0.1:{sb.port}: TLS certificate not trusted (" in str(err)
    assert "crm.ca_bundle or REQUESTS_CA_BUNDLE" in str(err)
    _assert_one_clean_line(str(err))


def test_zoho_refused_port_names_host_and_cause() -> None:
    port = _closed_port()
    zoho = connect_zoho(ZohoSettings(accounts_url=f"https://127.0.0.1:{port}", max_retries=2),
                        ZOHO_ENV, sleep=lambda _s: None)
    with pytest.raises(ConnectorError) as caught:
        list(zoho.read_changed(object_name="Deals", fields=["Deal_Name"], since=None))
    assert f"cannot reach 127.0.0.1:{port}: connection refused" in str(caught.value)
    _assert_one_clean_line(str(caught.value))
    assert "refreshsecretvalue" not in str(caught.value) and "clientsecretvalue" not in str(caught.value)
