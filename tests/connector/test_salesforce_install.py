"""Installing the plugin's custom fields through the Salesforce adapter, against `responses`
stubs: a tiny fake org answers the Metadata API (SOAP, via zeep) and the REST calls for
field-level security. Nothing here sleeps or touches the network."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from presales_sync.connector.base import FieldSpec
from presales_sync.connector.errors import AuthError, ConfigError, FatalError, RetryableError
from presales_sync.connector.salesforce import SalesforceConnector, SalesforceSettings, connect

INSTANCE = "https://acme.my.salesforce.com"
LOGIN = "https://login.salesforce.com"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
SOAP_URL = f"{INSTANCE}/services/Soap/m/66.0/"
BASE = f"{INSTANCE}/services/data/v66.0"
QUERY_URL = f"{BASE}/query/"
COLLECTION_URL = f"{BASE}/composite/sobjects"
USERINFO_URL = f"{INSTANCE}/services/oauth2/userinfo"
SESSION_ID = "00D5g000004SECRET!AQ8AQSessionSecretValue"
TOKENS = ["00D5g000004TOKEN!first-access-token", "00D5g000004TOKEN!second-access-token"]
USER_ID = "0055g00000A1b2CAAR"
PS_ID = "0PS5g000000AbCdGAA"
MD = "http://soap.sforce.com/2006/04/metadata"
SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

SPECS = [
    FieldSpec(
        "Opportunity", "Presales_Step__c", "Presales Step", "Picklist", picklist_values=("Open", "Done")
    ),
    FieldSpec("Opportunity", "Presales_Note__c", "Presales Note", "Text", length=255),
    FieldSpec("Opportunity", "Presales_Score__c", "Score", "Number", precision=18, scale=2),
    FieldSpec("Opportunity", "Presales_Flag__c", "Flag", "Checkbox"),
    FieldSpec("Opportunity", "Presales_Deadline__c", "Deadline", "Date"),
    FieldSpec("Opportunity", "Presales_Synced_At__c", "Synced At", "DateTime"),
    FieldSpec("Opportunity", "Presales_Owner__c", "Presales Owner", "Lookup", reference_to="User"),
]


def twelve_specs() -> list[FieldSpec]:
    extra = [
        FieldSpec("Opportunity", f"Presales_Extra{i}__c", f"Extra {i}", "Text", length=40) for i in range(5)
    ]
    return SPECS + extra


# -- a fake org: Metadata API over SOAP, FLS over REST ---------------------------------------


def envelope(body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAPENV}" '
        f'xmlns:xsi="{XSI}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    )


def fault(code: str, message: str) -> str:
    return envelope(
        f'<soapenv:Fault><faultcode xmlns:sf="{MD}">sf:{code}</faultcode>'
        f"<faultstring>{code}: {message}</faultstring></soapenv:Fault>"
    )


class FakeOrg:
    """Stores CustomField elements as sent by upsertMetadata and FieldPermissions rows."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.fields: dict[str, etree._Element] = {}
        self.soap_calls: list[tuple[str, etree._Element, dict[str, str]]] = []
        self.upsert_errors: dict[str, tuple[str, str]] = {}
        self.soap_faults: list[tuple[str, str]] = []
        #: operation → the inside of its ...Response element, answered instead of the real one
        self.soap_answers: dict[str, str] = {}
        self.permission_sets: dict[str, str] = {}
        self.assignments: set[tuple[str, str]] = set()
        self.field_permissions: dict[str, dict[str, Any]] = {}
        self.rest_writes: list[tuple[str, str, Any]] = []
        rsps.add_callback(responses.POST, SOAP_URL, callback=self.soap)
        rsps.add_callback(responses.GET, QUERY_URL, callback=self.query)
        rsps.add_callback(responses.POST, f"{BASE}/sobjects/PermissionSet", callback=self.create_ps)
        rsps.add_callback(
            responses.POST, f"{BASE}/sobjects/PermissionSetAssignment", callback=self.create_assignment
        )
        rsps.add_callback(responses.POST, COLLECTION_URL, callback=self.create_fls)
        rsps.add_callback(responses.PATCH, COLLECTION_URL, callback=self.update_fls)
        rsps.get(USERINFO_URL, json={"user_id": USER_ID, "organization_id": "00D5g000004ORGID"})

    # SOAP

    def soap(self, request: Any) -> tuple[int, dict[str, str], str]:
        doc = etree.fromstring(request.body)
        op = doc.find(f"{{{SOAPENV}}}Body")[0]  # type: ignore[index]
        name = etree.QName(op).localname
        session = doc.findtext(f".//{{{MD}}}sessionId") or ""
        self.soap_calls.append((name, op, {"session": session}))
        if self.soap_faults:
            code, message = self.soap_faults.pop(0)
            return 500, {"Content-Type": "text/xml"}, fault(code, message)
        if name in self.soap_answers:
            body = f'<{name}Response xmlns="{MD}">{self.soap_answers[name]}</{name}Response>'
            return 200, {"Content-Type": "text/xml"}, envelope(body)
        if name == "readMetadata":
            records = []
            for full_name in op.findall(f"{{{MD}}}fullNames"):
                stored = self.fields.get(full_name.text or "")
                if stored is None:
                    records.append('<records xsi:type="CustomField"/>')
                else:
                    copy = etree.fromstring(etree.tostring(stored))
                    copy.tag = f"{{{MD}}}records"
                    records.append(etree.tostring(copy).decode())
            result = f"<result>{''.join(records)}</result>"
            body = f'<readMetadataResponse xmlns="{MD}">{result}</readMetadataResponse>'
            return 200, {"Content-Type": "text/xml"}, envelope(body)
        if name == "upsertMetadata":
            results = []
            for element in op.findall(f"{{{MD}}}metadata"):
                full_name = element.findtext(f"{{{MD}}}fullName") or ""
                if full_name in self.upsert_errors:
                    code, message = self.upsert_errors[full_name]
                    results.append(
                        f"<result><created>false</created><errors><message>{message}</message>"
                        f"<statusCode>{code}</statusCode></errors><fullName>{full_name}</fullName>"
                        "<success>false</success></result>"
                    )
                    continue
                created = full_name not in self.fields
                self.fields[full_name] = element
                results.append(
                    f"<result><created>{str(created).lower()}</created><fullName>{full_name}</fullName>"
                    "<success>true</success></result>"
                )
            body = f'<upsertMetadataResponse xmlns="{MD}">{"".join(results)}</upsertMetadataResponse>'
            return 200, {"Content-Type": "text/xml"}, envelope(body)
        if name == "deleteMetadata":
            results = []
            for full_name in op.findall(f"{{{MD}}}fullNames"):
                self.fields.pop(full_name.text or "", None)
                results.append(
                    f"<result><fullName>{full_name.text}</fullName><success>true</success></result>"
                )
            body = f'<deleteMetadataResponse xmlns="{MD}">{"".join(results)}</deleteMetadataResponse>'
            return 200, {"Content-Type": "text/xml"}, envelope(body)
        raise AssertionError(f"unexpected SOAP operation {name}")

    def soap_ops(self) -> list[str]:
        return [name for name, _, _ in self.soap_calls]

    # REST

    def query(self, request: Any) -> tuple[int, dict[str, str], str]:
        soql = parse_qs(urlparse(request.url).query)["q"][0]
        if soql == "SELECT Id FROM PermissionSet WHERE Name = 'Presales_Sync'":
            rows = [{"Id": i} for n, i in self.permission_sets.items() if n == "Presales_Sync"]
        elif soql.startswith("SELECT AssigneeId FROM PermissionSetAssignment WHERE "):
            match = re.search(r"PermissionSetId = '(\w+)'", soql)
            assert match, soql
            rows = [{"AssigneeId": a} for a, ps in self.assignments if ps == match[1]]
        elif soql.startswith(
            "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions WHERE "
        ):
            parent = re.search(r"ParentId = '(\w+)'", soql)
            assert parent, soql
            rows = [dict(r) for r in self.field_permissions.values() if r["ParentId"] == parent[1]]
        else:
            raise AssertionError(f"unexpected SOQL {soql}")
        return 200, {}, json.dumps({"totalSize": len(rows), "done": True, "records": rows})

    def create_ps(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.rest_writes.append(("POST", "PermissionSet", body))
        self.permission_sets[body["Name"]] = PS_ID
        return 201, {}, json.dumps({"id": PS_ID, "success": True, "errors": []})

    def create_assignment(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.rest_writes.append(("POST", "PermissionSetAssignment", body))
        self.assignments.add((body["AssigneeId"], body["PermissionSetId"]))
        return 201, {}, json.dumps({"id": "0Pa000000000001AAA", "success": True, "errors": []})

    def create_fls(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.rest_writes.append(("POST", "composite/sobjects", body))
        results = []
        if body["records"][0]["attributes"]["type"] == "PermissionSetAssignment":
            for rec in body["records"]:
                self.assignments.add((rec["AssigneeId"], rec["PermissionSetId"]))
            return 200, {}, json.dumps([{"id": "0Pa000000000001AAA", "success": True, "errors": []}
                                        for _ in body["records"]])
        for n, rec in enumerate(body["records"]):
            rid = f"01k5g00000Fp{len(self.field_permissions) + n:04d}AA"
            row = {k: v for k, v in rec.items() if k != "attributes"}
            self.field_permissions[rid] = {"Id": rid, **row}
            results.append({"id": rid, "success": True, "errors": []})
        return 200, {}, json.dumps(results)

    def update_fls(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        self.rest_writes.append(("PATCH", "composite/sobjects", body))
        for rec in body["records"]:
            self.field_permissions[rec["id"]].update(
                {k: v for k, v in rec.items() if k not in ("attributes", "id")}
            )
        return 200, {}, json.dumps([{"id": r["id"], "success": True, "errors": []} for r in body["records"]])


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def org(rsps: responses.RequestsMock) -> FakeOrg:
    return FakeOrg(rsps)


def _settings(**overrides: object) -> SalesforceSettings:
    values: dict[str, object] = {"instance_url": INSTANCE, "auth_method": "session"}
    values.update(overrides)
    return SalesforceSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def sf() -> SalesforceConnector:
    return connect(_settings(), {"PRESALES_SF_SESSION_ID": SESSION_ID}, sleep=lambda _: None)


def sent_fields(org: FakeOrg) -> list[list[etree._Element]]:
    return [op.findall(f"{{{MD}}}metadata") for name, op, _ in org.soap_calls if name == "upsertMetadata"]


def text(element: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in element.iterfind(path, namespaces={"m": MD})]


# -- tests -------------------------------------------------------------------------------------


def test_first_run_creates_fields_in_chunks_of_ten_and_grants_fls(
    sf: SalesforceConnector, org: FakeOrg
) -> None:
    specs = twelve_specs()
    plans = sf.ensure_fields(specs)

    assert [p.action for p in plans] == ["create"] * 12
    assert [p.spec for p in plans] == specs
    assert org.soap_ops() == ["readMetadata", "readMetadata", "upsertMetadata", "upsertMetadata"]
    batches = sent_fields(org)
    assert [len(b) for b in batches] == [10, 2]
    by_name = {text(e, "m:fullName")[0]: e for batch in batches for e in batch}
    assert set(by_name) == {f"Opportunity.{s.name}" for s in specs}

    step = by_name["Opportunity.Presales_Step__c"]
    assert text(step, "m:type") == ["Picklist"]
    assert text(step, "m:label") == ["Presales Step"]
    assert text(step, "m:valueSet/m:restricted") == ["true"]
    assert text(step, "m:valueSet/m:valueSetDefinition/m:value/m:fullName") == ["Open", "Done"]
    note = by_name["Opportunity.Presales_Note__c"]
    assert (text(note, "m:type"), text(note, "m:length")) == (["Text"], ["255"])
    score = by_name["Opportunity.Presales_Score__c"]
    assert (text(score, "m:precision"), text(score, "m:scale")) == (["18"], ["2"])
    assert text(by_name["Opportunity.Presales_Flag__c"], "m:defaultValue") == ["false"]
    owner = by_name["Opportunity.Presales_Owner__c"]
    assert text(owner, "m:referenceTo") == ["User"]
    assert text(owner, "m:relationshipName") == ["Presales_Owner"]
    assert text(by_name["Opportunity.Presales_Deadline__c"], "m:type") == ["Date"]

    # FLS: permission set created, assigned to the integration user, 12 FieldPermissions in one call.
    kinds = [(method, what) for method, what, _ in org.rest_writes]
    assert kinds == [
        ("POST", "PermissionSet"),
        ("POST", "composite/sobjects"),
        ("POST", "composite/sobjects"),
    ]
    assert org.rest_writes[0][2]["Name"] == "Presales_Sync"
    assert org.rest_writes[1][2]["records"] == [
        {"attributes": {"type": "PermissionSetAssignment"}, "AssigneeId": USER_ID, "PermissionSetId": PS_ID}]
    fls = org.rest_writes[2][2]
    assert fls["allOrNone"] is False
    assert len(fls["records"]) == 12
    assert fls["records"][0] == {
        "attributes": {"type": "FieldPermissions"},
        "ParentId": PS_ID,
        "SobjectType": "Opportunity",
        "Field": "Opportunity.Presales_Step__c",
        "PermissionsRead": True,
        "PermissionsEdit": True,
    }
    calls = sf.api_calls()
    assert calls["metadata"] == 4
    assert calls["sobject_create"] == 1
    assert calls["composite_sobjects"] == 2  # the assignment(s), then the FieldPermissions


def test_second_run_changes_nothing(sf: SalesforceConnector, org: FakeOrg) -> None:
    specs = twelve_specs()
    sf.ensure_fields(specs)
    org.soap_calls.clear()
    org.rest_writes.clear()

    plans = sf.ensure_fields(specs)

    assert [(p.action, p.differences) for p in plans] == [("unchanged", ())] * 12
    assert org.soap_ops() == ["readMetadata", "readMetadata"]
    assert org.rest_writes == []


def test_changed_spec_is_updated_with_differences(sf: SalesforceConnector, org: FakeOrg) -> None:
    sf.ensure_fields(SPECS)
    org.soap_calls.clear()
    changed = [
        FieldSpec(
            "Opportunity", "Presales_Step__c", "Presales Step", "Picklist", picklist_values=("Open", "Won")
        ),
        FieldSpec("Opportunity", "Presales_Note__c", "Note", "Text", length=100),
        SPECS[2],
    ]

    plans = sf.plan_fields(changed)

    assert [p.action for p in plans] == ["update", "update", "unchanged"]
    assert "picklist values" in plans[0].differences[0]
    assert any(d.startswith("label") for d in plans[1].differences)
    assert any(d.startswith("length") for d in plans[1].differences)
    assert org.soap_ops() == ["readMetadata"]

    sf.ensure_fields(changed)
    upserted = [text(e, "m:fullName")[0] for batch in sent_fields(org) for e in batch]
    assert upserted == ["Opportunity.Presales_Step__c", "Opportunity.Presales_Note__c"]


def test_wrong_field_permissions_are_fixed_in_one_patch(sf: SalesforceConnector, org: FakeOrg) -> None:
    sf.ensure_fields(SPECS)
    for row in list(org.field_permissions.values())[:2]:
        row["PermissionsEdit"] = False
    org.rest_writes.clear()

    sf.ensure_fields(SPECS)

    assert [(m, w) for m, w, _ in org.rest_writes] == [("PATCH", "composite/sobjects")]
    records = org.rest_writes[0][2]["records"]
    assert len(records) == 2
    assert all(r["PermissionsRead"] is True and r["PermissionsEdit"] is True for r in records)
    assert all(r["attributes"] == {"type": "FieldPermissions"} and r["id"] for r in records)


def test_dry_run_writes_nothing(sf: SalesforceConnector, org: FakeOrg) -> None:
    plans = sf.ensure_fields(SPECS, dry_run=True)

    assert [p.action for p in plans] == ["create"] * len(SPECS)
    assert org.soap_ops() == ["readMetadata"]
    assert org.rest_writes == []
    assert org.fields == {}


def test_failed_upsert_result_is_config_error_naming_field_and_status(
    sf: SalesforceConnector, org: FakeOrg
) -> None:
    org.upsert_errors["Opportunity.Presales_Note__c"] = ("FIELD_INTEGRITY_EXCEPTION", "length too big")

    with pytest.raises(ConfigError) as info:
        sf.ensure_fields(SPECS)

    assert info.value.code == "FIELD_INTEGRITY_EXCEPTION"
    assert "Opportunity.Presales_Note__c" in str(info.value)
    assert "FIELD_INTEGRITY_EXCEPTION" in str(info.value)
    assert org.rest_writes == []  # no FLS grant after a failed install


def test_invalid_session_fault_with_session_auth_is_auth_error(sf: SalesforceConnector, org: FakeOrg) -> None:
    org.soap_faults.append(("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader"))

    with pytest.raises(AuthError) as info:
        sf.plan_fields(SPECS)

    assert info.value.code == "INVALID_SESSION_ID"
    assert SESSION_ID not in str(info.value)
    assert org.soap_ops() == ["readMetadata"]


def test_other_fault_is_fatal(sf: SalesforceConnector, org: FakeOrg) -> None:
    org.soap_faults.append(("INVALID_TYPE", "bad type"))

    with pytest.raises(FatalError) as info:
        sf.plan_fields(SPECS)

    assert info.value.code == "INVALID_TYPE"


def test_transient_soap_failure_is_retried(sf: SalesforceConnector, rsps: responses.RequestsMock) -> None:
    rsps.post(SOAP_URL, status=503, body="Service Unavailable", content_type="text/plain")

    with pytest.raises(RetryableError):
        sf.plan_fields(SPECS[:1])

    assert sf.api_calls()["metadata"] == 5  # max_retries attempts


def test_jwt_invalid_session_fault_relogs_in_with_a_fresh_metadata_client(
    rsps: responses.RequestsMock, org: FakeOrg, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "server.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    env = {
        "PRESALES_SF_USERNAME": "integration@acme.example",
        "PRESALES_SF_CONSUMER_KEY": "3MVG9ConsumerKeyValue",
        "PRESALES_SF_PRIVATE_KEY_FILE": str(key_file),
    }
    for token in TOKENS:
        rsps.post(
            TOKEN_URL,
            json={
                "access_token": token,
                "instance_url": INSTANCE,
                "id": f"{LOGIN}/id/00D5g000004ORGID/{USER_ID}",
            },
        )
    sf = connect(_settings(auth_method="jwt"), env, sleep=lambda _: None)
    sf.plan_fields(SPECS[:1])  # builds the Metadata API client with the first token
    org.soap_faults.append(("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader"))

    plans = sf.plan_fields(SPECS[:1])

    assert [p.action for p in plans] == ["create"]
    sessions = [meta["session"] for _, _, meta in org.soap_calls]
    assert sessions == [TOKENS[0], TOKENS[0], TOKENS[1]]
    assert sf.api_calls()["oauth_token"] == 2


def test_soap_calls_verify_tls_with_the_configured_ca_bundle(
    org: FakeOrg, rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used by responses")
    sf = connect(
        _settings(ca_bundle=str(ca), timeout=7.0),
        {"PRESALES_SF_SESSION_ID": SESSION_ID},
        sleep=lambda _: None,
    )

    sf.plan_fields(SPECS[:1])

    soap = [c for c in rsps.calls if c.request.url == SOAP_URL]
    assert len(soap) == 1
    kwargs = soap[0].request.req_kwargs  # type: ignore[attr-defined]
    assert kwargs["verify"] == str(ca)
    assert kwargs["timeout"] == 7.0


def test_remove_fields_deletes_only_existing_ones_in_chunks(sf: SalesforceConnector, org: FakeOrg) -> None:
    specs = twelve_specs()
    sf.ensure_fields(specs)
    org.soap_calls.clear()
    names = ["Opportunity.Gone__c"] + [f"Opportunity.{s.name}" for s in specs]

    sf.remove_fields(names)

    assert org.soap_ops() == ["readMetadata", "readMetadata", "deleteMetadata", "deleteMetadata"]
    deleted = [text(op, "m:fullNames") for name, op, _ in org.soap_calls if name == "deleteMetadata"]
    assert [len(d) for d in deleted] == [10, 2]
    assert deleted[0] + deleted[1] == names[1:]
    assert org.fields == {}

    org.soap_calls.clear()
    sf.remove_fields(names[:1])  # already gone: not an error, no delete call
    assert org.soap_ops() == ["readMetadata"]


@pytest.mark.parametrize(
    "spec",
    [
        FieldSpec("Opportunity", "No_Suffix", "x", "Text", length=10),
        FieldSpec("Opportunity", "Bad'Name__c", "x", "Text", length=10),
        FieldSpec("Opportunity", "Long__c", "x", "Text", length=300),
        FieldSpec("Opportunity", "Pick__c", "x", "Picklist"),
        FieldSpec("Opportunity", "Ref__c", "x", "Lookup"),
    ],
)
def test_invalid_specs_are_config_errors_before_any_call(
    sf: SalesforceConnector, org: FakeOrg, spec: FieldSpec
) -> None:
    with pytest.raises(ConfigError):
        sf.ensure_fields([spec])
    assert org.soap_calls == []


def test_remove_fields_rejects_unqualified_names(sf: SalesforceConnector, org: FakeOrg) -> None:
    with pytest.raises(ConfigError):
        sf.remove_fields(["Presales_Step__c"])
    assert org.soap_calls == []


def test_assignees_get_the_permission_set_in_one_call(sf: SalesforceConnector, org: FakeOrg) -> None:
    other = "0055g00000EnGiNAAA"
    sf.ensure_fields(twelve_specs(), assignees=[other, USER_ID])
    assignments = [b for m, w, b in org.rest_writes if w == "composite/sobjects"
                   and b["records"][0]["attributes"]["type"] == "PermissionSetAssignment"]
    assert len(assignments) == 1
    assert [r["AssigneeId"] for r in assignments[0]["records"]] == [USER_ID, other]
    org.rest_writes.clear()
    sf.ensure_fields(twelve_specs(), assignees=[other])
    assert org.rest_writes == []  # everyone already assigned


# -- Metadata API answers simple-salesforce cannot read -------------------------------------------


@pytest.mark.parametrize("inner", ["<result/>", "<result></result>", ""])
def test_empty_read_metadata_result_is_a_clear_error(sf: SalesforceConnector, org: FakeOrg,
                                                     inner: str) -> None:
    org.soap_answers["readMetadata"] = inner
    with pytest.raises(FatalError, match=r"Metadata API readMetadata\(CustomField\): empty result"):
        sf.plan_fields(SPECS)
    assert org.soap_ops() == ["readMetadata"]  # not retried: the same answer would come again


@pytest.mark.parametrize("inner, detail", [
    ("<result/>", "empty result"),
    ("", "empty result"),  # no result elements at all: simple-salesforce took it for success
    ("<result><fullName>Opportunity.Presales_Step__c</fullName><success>true</success></result>",
     "1 results for 7 components"),
])
def test_empty_or_short_upsert_metadata_result_is_a_clear_error(
        sf: SalesforceConnector, org: FakeOrg, inner: str, detail: str) -> None:
    org.soap_answers["upsertMetadata"] = inner
    with pytest.raises(FatalError, match=rf"Metadata API upsertMetadata\(CustomField\): {detail}"):
        sf.ensure_fields(SPECS)
    assert org.rest_writes == []  # no FLS grant for fields that may not exist


def test_empty_delete_metadata_result_is_a_clear_error(sf: SalesforceConnector, org: FakeOrg) -> None:
    sf.ensure_fields(SPECS[:2])
    org.soap_answers["deleteMetadata"] = "<result/>"
    with pytest.raises(FatalError, match=r"Metadata API deleteMetadata\(CustomField\): empty result"):
        sf.remove_fields([f"Opportunity.{s.name}" for s in SPECS[:2]])


def test_failed_delete_result_is_config_error(sf: SalesforceConnector, org: FakeOrg) -> None:
    sf.ensure_fields(SPECS[:1])
    org.soap_answers["deleteMetadata"] = (
        "<result><errors><message>in use by a flow</message><statusCode>CANNOT_DELETE_MANAGED_OBJECT"
        "</statusCode></errors><fullName>Opportunity.Presales_Step__c</fullName>"
        "<success>false</success></result>")
    with pytest.raises(ConfigError) as info:
        sf.remove_fields(["Opportunity.Presales_Step__c"])
    assert info.value.code == "CANNOT_DELETE_MANAGED_OBJECT"
    assert "Opportunity.Presales_Step__c" in str(info.value) and "in use by a flow" in str(info.value)
