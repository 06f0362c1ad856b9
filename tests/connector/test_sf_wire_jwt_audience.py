"""The JWT bearer ``aud``: Salesforce checks it against its authorization server
(https://login.salesforce.com, https://test.salesforce.com for sandboxes), not against the
host the assertion is posted to. A My Domain token URL keeps the login audience; an admin can
override it with ``crm.auth.audience``; the sandbox, like a real org, refuses a My Domain
audience unless told to accept it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sandbox_seed import PLUGIN_ORG

from presales_sync.connector import AuthError, ConfigError
from presales_sync.connector.salesforce import SalesforceSettings, connect
from presales_sync.connector.salesforce.settings import default_audience
from presales_sync.sandbox import Sandbox

MY_DOMAIN = "https://acme.my.salesforce.com"
USERNAME = "integration@acme.example"


@pytest.mark.parametrize(("login_url", "audience"), [
    ("https://login.salesforce.com", "https://login.salesforce.com"),
    ("https://test.salesforce.com", "https://test.salesforce.com"),
    ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
    ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
    ("https://ACME--UAT.SANDBOX.MY.SALESFORCE.COM/", "https://test.salesforce.com"),
])
def test_default_audience_is_the_authorization_server_not_the_my_domain(
    login_url: str, audience: str
) -> None:
    assert default_audience(login_url) == audience
    assert SalesforceSettings(instance_url=MY_DOMAIN, login_url=login_url).jwt_audience == audience


def test_an_audience_override_wins_and_must_be_https() -> None:
    site = "https://acme.my.site.com/customers"  # an Experience Cloud site's audience has a path
    assert SalesforceSettings(instance_url=MY_DOMAIN, audience=site).jwt_audience == site
    with pytest.raises(ConfigError, match="audience must be an https:// URL"):
        SalesforceSettings(instance_url=MY_DOMAIN, audience="http://login.salesforce.com")


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _posted_audience(rsps: responses.RequestsMock) -> str:
    form = parse_qs(rsps.calls[0].request.body)
    return str(jwt.decode(form["assertion"][0], options={"verify_signature": False})["aud"])


@pytest.mark.parametrize(("audience", "sent"), [
    (None, "https://login.salesforce.com"), ("https://test.salesforce.com", "https://test.salesforce.com")])
def test_token_is_asked_of_the_my_domain_with_the_right_audience(
    rsps: responses.RequestsMock, key_pem: bytes, tmp_path: Path, audience: str | None, sent: str
) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_bytes(key_pem)
    env = {"PRESALES_SF_USERNAME": USERNAME, "PRESALES_SF_CONSUMER_KEY": "3MVG9Key",
           "PRESALES_SF_PRIVATE_KEY_FILE": str(key_file)}
    rsps.post(f"{MY_DOMAIN}/services/oauth2/token", json={
        "access_token": "00Dx!token", "instance_url": MY_DOMAIN, "token_type": "Bearer",
        "id": "https://login.salesforce.com/id/00D5g000004ORGID/0055g00000A1b2CAAR"})
    connect(SalesforceSettings(instance_url=MY_DOMAIN, auth_method="jwt", login_url=MY_DOMAIN,
                               audience=audience), env)
    assert rsps.calls[0].request.url == f"{MY_DOMAIN}/services/oauth2/token"
    assert _posted_audience(rsps) == sent


def _sandbox_login(sb: Sandbox, audience: str | None) -> None:
    settings = SalesforceSettings(instance_url=sb.url, auth_method="jwt", login_url=sb.url,
                                  audience=audience, ca_bundle=str(sb.ca_file))
    connect(settings, {"PRESALES_SF_USERNAME": sb.integration_username,
                       "PRESALES_SF_CONSUMER_KEY": sb.consumer_key,
                       "PRESALES_SF_PRIVATE_KEY_FILE": str(sb.private_key_file)})


@pytest.mark.parametrize("accept", [False, True])
def test_the_sandbox_refuses_a_my_domain_audience_unless_configured(tmp_path: Path, accept: bool) -> None:
    with Sandbox(tmp_path / "sb", seed=10, accept_my_domain_audience=accept, org=PLUGIN_ORG) as sb:
        _sandbox_login(sb, None)  # the default audience (login.salesforce.com) is accepted
        _sandbox_login(sb, "https://test.salesforce.com")
        if accept:
            _sandbox_login(sb, sb.url)
        else:
            with pytest.raises(AuthError, match="audience is invalid") as err:
                _sandbox_login(sb, sb.url)
            assert err.value.code == "invalid_grant"
