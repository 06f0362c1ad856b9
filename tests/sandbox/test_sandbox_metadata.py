"""The sandbox's Metadata API (SOAP, driven by simple-salesforce's zeep-based ``sf.mdapi``)
and field-level security through PermissionSet / PermissionSetAssignment / FieldPermissions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import zeep.exceptions
from sandbox_seed import PLUGIN_ORG
from simple_salesforce import Salesforce

from presales_sync.sandbox import Sandbox

V = "66.0"
DATA = f"/services/data/v{V}"


def http(sb: Sandbox, session_id: str | None = None) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
    s.verify = str(sb.ca_file)
    if session_id is not None:
        s.headers["Authorization"] = f"Bearer {session_id}"
    return s


def client(sb: Sandbox, session_id: str) -> Salesforce:
    sf = Salesforce(instance_url=sb.url, session_id=session_id, version=V, session=http(sb))
    # zeep builds its own requests.Session (the Salesforce session is not passed on):
    # point that one at the sandbox CA and keep REQUESTS_CA_BUNDLE from overriding it.
    transport_session = sf.mdapi._client.transport.session
    transport_session.trust_env = False
    transport_session.verify = str(sb.ca_file)
    return sf


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(data_dir=tmp_path_factory.mktemp("sandbox-md"), port=0, seed=50, org=PLUGIN_ORG)
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def sf(sb: Sandbox) -> Salesforce:
    return client(sb, sb.session_id)


def describe_fields(sb: Sandbox, obj: str = "Opportunity") -> dict[str, dict[str, Any]]:
    r = http(sb, sb.session_id).get(f"{sb.url}{DATA}/sobjects/{obj}/describe")
    assert r.status_code == 200
    return {f["name"]: f for f in r.json()["fields"]}


def soql(sb: Sandbox, q: str) -> requests.Response:
    return http(sb, sb.session_id).get(f"{sb.url}{DATA}/query", params={"q": q})


def create(sb: Sandbox, type_: str, body: dict[str, Any]) -> requests.Response:
    return http(sb, sb.session_id).post(f"{sb.url}{DATA}/sobjects/{type_}", json=body)


def test_upsert_fls_read_delete(sb: Sandbox, sf: Salesforce) -> None:
    md = sf.mdapi
    http(sb).post(f"{sb.url}/_sandbox/stats/reset")
    fields = [
        md.CustomField(
            fullName="Opportunity.Md_Status__c",
            label="Md Status",
            type=md.FieldType("Picklist"),
            valueSet=md.ValueSet(
                restricted=True,
                valueSetDefinition=md.ValueSetValuesDefinition(
                    sorted=False,
                    value=[
                        md.CustomValue(fullName="Open", default=True, label="Open"),
                        md.CustomValue(fullName="Done", default=False, label="Done"),
                    ],
                ),
            ),
        ),
        md.CustomField(
            fullName="Opportunity.Md_Score__c",
            label="Score",
            type=md.FieldType("Number"),
            precision=18,
            scale=2,
        ),
        md.CustomField(
            fullName="Opportunity.Md_Flag__c",
            label="Flag",
            type=md.FieldType("Checkbox"),
            defaultValue="false",
        ),
        md.CustomField(fullName="Opportunity.Md_Note__c", label="Note", type=md.FieldType("Text"), length=80),
        md.CustomField(fullName="Opportunity.Md_Due__c", label="Due", type=md.FieldType("Date")),
        md.CustomField(fullName="User.Md_Seen__c", label="Seen", type=md.FieldType("DateTime")),
        md.CustomField(
            fullName="Opportunity.Md_Buddy__c",
            label="Buddy",
            type=md.FieldType("Lookup"),
            referenceTo="User",
            relationshipName="Md_Buddy",
        ),
    ]
    raw = md._service.upsertMetadata(fields, _soapheaders=[md._session_header])
    assert [(r.fullName, r.created, r.success) for r in raw] == [(f.fullName, True, True) for f in fields]
    raw = md._service.upsertMetadata(fields[:2], _soapheaders=[md._session_header])
    assert [r.created for r in raw] == [False, False]
    md.CustomField.upsert(fields[3:4])  # the library's own call: returns None on success

    # hidden from describe, SOQL and writes until a permission set grants it
    assert "Md_Status__c" not in describe_fields(sb)
    r = soql(sb, "SELECT Id, Md_Status__c FROM Opportunity LIMIT 1")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
    opp_id = soql(sb, "SELECT Id FROM Opportunity LIMIT 1").json()["records"][0]["Id"]
    api = http(sb, sb.session_id)
    r = api.patch(f"{sb.url}{DATA}/sobjects/Opportunity/{opp_id}", json={"Md_Note__c": "x"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"

    ps = create(sb, "PermissionSet", {"Name": "Presales_Sync", "Label": "Presales Sync"})
    assert ps.status_code == 201 and ps.json()["success"] is True
    ps_id = ps.json()["id"]
    assert ps_id.startswith("0PS")
    r = api.post(
        f"{sb.url}{DATA}/composite/sobjects",
        json={
            "allOrNone": True,
            "records": [
                {
                    "attributes": {"type": "FieldPermissions"},
                    "ParentId": ps_id,
                    "SobjectType": "Opportunity",
                    "Field": f"Opportunity.{name}",
                    "PermissionsRead": True,
                    "PermissionsEdit": name != "Md_Score__c",
                }
                for name in ("Md_Status__c", "Md_Score__c", "Md_Note__c")
            ],
        },
    )
    assert (
        r.status_code == 200 and all(x["success"] for x in r.json()) and r.json()[0]["id"].startswith("01k")
    )
    assert "Md_Status__c" not in describe_fields(sb)  # not assigned yet
    a = create(
        sb, "PermissionSetAssignment", {"AssigneeId": sb.integration_user_id, "PermissionSetId": ps_id}
    )
    assert a.status_code == 201 and a.json()["id"].startswith("0Pa")

    described = describe_fields(sb)
    assert described["Md_Status__c"]["type"] == "picklist" and described["Md_Status__c"]["updateable"] is True
    assert [v["value"] for v in described["Md_Status__c"]["picklistValues"]] == ["Open", "Done"]
    assert described["Md_Score__c"]["type"] == "double" and described["Md_Score__c"]["updateable"] is False
    assert "Md_Flag__c" not in described  # no FieldPermissions for it
    r = api.patch(f"{sb.url}{DATA}/sobjects/Opportunity/{opp_id}", json={"Md_Note__c": "hello"})
    assert r.status_code == 204
    r = api.patch(f"{sb.url}{DATA}/sobjects/Opportunity/{opp_id}", json={"Md_Score__c": 1})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    rec = soql(sb, f"SELECT Md_Note__c, Md_Status__c FROM Opportunity WHERE Id = '{opp_id}'").json()[
        "records"
    ]
    assert rec[0]["Md_Note__c"] == "hello" and rec[0]["Md_Status__c"] is None

    # the security objects are queryable, and updates follow through
    fp = soql(
        sb,
        "SELECT Id, Field, PermissionsEdit, Parent.Name FROM FieldPermissions "
        "WHERE Field = 'Opportunity.Md_Score__c'",
    ).json()["records"]
    assert fp[0]["Parent"]["Name"] == "Presales_Sync" and fp[0]["PermissionsEdit"] is False
    r = api.patch(
        f"{sb.url}{DATA}/composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "FieldPermissions"}, "id": fp[0]["Id"], "PermissionsEdit": True}
            ]
        },
    )
    assert r.json()[0]["success"] is True
    assert describe_fields(sb)["Md_Score__c"]["updateable"] is True

    # DUPLICATE_VALUE, and Edit without Read
    dup = create(
        sb,
        "FieldPermissions",
        {
            "ParentId": ps_id,
            "SobjectType": "Opportunity",
            "Field": "Opportunity.Md_Note__c",
            "PermissionsRead": True,
            "PermissionsEdit": False,
        },
    )
    assert dup.status_code == 400 and dup.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    bad = create(
        sb,
        "FieldPermissions",
        {
            "ParentId": ps_id,
            "SobjectType": "Opportunity",
            "Field": "Opportunity.Md_Flag__c",
            "PermissionsRead": False,
            "PermissionsEdit": True,
        },
    )
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"

    # read: the definition; a missing name → a record without fullName
    got = md.CustomField.read(["Opportunity.Md_Status__c"])
    assert got.fullName == "Opportunity.Md_Status__c" and got.type == "Picklist" and got.label == "Md Status"
    assert got.valueSet.restricted is True
    assert [(v.fullName, v.default) for v in got.valueSet.valueSetDefinition.value] == [
        ("Open", True),
        ("Done", False),
    ]
    both = md.CustomField.read(["Opportunity.Md_Score__c", "Opportunity.Nope__c"])
    assert (both[0].precision, both[0].scale) == (18, 2)
    assert both[1].fullName is None
    assert md.CustomField.read(["Opportunity.Nope__c"]).fullName is None

    # delete: gone from describe and SOQL
    md.CustomField.delete(["Opportunity.Md_Note__c"])
    assert "Md_Note__c" not in describe_fields(sb)
    r = soql(sb, "SELECT Md_Note__c FROM Opportunity LIMIT 1")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
    assert md.CustomField.read(["Opportunity.Md_Note__c"]).fullName is None

    # deleting the assignment takes the grant away again
    r = api.delete(f"{sb.url}{DATA}/sobjects/PermissionSetAssignment/{a.json()['id']}")
    assert r.status_code == 204
    assert "Md_Status__c" not in describe_fields(sb)

    calls = http(sb).get(f"{sb.url}/_sandbox/stats").json()["calls"]
    assert calls["metadata"] >= 8
    assert calls["sobject_create"] == 4 and calls["composite_create"] == 1 and calls["sobject_delete"] == 1


def test_upsert_errors(sf: Salesforce) -> None:
    md = sf.mdapi
    with pytest.raises(Exception, match="FIELD_INTEGRITY_EXCEPTION"):
        md.CustomField.upsert(
            [md.CustomField(fullName="Opportunity.Bad__c", label="Bad", type=md.FieldType("Text"))]
        )
    with pytest.raises(zeep.exceptions.Fault) as fault:
        md.CustomField.upsert(
            [
                md.CustomField(fullName=f"Opportunity.Many{i}__c", label="M", type=md.FieldType("Date"))
                for i in range(11)
            ]
        )
    assert fault.value.code == "sf:EXCEEDED_ID_LIMIT"


def test_invalid_session_is_a_fault(sb: Sandbox) -> None:
    sf = client(sb, sb.session_id[:-4] + "XXXX")
    with pytest.raises(zeep.exceptions.Fault) as fault:
        sf.mdapi.CustomField.read(["Opportunity.Presales_Status__c"])
    assert fault.value.code == "sf:INVALID_SESSION_ID"
    r = http(sb).post(f"{sb.url}/services/Soap/m/{V}", data=b"<x/>", headers={"Content-Type": "text/xml"})
    assert r.status_code == 500 and b"<faultcode>" in r.content


def test_seeded_fields_stay_visible(sb: Sandbox, sf: Salesforce) -> None:
    assert "Presales_Status__c" in describe_fields(sb)
    got = sf.mdapi.CustomField.read(["Opportunity.Presales_Status__c"])
    assert got.type == "Picklist" and got.fullName == "Opportunity.Presales_Status__c"
