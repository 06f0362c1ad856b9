"""The Salesforce adapter against `responses` stubs: request shapes, auth, paging, batching,
and every recorded error body mapped to the right error kind. Nothing here sleeps."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import presales_sync.connector.salesforce as salesforce_pkg
from presales_sync import connector
from presales_sync.connector import (
    AuthError,
    ConfigError,
    ConnectorError,
    FatalError,
    LimitExceededError,
    RecordChange,
    RetryableError,
)
from presales_sync.connector.base import Connector
from presales_sync.connector.salesforce import SalesforceConnector, SalesforceSettings, connect

INSTANCE = "https://acme.my.salesforce.com"
LOGIN = "https://login.salesforce.com"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
BASE = f"{INSTANCE}/services/data/v66.0"
QUERY_URL = f"{BASE}/query/"
COLLECTION_URL = f"{BASE}/composite/sobjects"
SESSION_ID = "00D5g000004SECRET!AQ8AQSessionSecretValue"
TOKENS = ["00D5g000004TOKEN!first-access-token", "00D5g000004TOKEN!second-access-token"]
USER_ID = "0055g00000A1b2CAAR"
CONSUMER_KEY = "3MVG9ConsumerKeyValue"
USERNAME = "integration@acme.example"

EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
LIMIT = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
LOCKED = [
    {
        "message": "unable to obtain exclusive access to this record",
        "errorCode": "UNABLE_TO_LOCK_ROW",
        "fields": [],
    }
]


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture
def jwt_env(tmp_path: Path, rsa_keys: tuple[bytes, bytes]) -> dict[str, str]:
    key_file = tmp_path / "server.key"
    key_file.write_bytes(rsa_keys[0])
    return {
        "PRESALES_SF_USERNAME": USERNAME,
        "PRESALES_SF_CONSUMER_KEY": CONSUMER_KEY,
        "PRESALES_SF_PRIVATE_KEY_FILE": str(key_file),
    }


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _settings(**overrides: object) -> SalesforceSettings:
    values: dict[str, object] = {"instance_url": INSTANCE, "auth_method": "session"}
    values.update(overrides)
    return SalesforceSettings(**values)  # type: ignore[arg-type]


def token_body(n: int = 0) -> dict[str, str]:
    return {
        "access_token": TOKENS[n],
        "instance_url": INSTANCE,
        "id": f"{LOGIN}/id/00D5g000004ORGID/{USER_ID}",
        "token_type": "Bearer",
        "scope": "api",
    }


@pytest.fixture
def session_sf(sleeps: list[float]) -> SalesforceConnector:
    return connect(_settings(), {"PRESALES_SF_SESSION_ID": SESSION_ID}, sleep=sleeps.append)


@pytest.fixture
def jwt_sf(rsps: responses.RequestsMock, jwt_env: dict[str, str], sleeps: list[float]) -> SalesforceConnector:
    rsps.post(TOKEN_URL, json=token_body(0))
    sf = connect(_settings(auth_method="jwt"), jwt_env, sleep=sleeps.append)
    rsps.calls.reset()
    return sf


def record(n: int, stamp: str = "2026-11-20T08:15:02.000+0000", **extra: object) -> dict:
    rid = f"006RO00000AbC{n:03d}AAA"
    return {
        "attributes": {"type": "Opportunity", "url": f"/services/data/v66.0/sobjects/Opportunity/{rid}"},
        "Id": rid,
        "SystemModstamp": stamp,
        **extra,
    }


def changes(n: int) -> list[RecordChange]:
    return [RecordChange(id=f"006RO00000Rec{i:04d}", fields={"Presales_Step__c": "Done"}) for i in range(n)]


def sent_records(call: responses.Call) -> list[dict]:
    return json.loads(call.request.body)["records"]


def ok(change_id: str) -> dict:
    return {"id": change_id, "success": True, "errors": []}


# -- settings and construction --------------------------------------------------------------


def test_public_surface() -> None:
    assert connector.connect_salesforce is connect
    assert set(connector.__all__) >= {"Connector", "ConfigError", "connect_salesforce", "Page"}
    for name in connector.__all__:
        assert hasattr(connector, name), name
    assert sorted(salesforce_pkg.__all__) == [
        "ApiUsage",
        "SalesforceConnector",
        "SalesforceSettings",
        "connect",
    ]


def test_connector_implements_the_interface(session_sf: SalesforceConnector) -> None:
    assert isinstance(session_sf, Connector)
    assert session_sf.kind == "salesforce"


@pytest.mark.parametrize(
    "overrides",
    [
        {"api_version": "v66.0"},
        {"api_version": "66"},
        {"page_size": 100},
        {"page_size": 2001},
        {"instance_url": "http://acme.my.salesforce.com"},
        {"max_retries": 0},
        {"timeout": 0},
    ],
)
def test_invalid_settings_are_config_errors(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        _settings(**overrides)


def test_session_auth_missing_env_var_names_it() -> None:
    with pytest.raises(ConfigError, match="PRESALES_SF_SESSION_ID"):
        connect(_settings(), {})


def test_jwt_missing_env_var_names_it_not_other_values(jwt_env: dict[str, str]) -> None:
    del jwt_env["PRESALES_SF_CONSUMER_KEY"]
    with pytest.raises(ConfigError, match="PRESALES_SF_CONSUMER_KEY") as info:
        connect(_settings(auth_method="jwt"), jwt_env)
    assert USERNAME not in str(info.value)


def test_unreadable_private_key_is_config_error(jwt_env: dict[str, str], tmp_path: Path) -> None:
    jwt_env["PRESALES_SF_PRIVATE_KEY_FILE"] = str(tmp_path / "missing.key")
    with pytest.raises(ConfigError, match="PRESALES_SF_PRIVATE_KEY_FILE"):
        connect(_settings(auth_method="jwt"), jwt_env)


def test_secrets_stay_out_of_reprs(session_sf: SalesforceConnector) -> None:
    assert SESSION_ID not in repr(session_sf)
    assert SESSION_ID not in repr(session_sf._transport._credentials)


def test_every_request_gets_timeout_and_ca_bundle(rsps: responses.RequestsMock, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("dummy")
    sf = connect(_settings(timeout=12.5, ca_bundle=str(ca)), {"PRESALES_SF_SESSION_ID": SESSION_ID})
    rsps.get(QUERY_URL, json={"totalSize": 0, "done": True, "records": []})
    list(sf.read_changed(object_name="Opportunity", fields=[], since=None))
    kwargs = rsps.calls[0].request.req_kwargs
    assert kwargs["timeout"] == 12.5
    assert kwargs["verify"] == str(ca)


# -- JWT bearer ------------------------------------------------------------------------------


def test_jwt_login_sends_signed_assertion(
    rsps: responses.RequestsMock, jwt_env: dict[str, str], rsa_keys: tuple[bytes, bytes]
) -> None:
    rsps.post(TOKEN_URL, json=token_body(0))
    before = int(time.time())
    sf = connect(_settings(auth_method="jwt"), jwt_env)

    assert len(rsps.calls) == 1
    form = parse_qs(rsps.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(form["assertion"][0], rsa_keys[1], algorithms=["RS256"], audience=LOGIN)
    assert claims["iss"] == CONSUMER_KEY
    assert claims["sub"] == USERNAME
    assert claims["aud"] == LOGIN
    assert isinstance(claims["exp"], int)
    assert before + 170 <= claims["exp"] <= int(time.time()) + 181
    assert jwt.get_unverified_header(form["assertion"][0])["alg"] == "RS256"

    # The identity URL of the token answer gives the user id: no further call.
    assert sf.current_user() == USER_ID
    assert sf.api_calls() == {"oauth_token": 1}

    rsps.get(QUERY_URL, json={"totalSize": 0, "done": True, "records": []})
    list(sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert rsps.calls[1].request.headers["Authorization"] == f"Bearer {TOKENS[0]}"


def test_jwt_error_body_is_auth_error_with_code(
    rsps: responses.RequestsMock, jwt_env: dict[str, str], sleeps: list[float]
) -> None:
    rsps.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
    )
    with pytest.raises(AuthError) as info:
        connect(_settings(auth_method="jwt"), jwt_env, sleep=sleeps.append)
    assert info.value.code == "invalid_grant"
    assert "approved this consumer" in str(info.value)
    assert len(rsps.calls) == 1  # refused credentials are not retried
    assert "assertion" not in str(info.value)


def test_jwt_token_endpoint_5xx_is_retried(
    rsps: responses.RequestsMock, jwt_env: dict[str, str], sleeps: list[float]
) -> None:
    rsps.post(TOKEN_URL, status=503, body="Service Unavailable")
    rsps.post(TOKEN_URL, json=token_body(0))
    sf = connect(_settings(auth_method="jwt"), jwt_env, sleep=sleeps.append)
    assert sf.api_calls() == {"oauth_token": 2}
    assert len(sleeps) == 1


def test_invalid_session_with_jwt_relogs_once_and_retries(
    rsps: responses.RequestsMock, jwt_sf: SalesforceConnector
) -> None:
    rsps.get(QUERY_URL, status=401, json=EXPIRED)
    rsps.post(TOKEN_URL, json=token_body(1))
    rsps.get(QUERY_URL, json={"totalSize": 1, "done": True, "records": [record(1)]})

    pages = list(jwt_sf.read_changed(object_name="Opportunity", fields=[], since=None))

    assert [r.id for r in pages[0].records] == ["006RO00000AbC001AAA"]
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [QUERY_URL, TOKEN_URL, QUERY_URL]
    assert rsps.calls[2].request.headers["Authorization"] == f"Bearer {TOKENS[1]}"
    assert jwt_sf.api_calls() == {"oauth_token": 2, "query": 2}


def test_invalid_session_twice_with_jwt_is_auth_error(
    rsps: responses.RequestsMock, jwt_sf: SalesforceConnector
) -> None:
    rsps.get(QUERY_URL, status=401, json=EXPIRED)
    rsps.post(TOKEN_URL, json=token_body(1))
    with pytest.raises(AuthError) as info:
        list(jwt_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert info.value.code == "INVALID_SESSION_ID"
    assert jwt_sf.api_calls() == {"oauth_token": 2, "query": 2}  # exactly one re-login


def test_invalid_session_with_session_auth_is_auth_error(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector
) -> None:
    rsps.get(QUERY_URL, status=401, json=EXPIRED)
    with pytest.raises(AuthError, match="PRESALES_SF_SESSION_ID") as info:
        list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert info.value.code == "INVALID_SESSION_ID"
    assert len(rsps.calls) == 1


# -- error classification --------------------------------------------------------------------


def test_request_limit_exceeded_is_not_retried(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, sleeps: list[float]
) -> None:
    rsps.get(QUERY_URL, status=403, json=LIMIT)
    with pytest.raises(LimitExceededError) as info:
        list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert info.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_503_twice_then_success(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, sleeps: list[float]
) -> None:
    rsps.get(QUERY_URL, status=503, body="Service Unavailable")
    rsps.get(QUERY_URL, status=503, json=[{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}])
    rsps.get(QUERY_URL, json={"totalSize": 1, "done": True, "records": [record(1)]})
    pages = list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert len(pages[0].records) == 1
    assert len(rsps.calls) == 3
    assert len(sleeps) == 2 and all(0 <= s <= 30 for s in sleeps)
    assert session_sf.api_calls() == {"query": 3}


def test_5xx_until_retries_are_spent_is_retryable_error(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    sf = connect(_settings(max_retries=3), {"PRESALES_SF_SESSION_ID": SESSION_ID}, sleep=sleeps.append)
    rsps.get(QUERY_URL, status=500, json=[{"message": "boom", "errorCode": "UNKNOWN_EXCEPTION"}])
    with pytest.raises(RetryableError) as info:
        list(sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert info.value.code == "UNKNOWN_EXCEPTION"
    assert len(rsps.calls) == 3
    assert len(sleeps) == 2


def test_retry_after_is_honoured(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, sleeps: list[float]
) -> None:
    rsps.get(QUERY_URL, status=429, body="slow down", headers={"Retry-After": "7"})
    rsps.get(QUERY_URL, json={"totalSize": 0, "done": True, "records": []})
    list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert sleeps == [7.0]


def test_long_retry_after_is_raised_not_slept(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, sleeps: list[float]
) -> None:
    rsps.get(QUERY_URL, status=429, body="slow down", headers={"Retry-After": "3600"})
    with pytest.raises(RetryableError) as info:
        list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert info.value.retry_after == 3600.0
    assert sleeps == [] and len(rsps.calls) == 1


def test_connection_errors_are_retried_then_retryable_error(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, sleeps: list[float]
) -> None:
    rsps.get(QUERY_URL, body=requests.ConnectionError("connection reset"))
    with pytest.raises(RetryableError) as info:
        list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert not isinstance(info.value, requests.RequestException)
    assert isinstance(info.value.__cause__, requests.ConnectionError)
    assert len(rsps.calls) == 5 and len(sleeps) == 4


def test_timeout_then_success(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, sleeps: list[float]
) -> None:
    rsps.get(QUERY_URL, body=requests.ReadTimeout("read timed out"))
    rsps.get(QUERY_URL, json={"totalSize": 0, "done": True, "records": []})
    pages = list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert pages[0].records == [] and len(sleeps) == 1


@pytest.mark.parametrize(
    "code", ["INVALID_FIELD", "MALFORMED_QUERY", "INVALID_TYPE", "INVALID_FIELD_FOR_INSERT_UPDATE"]
)
def test_admin_errors_are_config_errors_with_message(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, code: str
) -> None:
    message = "No such column 'Foo__c' on entity 'Opportunity'."
    rsps.get(QUERY_URL, status=400, json=[{"message": message, "errorCode": code}])
    with pytest.raises(ConfigError) as info:
        list(session_sf.read_changed(object_name="Opportunity", fields=["Foo__c"], since=None))
    assert info.value.code == code
    assert info.value.status == 400
    assert message in str(info.value)
    assert len(rsps.calls) == 1


def test_unknown_error_is_fatal(rsps: responses.RequestsMock, session_sf: SalesforceConnector) -> None:
    rsps.get(
        QUERY_URL,
        status=400,
        json=[{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}],
    )
    with pytest.raises(FatalError) as info:
        list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert info.value.code == "INVALID_QUERY_LOCATOR"
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, EXPIRED, AuthError),
        (403, LIMIT, LimitExceededError),
        (400, [{"message": f"bad {SESSION_ID}", "errorCode": "INVALID_FIELD"}], ConfigError),
        (500, f"<html>session {SESSION_ID}</html>", RetryableError),
        (418, f"teapot {SESSION_ID}", FatalError),
    ],
)
def test_secret_never_appears_in_errors(
    rsps: responses.RequestsMock,
    session_sf: SalesforceConnector,
    status: int,
    body: object,
    expected: type[ConnectorError],
) -> None:
    if isinstance(body, str):
        rsps.get(QUERY_URL, status=status, body=body)
    else:
        rsps.get(QUERY_URL, status=status, json=body)
    with pytest.raises(expected) as info:
        list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert SESSION_ID not in str(info.value)
    assert SESSION_ID not in repr(info.value)


def test_no_transport_exception_leaks_from_describe(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector
) -> None:
    rsps.get(
        f"{BASE}/sobjects/Nope__c/describe",
        status=404,
        json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
    )
    with pytest.raises(ConnectorError) as info:
        session_sf.describe("Nope__c")
    assert type(info.value).__module__ == "presales_sync.connector.errors"


# -- describe --------------------------------------------------------------------------------


def test_describe_maps_fields(rsps: responses.RequestsMock, session_sf: SalesforceConnector) -> None:
    rsps.get(
        f"{BASE}/sobjects/Opportunity/describe",
        json={
            "name": "Opportunity",
            "fields": [
                {
                    "name": "Presales_Status__c",
                    "label": "Presales Status",
                    "type": "picklist",
                    "custom": True,
                    "updateable": True,
                    "nillable": True,
                    "length": 255,
                    "restrictedPicklist": True,
                    "referenceTo": [],
                    "picklistValues": [
                        {"active": True, "value": "New", "label": "New"},
                        {"active": False, "value": "Old", "label": "Old"},
                        {"active": True, "value": "Assigned", "label": "Assigned"},
                    ],
                },
                {
                    "name": "Presales_Engineer__c",
                    "type": "reference",
                    "custom": True,
                    "updateable": False,
                    "nillable": True,
                    "length": 18,
                    "referenceTo": ["User"],
                    "picklistValues": [],
                },
                {
                    "name": "SystemModstamp",
                    "type": "datetime",
                    "updateable": False,
                    "nillable": False,
                    "length": 0,
                },
            ],
        },
    )
    schema = session_sf.describe("Opportunity")
    status = schema.fields["Presales_Status__c"]
    assert (status.type, status.updateable, status.length) == ("picklist", True, 255)
    assert status.picklist_values == ("New", "Assigned")
    assert status.restricted_picklist and status.custom
    engineer = schema.fields["Presales_Engineer__c"]
    assert engineer.reference_to == ("User",) and not engineer.updateable
    assert schema.fields["SystemModstamp"].nillable is False
    assert session_sf.api_calls() == {"describe": 1}


# -- read_changed ----------------------------------------------------------------------------


def test_read_changed_pages_lazily_and_flattens(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector
) -> None:
    next_url = "/services/data/v66.0/query/01gRO0000016PIAYA2-2000"
    account = {"attributes": {"type": "Account", "url": "/x"}, "Name": "Acme", "Industry": None}
    rsps.get(
        QUERY_URL,
        json={
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": next_url,
            "records": [
                record(
                    1,
                    "2026-11-20T08:15:02.123+0000",
                    Name="A",
                    Amount=1200.5,
                    CloseDate="2026-12-31",
                    IsWon=False,
                    Account=account,
                ),
                record(
                    2,
                    "2026-11-20T08:15:02.123+0000",
                    Name="B",
                    Amount=None,
                    CloseDate=None,
                    IsWon=True,
                    Account=None,
                ),
            ],
        },
        headers={"Sforce-Limit-Info": "api-usage=18/15000"},
    )
    rsps.get(
        f"{INSTANCE}{next_url}",
        json={
            "totalSize": 3,
            "done": True,
            "records": [
                record(
                    3,
                    "2026-11-21T00:00:00.000+0000",
                    Name="C",
                    Amount=0.0,
                    CloseDate="2027-01-01",
                    IsWon=False,
                    Account=account,
                )
            ],
        },
        headers={"Sforce-Limit-Info": "api-usage=19/15000"},
    )
    since = datetime(2026, 11, 20, 16, 15, 2, 123456, tzinfo=timezone(timedelta(hours=8)))
    fields = ["Name", "Amount", "CloseDate", "IsWon", "Account.Name", "Account.Industry", "Name", "id"]

    pages = session_sf.read_changed(object_name="Opportunity", fields=fields, since=since)
    assert len(rsps.calls) == 0  # nothing is requested before iteration starts

    first = next(pages)
    assert len(rsps.calls) == 1  # the second page waits until the first is consumed
    request = rsps.calls[0].request
    assert request.params["q"] == (
        "SELECT Id, SystemModstamp, Name, Amount, CloseDate, IsWon, Account.Name, "
        "Account.Industry FROM Opportunity WHERE SystemModstamp >= 2026-11-20T08:15:02.123Z "
        "ORDER BY SystemModstamp, Id"
    )
    assert request.headers["Sforce-Query-Options"] == "batchSize=2000"
    assert first.number == 1
    one, two = first.records
    assert one.id == "006RO00000AbC001AAA"
    assert one.stamp == datetime(2026, 11, 20, 8, 15, 2, 123000, tzinfo=UTC)
    assert one.stamp.utcoffset() == timedelta(0)
    assert one.fields == {
        "Id": "006RO00000AbC001AAA",
        "SystemModstamp": "2026-11-20T08:15:02.123+0000",
        "Name": "A",
        "Amount": 1200.5,
        "CloseDate": "2026-12-31",
        "IsWon": False,
        "Account.Name": "Acme",
        "Account.Industry": None,
    }
    assert "attributes" not in one.fields and "Account" not in one.fields
    assert two.fields["Account.Name"] is None and two.fields["Account.Industry"] is None
    assert two.fields["IsWon"] is True and two.fields["Amount"] is None

    second = next(pages)
    assert second.number == 2
    assert [r.fields["Amount"] for r in second.records] == [0.0]
    assert rsps.calls[1].request.headers["Sforce-Query-Options"] == "batchSize=2000"
    with pytest.raises(StopIteration):
        next(pages)
    assert session_sf.api_calls() == {"query": 1, "query_more": 1}
    assert session_sf.api_usage == (19, 15000)


def test_read_changed_without_since_has_no_where(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    sf = connect(_settings(page_size=500), {"PRESALES_SF_SESSION_ID": SESSION_ID})
    rsps.get(QUERY_URL, json={"totalSize": 0, "done": True, "records": []})
    pages = list(sf.read_changed(object_name="Opportunity", fields=["Name"], since=None))
    assert len(pages) == 1 and pages[0].records == []
    assert rsps.calls[0].request.params["q"] == (
        "SELECT Id, SystemModstamp, Name FROM Opportunity ORDER BY SystemModstamp, Id"
    )
    assert rsps.calls[0].request.headers["Sforce-Query-Options"] == "batchSize=500"


def test_looping_next_records_url_is_fatal(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector
) -> None:
    loop = "/services/data/v66.0/query/01gLOOP-2000"
    page = {"totalSize": 9, "done": False, "nextRecordsUrl": loop, "records": [record(1)]}
    rsps.get(QUERY_URL, json=page)
    rsps.get(f"{INSTANCE}{loop}", json=page)
    with pytest.raises(FatalError, match="loop"):
        list(session_sf.read_changed(object_name="Opportunity", fields=[], since=None))
    assert len(rsps.calls) == 2


@pytest.mark.parametrize(
    ("object_name", "fields"),
    [
        ("Opportunity", ["Name FROM User --"]),
        ("Opportunity", ["Name,Id"]),
        ("Opportunity", ["Account.Owner.Name"]),
        ("Opportunity", ["Name'"]),
        ("Opportunity WHERE Id != null", ["Name"]),
    ],
)
def test_unsafe_names_are_rejected_before_any_call(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, object_name: str, fields: list
) -> None:
    with pytest.raises(ConfigError):
        session_sf.read_changed(object_name=object_name, fields=fields, since=None)
    assert len(rsps.calls) == 0


def test_naive_since_is_rejected(session_sf: SalesforceConnector) -> None:
    with pytest.raises(ValueError):
        session_sf.read_changed(object_name="Opportunity", fields=[], since=datetime(2026, 1, 1))


# -- write -----------------------------------------------------------------------------------


def test_empty_changes_make_no_call(rsps: responses.RequestsMock, session_sf: SalesforceConnector) -> None:
    assert session_sf.write(object_name="Opportunity", changes=[]) == []
    assert len(rsps.calls) == 0
    assert session_sf.api_calls() == {}


def test_450_changes_make_three_collection_calls(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector
) -> None:
    def answer(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        records = json.loads(request.body)["records"]
        return 200, {}, json.dumps([ok(r["id"]) for r in records])

    rsps.add_callback(responses.PATCH, COLLECTION_URL, callback=answer)
    todo = changes(450)
    results = session_sf.write(object_name="Opportunity", changes=todo)

    assert [len(sent_records(c)) for c in rsps.calls] == [200, 200, 50]
    assert [r.id for r in results] == [c.id for c in todo]
    assert all(r.ok for r in results)
    body = json.loads(rsps.calls[0].request.body)
    assert body["allOrNone"] is False
    assert body["records"][0] == {
        "attributes": {"type": "Opportunity"},
        "id": todo[0].id,
        "Presales_Step__c": "Done",
    }
    assert session_sf.api_calls() == {"composite_sobjects": 3}


def test_partially_failed_collection_gives_per_record_results(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector
) -> None:
    todo = changes(3)
    rsps.patch(
        COLLECTION_URL,
        json=[
            ok(todo[0].id),
            {
                "success": False,
                "errors": [
                    {"statusCode": "MALFORMED_ID", "message": "id value of incorrect type", "fields": ["Id"]}
                ],
            },
            ok(todo[2].id),
        ],
    )
    results = session_sf.write(object_name="Opportunity", changes=todo)
    assert [(r.id, r.ok, r.error_code, r.retryable) for r in results] == [
        (todo[0].id, True, None, False),
        (todo[1].id, False, "MALFORMED_ID", False),
        (todo[2].id, True, None, False),
    ]
    assert results[1].message == "id value of incorrect type"
    assert len(rsps.calls) == 1


def test_locked_records_get_one_follow_up_batch(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, sleeps: list[float]
) -> None:
    todo = changes(3)
    locked = {
        "success": False,
        "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access"}],
    }
    rsps.patch(COLLECTION_URL, json=[ok(todo[0].id), locked, locked])
    rsps.patch(COLLECTION_URL, json=[ok(todo[1].id), locked])

    results = session_sf.write(object_name="Opportunity", changes=todo)

    assert [r["id"] for r in sent_records(rsps.calls[1])] == [todo[1].id, todo[2].id]
    assert [(r.id, r.ok, r.error_code, r.retryable) for r in results] == [
        (todo[0].id, True, None, False),
        (todo[1].id, True, None, False),
        (todo[2].id, False, "UNABLE_TO_LOCK_ROW", True),
    ]
    assert len(rsps.calls) == 2  # retried once, not again
    assert len(sleeps) == 1 and sleeps[0] > 0


def test_request_level_lock_is_retried(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector, sleeps: list[float]
) -> None:
    todo = changes(1)
    rsps.patch(COLLECTION_URL, status=400, json=LOCKED)
    rsps.patch(COLLECTION_URL, json=[ok(todo[0].id)])
    results = session_sf.write(object_name="Opportunity", changes=todo)
    assert results[0].ok
    assert len(rsps.calls) == 2 and len(sleeps) == 1


def test_result_count_mismatch_is_fatal(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector
) -> None:
    rsps.patch(COLLECTION_URL, json=[ok("x")])
    with pytest.raises(FatalError):
        session_sf.write(object_name="Opportunity", changes=changes(2))


# -- current_user and accounting -------------------------------------------------------------


def test_session_auth_current_user_uses_userinfo_once(
    rsps: responses.RequestsMock, session_sf: SalesforceConnector
) -> None:
    rsps.get(f"{INSTANCE}/services/oauth2/userinfo", json={"user_id": USER_ID, "organization_id": "00D"})
    assert session_sf.current_user() == USER_ID
    assert session_sf.current_user() == USER_ID
    assert session_sf.api_calls() == {"userinfo": 1}
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {SESSION_ID}"
