"""Custom objects in the sandbox's Salesforce org, over real HTTP: the Metadata API's
CustomObject calls as simple-salesforce's zeep client sends them, describe, REST records of the
detail object as their creator, object permissions, sObject Collections upsert by external id,
the list custom setting, cascade delete and seeding "already installed".
Wire facts: docs/design/issue-14-wire-facts.md §1-§3."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from sandbox_seed import PLUGIN_ORG_WITHOUT_OBJECTS as PLUGIN_ORG
from simple_salesforce import Salesforce

from presales_sync.sandbox import CustomField, CustomObject, ManualClock, Sandbox

V = "66.0"
DATA = f"/services/data/v{V}"
ACTION = "Presales_Action__c"
SETTING = "Presales_Setting__c"
START = datetime(2026, 12, 3, 9, 0, 0, 250_000, tzinfo=UTC)


def http(sb: Sandbox, session_id: str | None = None) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = str(sb.ca_file)
    if session_id is not None:
        s.headers["Authorization"] = f"Bearer {session_id}"
    return s


def client(sb: Sandbox, session_id: str) -> Salesforce:
    sf = Salesforce(instance_url=sb.url, session_id=session_id, version=V, session=http(sb))
    transport_session = sf.mdapi._client.transport.session
    transport_session.trust_env = False
    transport_session.verify = str(sb.ca_file)
    return sf


def action_object(
    md: Any, *, name: str = ACTION, sharing: str = "ControlledByParent", with_master: bool = True
) -> Any:
    fields = [
        md.CustomField(
            fullName="Ext_Id__c",
            label="Ext Id",
            type=md.FieldType("Text"),
            length=80,
            externalId=True,
            unique=True,
            caseSensitive=True,
        )
    ]
    if with_master:
        fields.insert(
            0,
            md.CustomField(
                fullName="Opportunity__c",
                label="Opportunity",
                type=md.FieldType("MasterDetail"),
                referenceTo="Opportunity",
                relationshipName="Presales_Actions",
                relationshipLabel="Presales Actions",
                relationshipOrder=0,
                reparentableMasterDetail=False,
                writeRequiresMasterRead=False,
            ),
        )
    return md.CustomObject(
        fullName=name,
        label="Presales Action",
        pluralLabel="Presales Actions",
        nameField=md.CustomField(
            label="Action No", type=md.FieldType("AutoNumber"), displayFormat="PA-{000000}"
        ),
        deploymentStatus=md.DeploymentStatus("Deployed"),
        sharingModel=md.SharingModel(sharing),
        enableHistory=False,
        fields=fields,
    )


def setting_object(md: Any) -> Any:
    return md.CustomObject(
        fullName=SETTING,
        label="Presales Setting",
        pluralLabel="Presales Settings",
        customSettingsType=md.CustomSettingsType("List"),
        visibility=md.SetupObjectVisibility("Public"),
        nameField=md.CustomField(label="Name", type=md.FieldType("Text")),
        fields=[md.CustomField(fullName="Value__c", label="Value", type=md.FieldType("Text"), length=255)],
    )


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[Sandbox]:
    box = Sandbox(
        data_dir=tmp_path_factory.mktemp("sandbox-objects"), port=0, seed=30, org=PLUGIN_ORG, clock=clock
    )
    box.start()
    # the objects every test uses; the integration user may read, create and edit actions
    md = client(box, box.session_id).mdapi
    md.CustomObject.create([action_object(md), setting_object(md)])
    grant(box, [box.integration_user_id])
    yield box
    box.stop()


@pytest.fixture(scope="module")
def sf(sb: Sandbox) -> Salesforce:
    return client(sb, sb.session_id)


def api(sb: Sandbox, session_id: str | None = None) -> requests.Session:
    return http(sb, session_id or sb.session_id)


def soql(sb: Sandbox, q: str, session_id: str | None = None) -> requests.Response:
    return api(sb, session_id).get(f"{sb.url}{DATA}/query", params={"q": q})


def an_opportunity(sb: Sandbox, n: int = 0) -> str:
    r = soql(sb, f"SELECT Id FROM Opportunity ORDER BY Id LIMIT {n + 1}")
    return str(r.json()["records"][n]["Id"])


def a_rep(sb: Sandbox, n: int = 0) -> str:
    """The `n`-th sales rep: each test that grants access picks its own."""
    r = soql(sb, "SELECT Id FROM User WHERE Title = 'Account Executive' ORDER BY Id")
    return str(r.json()["records"][n]["Id"])


def create(sb: Sandbox, type_: str, body: dict[str, Any], session_id: str | None = None) -> requests.Response:
    return api(sb, session_id).post(f"{sb.url}{DATA}/sobjects/{type_}", json=body)


_SETS = iter(range(1000))


def grant(sb: Sandbox, users: list[str], *, create_perm: bool = True, fls: bool = True) -> None:
    """A permission set with Opportunity + Presales_Action__c access (and FLS on the key),
    assigned to `users`."""
    ps = create(sb, "PermissionSet", {"Name": f"Actions_{next(_SETS)}", "Label": "Actions"})
    assert ps.status_code == 201, ps.text
    ps_id = ps.json()["id"]
    rows = [
        {
            "attributes": {"type": "ObjectPermissions"},
            "ParentId": ps_id,
            "SobjectType": "Opportunity",
            "PermissionsRead": True,
            "PermissionsEdit": True,
        },
        {
            "attributes": {"type": "ObjectPermissions"},
            "ParentId": ps_id,
            "SobjectType": ACTION,
            "PermissionsRead": True,
            "PermissionsCreate": create_perm,
            "PermissionsEdit": True,
        },
        *(
            [
                {
                    "attributes": {"type": "FieldPermissions"},
                    "ParentId": ps_id,
                    "SobjectType": ACTION,
                    "Field": f"{ACTION}.Ext_Id__c",
                    "PermissionsRead": True,
                    "PermissionsEdit": True,
                }
            ]
            if fls
            else []
        ),
        *(
            {"attributes": {"type": "PermissionSetAssignment"}, "AssigneeId": u, "PermissionSetId": ps_id}
            for u in users
        ),
    ]
    r = api(sb).post(f"{sb.url}{DATA}/composite/sobjects", json={"allOrNone": True, "records": rows})
    assert r.status_code == 200 and all(x["success"] for x in r.json()), r.text


# -- Metadata API ------------------------------------------------------------------------------


def test_controlled_by_parent_needs_a_master_detail_field(sf: Salesforce) -> None:
    md = sf.mdapi
    with pytest.raises(Exception) as err:
        md.CustomObject.create([action_object(md, name="Orphan__c", with_master=False)])
    assert "Cannot set sharingModel to ControlledByParent on a CustomObject without a MasterDetail" in str(
        err.value
    )
    assert md.CustomObject.read("Orphan__c").fullName is None


def test_more_than_ten_components_is_a_fault(sf: Salesforce) -> None:
    md = sf.mdapi
    objects = [setting_object(md) for _ in range(11)]
    with pytest.raises(Exception) as err:
        md.CustomObject.create(objects)
    assert "EXCEEDED_ID_LIMIT" in str(err.value) or "cannot submit more than 10" in str(err.value)


def test_create_read_describe_and_child_relationship(sb: Sandbox, sf: Salesforce) -> None:
    md = sf.mdapi
    read = md.CustomObject.read([ACTION, SETTING])
    action, setting = read
    assert action.fullName == ACTION and action.sharingModel == "ControlledByParent"
    assert action.nameField.type == "AutoNumber" and action.nameField.displayFormat == "PA-{000000}"
    by_name = {f.fullName: f for f in action.fields}
    assert by_name["Opportunity__c"].type == "MasterDetail"
    assert by_name["Opportunity__c"].referenceTo == "Opportunity"
    assert by_name["Ext_Id__c"].externalId is True and by_name["Ext_Id__c"].unique is True
    assert setting.customSettingsType == "List"
    # a second create of the same object is refused, the first stays
    with pytest.raises(Exception, match="DUPLICATE_DEVELOPER_NAME"):
        md.CustomObject.create([setting_object(md)])

    # a user without object permissions does not see it
    viewer = a_rep(sb, 5)
    session = sb.session_for(viewer)
    assert api(sb, session).get(f"{sb.url}{DATA}/sobjects/{ACTION}/describe").status_code == 404
    grant(sb, [viewer], create_perm=False, fls=False)
    desc = api(sb, session).get(f"{sb.url}{DATA}/sobjects/{ACTION}/describe")
    assert desc.status_code == 200, desc.text
    body = desc.json()
    fields = {f["name"]: f for f in body["fields"]}
    assert body["createable"] is False and body["updateable"] is True
    assert body["custom"] is True and len(body["keyPrefix"]) == 3 and body["keyPrefix"] not in ("006", "001")
    for system in (
        "Id",
        "Name",
        "CreatedById",
        "CreatedDate",
        "LastModifiedById",
        "LastModifiedDate",
        "SystemModstamp",
        "IsDeleted",
    ):
        assert system in fields, system
    assert "OwnerId" not in fields
    assert fields["Name"]["autoNumber"] is True and fields["Name"]["createable"] is False
    master = fields["Opportunity__c"]
    assert master["referenceTo"] == ["Opportunity"] and master["relationshipName"] == "Opportunity__r"
    assert master["nillable"] is False and master["cascadeDelete"] is True
    # Ext_Id__c is under field-level security until a permission set grants it
    assert "Ext_Id__c" not in fields
    opp = api(sb).get(f"{sb.url}{DATA}/sobjects/Opportunity/describe").json()
    children = {c["relationshipName"]: c for c in opp["childRelationships"]}
    assert children["Presales_Actions__r"]["childSObject"] == ACTION
    assert children["Presales_Actions__r"]["cascadeDelete"] is True


def test_standalone_custom_fields_on_the_new_object(sb: Sandbox, sf: Salesforce) -> None:
    md = sf.mdapi
    md.CustomField.create(
        [
            md.CustomField(
                fullName=f"{ACTION}.Note__c",
                label="Note",
                type=md.FieldType("LongTextArea"),
                length=32000,
                visibleLines=3,
            ),
            md.CustomField(
                fullName=f"{ACTION}.Action__c",
                label="Action",
                type=md.FieldType("Picklist"),
                valueSet=md.ValueSet(
                    restricted=True,
                    valueSetDefinition=md.ValueSetValuesDefinition(
                        sorted=False,
                        value=[
                            md.CustomValue(fullName=v, default=False, label=v)
                            for v in ("Request", "Sign Off")
                        ],
                    ),
                ),
            ),
        ]
    )
    note = md.CustomField.read(f"{ACTION}.Note__c")
    assert note.type == "LongTextArea" and int(note.length) == 32000 and int(note.visibleLines) == 3
    with pytest.raises(Exception, match="Visible lines"):
        md.CustomField.create(
            [
                md.CustomField(
                    fullName=f"{ACTION}.Bad__c", label="Bad", type=md.FieldType("LongTextArea"), length=1000
                )
            ]
        )


# -- records, access ----------------------------------------------------------------------------


def test_records_need_object_permissions(sb: Sandbox) -> None:
    opp = an_opportunity(sb)
    rep = a_rep(sb, 1)
    rep_session = sb.session_for(rep)
    # no permission set: the object is not there for the caller
    r = create(sb, ACTION, {"Opportunity__c": opp}, rep_session)
    assert r.status_code == 404
    assert soql(sb, f"SELECT Id FROM {ACTION}", rep_session).json()[0]["errorCode"] == "INVALID_TYPE"
    grant(sb, [rep], create_perm=False)
    r = create(sb, ACTION, {"Opportunity__c": opp}, rep_session)
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert r.json()[0]["message"] == "entity type cannot be inserted: Presales Action"


def test_object_permission_dependencies(sb: Sandbox) -> None:
    ps = create(sb, "PermissionSet", {"Name": "Deps", "Label": "Deps"}).json()["id"]
    no_read = create(
        sb, "ObjectPermissions", {"ParentId": ps, "SobjectType": ACTION, "PermissionsCreate": True}
    )
    assert no_read.status_code == 400
    assert no_read.json()[0]["message"] == "Permission Create depends on permission(s): Read"
    no_master = create(
        sb, "ObjectPermissions", {"ParentId": ps, "SobjectType": ACTION, "PermissionsRead": True}
    )
    assert no_master.status_code == 400 and "Read Opportunity" in no_master.json()[0]["message"]
    setting = create(
        sb, "ObjectPermissions", {"ParentId": ps, "SobjectType": SETTING, "PermissionsRead": True}
    )
    assert setting.status_code == 400


def test_create_as_the_caller_query_and_cascade(sb: Sandbox, clock: ManualClock) -> None:
    opp, other = an_opportunity(sb, 1), an_opportunity(sb, 2)
    rep = a_rep(sb, 0)
    grant(sb, [rep])
    rep_session = sb.session_for(rep)
    missing = create(sb, ACTION, {"Ext_Id__c": "x"}, rep_session)
    assert missing.status_code == 400 and missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    unknown = create(sb, ACTION, {"Opportunity__c": "006Dn000000zzzzAAA"}, rep_session)
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    clock.advance(10)
    made = create(sb, ACTION, {"Opportunity__c": opp}, rep_session)
    assert made.status_code == 201, made.text
    made_id = made.json()["id"]
    create(sb, ACTION, {"Opportunity__c": other}, rep_session)
    rec = api(sb).get(f"{sb.url}{DATA}/sobjects/{ACTION}/{made_id}").json()
    assert rec["CreatedById"] == rep and rec["LastModifiedById"] == rep
    expected = datetime.fromtimestamp(int(clock.now()), UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert rec["CreatedDate"] == expected and rec["SystemModstamp"] == expected
    assert rec["Name"].startswith("PA-") and len(rec["Name"]) == 9
    stamp = expected.replace(".000+0000", "Z")
    r = soql(
        sb,
        f"SELECT Id, Name, CreatedById, CreatedDate, Opportunity__c, Opportunity__r.StageName "
        f"FROM {ACTION} WHERE SystemModstamp >= {stamp} ORDER BY SystemModstamp, Id LIMIT 10",
    )
    assert r.status_code == 200, r.text
    rows = r.json()["records"]
    assert [x["Id"] for x in rows if x["Opportunity__c"] == opp] == [made_id]
    assert rows[0]["Opportunity__r"]["StageName"]
    assert soql(sb, f"SELECT Id FROM {ACTION} WHERE CreatedDate > {stamp}").json()["totalSize"] == 0
    # PATCH by id (the outcome written back) and DELETE
    patched = api(sb).patch(f"{sb.url}{DATA}/sobjects/{ACTION}/{made_id}", json={"Ext_Id__c": "e-1"})
    assert patched.status_code == 204
    # deleting the opportunity deletes its actions
    assert api(sb).delete(f"{sb.url}{DATA}/sobjects/Opportunity/{opp}").status_code == 204
    assert api(sb).get(f"{sb.url}{DATA}/sobjects/{ACTION}/{made_id}").status_code == 404
    left = soql(sb, f"SELECT Id FROM {ACTION} WHERE Opportunity__c = '{other}'").json()
    assert left["totalSize"] == 1
    refused = api(sb).delete(f"{sb.url}{DATA}/sobjects/{ACTION}/{left['records'][0]['Id']}")
    assert refused.status_code == 400  # the permission set grants no Delete
    assert refused.json()[0]["message"] == "entity type cannot be deleted: Presales Action"


# -- upsert by external id ------------------------------------------------------------------------


def upsert(
    sb: Sandbox, records: list[dict[str, Any]], *, type_: str = ACTION, all_or_none: bool | None = None
) -> requests.Response:
    body: dict[str, Any] = {"records": records}
    if all_or_none is not None:
        body["allOrNone"] = all_or_none
    return api(sb).patch(f"{sb.url}{DATA}/composite/sobjects/{type_}/Ext_Id__c", json=body)


def row(key: str, opp: str, **extra: Any) -> dict[str, Any]:
    return {"attributes": {"type": ACTION}, "Ext_Id__c": key, "Opportunity__c": opp, **extra}


def test_upsert_creates_then_updates(sb: Sandbox) -> None:
    opp = an_opportunity(sb, 3)
    first = upsert(sb, [row("k-1", opp), row("k-2", opp)])
    assert first.status_code == 200, first.text
    assert [(r["success"], r["created"]) for r in first.json()] == [(True, True), (True, True)]
    assert set(first.json()[0]) == {"id", "success", "errors", "created"}
    again = upsert(sb, [row("k-1", opp), row("k-2", opp)])
    assert [(r["id"], r["created"]) for r in again.json()] == [(r["id"], False) for r in first.json()]
    assert soql(sb, f"SELECT Id FROM {ACTION} WHERE Ext_Id__c IN ('k-1', 'k-2')").json()["totalSize"] == 2


def test_upsert_rejections(sb: Sandbox) -> None:
    opp = an_opportunity(sb, 4)
    dupes = upsert(sb, [row("d-1", opp), row("d-2", opp), row("d-1", opp)]).json()
    assert dupes[1]["success"] is True
    for i in (0, 2):
        assert dupes[i]["success"] is False
        assert dupes[i]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
        assert dupes[i]["errors"][0]["message"] == "Duplicate external id specified: d-1"
    missing = upsert(sb, [{"attributes": {"type": ACTION}, "Ext_Id__c": "m-1"}]).json()
    assert missing[0]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    with_id = upsert(sb, [{**row("i-1", opp), "Id": dupes[1]["id"]}])
    assert with_id.status_code == 400
    wrong_type = upsert(sb, [{**row("t-1", opp), "attributes": {"type": "Opportunity"}}])
    assert wrong_type.status_code == 400
    too_many = upsert(sb, [row(f"n-{i}", opp) for i in range(201)])
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    not_key = api(sb).patch(f"{sb.url}{DATA}/composite/sobjects/{ACTION}/Name", json={"records": []})
    assert not_key.status_code == 400
    rolled = upsert(
        sb, [row("r-1", opp), {"attributes": {"type": ACTION}, "Ext_Id__c": "r-2"}], all_or_none=True
    ).json()
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert soql(sb, f"SELECT Id FROM {ACTION} WHERE Ext_Id__c = 'r-1'").json()["totalSize"] == 0


# -- the custom setting ------------------------------------------------------------------------------


def test_list_custom_setting_by_name(sb: Sandbox) -> None:
    made = create(sb, SETTING, {"Name": "Store_Owner", "Value__c": "abc"})
    assert made.status_code == 201, made.text
    r = soql(sb, f"SELECT Id, Value__c FROM {SETTING} WHERE Name = 'Store_Owner'")
    assert r.status_code == 200, r.text
    assert r.json()["records"][0]["Value__c"] == "abc"
    desc = api(sb).get(f"{sb.url}{DATA}/sobjects/{SETTING}/describe").json()
    assert desc["customSetting"] is True


def test_delete_object(sb: Sandbox, sf: Salesforce) -> None:
    md = sf.mdapi
    md.CustomObject.create(
        [
            md.CustomObject(
                fullName="Scratch__c",
                label="Scratch",
                pluralLabel="Scratches",
                nameField=md.CustomField(label="Name", type=md.FieldType("Text")),
                deploymentStatus=md.DeploymentStatus("Deployed"),
                sharingModel=md.SharingModel("ReadWrite"),
            )
        ]
    )
    ps = create(sb, "PermissionSet", {"Name": "Scratch", "Label": "Scratch"}).json()["id"]
    assert (
        create(
            sb, "ObjectPermissions", {"ParentId": ps, "SobjectType": "Scratch__c", "PermissionsRead": True}
        ).status_code
        == 201
    )
    create(sb, "PermissionSetAssignment", {"AssigneeId": sb.integration_user_id, "PermissionSetId": ps})
    fields = {f["name"] for f in api(sb).get(f"{sb.url}{DATA}/sobjects/Scratch__c/describe").json()["fields"]}
    assert "OwnerId" in fields  # not a detail: it has an owner
    md.CustomObject.delete(["Scratch__c"])
    assert md.CustomObject.read("Scratch__c").fullName is None
    assert api(sb).get(f"{sb.url}{DATA}/sobjects/Scratch__c/describe").status_code == 404


# -- seeded "already installed" -------------------------------------------------------------------


def seeded_org(installed: bool) -> Any:
    objects = (
        CustomObject(
            name=ACTION,
            label="Presales Action",
            plural_label="Presales Actions",
            parent="Opportunity",
            parent_field="Opportunity__c",
            relationship_name="Presales_Actions",
            key_field="Ext_Id__c",
            name_format="PA-{000000}",
            zoho_name="Presales_Actions",
            zoho_parent_field="Deal",
        ),
        CustomObject(
            name=SETTING, label="Presales Setting", plural_label="Presales Settings", kind="setting"
        ),
    )
    fields = (
        CustomField(
            object=ACTION, name="Ext_Id__c", label="Ext Id", type="Text", length=80, external_id=True
        ),
        CustomField(object=ACTION, name="Note__c", label="Note", type="LongText", length=32000),
    )
    return dataclasses.replace(
        PLUGIN_ORG, objects=objects, fields=PLUGIN_ORG.fields + fields, installed=installed
    )


@pytest.mark.parametrize("installed", [True, False])
def test_seeded_objects(tmp_path: Any, installed: bool) -> None:
    with Sandbox(data_dir=tmp_path, port=0, seed=5, org=seeded_org(installed)) as box:
        desc = api(box).get(f"{box.url}{DATA}/sobjects/{ACTION}/describe")
        if not installed:
            assert desc.status_code == 404
            return
        fields = {f["name"]: f for f in desc.json()["fields"]}
        assert fields["Ext_Id__c"]["externalId"] and fields["Ext_Id__c"]["unique"]
        assert fields["Note__c"]["type"] == "textarea" and fields["Note__c"]["length"] == 32000
        assert fields["Opportunity__c"]["relationshipName"] == "Opportunity__r"
        person = soql(box, "SELECT Id FROM User WHERE Title = 'Account Executive' LIMIT 1").json()["records"][
            0
        ]
        made = create(box, ACTION, {"Opportunity__c": an_opportunity(box)}, box.session_for(person["Id"]))
        assert made.status_code == 201, made.text
        assert create(box, SETTING, {"Name": "Store_Owner", "Value__c": "x"}).status_code == 201
        read = client(box, box.session_id).mdapi.CustomObject.read(ACTION)
        assert read.sharingModel == "ControlledByParent"


def test_collection_create_and_upsert_metadata(sb: Sandbox, sf: Salesforce) -> None:
    opp = an_opportunity(sb, 5)
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": ACTION}, "Opportunity__c": opp},
            {"attributes": {"type": ACTION}},
        ],
    }
    made = api(sb).post(f"{sb.url}{DATA}/composite/sobjects", json=body).json()
    assert made[0]["success"] is True
    assert made[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    outsider = sb.session_for(a_rep(sb, 7))
    refused = api(sb, outsider).post(f"{sb.url}{DATA}/composite/sobjects", json=body).json()
    assert refused[0]["errors"][0]["statusCode"] == "INVALID_TYPE"
    # upsertMetadata of an existing object: created false, the object and its records stay
    md = sf.mdapi
    md.CustomObject.upsert([setting_object(md)])
    result = md._service.upsertMetadata([setting_object(md)], _soapheaders=[md._session_header])
    assert result[0].created is False and result[0].success is True


def test_semi_join_on_the_detail_object(sb: Sandbox) -> None:
    opp = an_opportunity(sb, 6)
    made = upsert(sb, [row("s-1", opp)]).json()
    assert made[0]["success"], made
    q = (
        f"SELECT Id FROM Opportunity WHERE Id IN (SELECT Opportunity__c FROM {ACTION} "
        "WHERE Ext_Id__c = 's-1') ORDER BY Id"
    )
    r = soql(sb, q)
    assert r.status_code == 200, r.text
    assert [x["Id"] for x in r.json()["records"]] == [opp]
    others = soql(sb, f"SELECT Id FROM Opportunity WHERE Id NOT IN (SELECT Opportunity__c FROM {ACTION})")
    assert opp not in {x["Id"] for x in others.json()["records"]}
    bad = soql(sb, f"SELECT Id FROM Opportunity WHERE Id IN (SELECT Ext_Id__c FROM {ACTION})")
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    nested = soql(
        sb,
        f"SELECT Id FROM Opportunity WHERE Id IN (SELECT Opportunity__c FROM {ACTION} WHERE "
        "Opportunity__c IN (SELECT Id FROM Opportunity))",
    )
    assert nested.status_code == 400 and nested.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_parent_to_child_subquery(sb: Sandbox) -> None:
    opp, lonely = an_opportunity(sb, 7), an_opportunity(sb, 8)
    assert all(r["success"] for r in upsert(sb, [row(f"c-{i}", opp) for i in range(3)]).json())
    q = (
        f"SELECT Id, (SELECT Id, Ext_Id__c FROM Presales_Actions__r ORDER BY Ext_Id__c) FROM Opportunity "
        f"WHERE Id IN ('{opp}', '{lonely}') ORDER BY Id"
    )
    r = soql(sb, q)
    assert r.status_code == 200, r.text
    by_id = {x["Id"]: x for x in r.json()["records"]}
    children = by_id[opp]["Presales_Actions__r"]
    assert children["totalSize"] == 3 and children["done"] is True
    assert [c["Ext_Id__c"] for c in children["records"]] == ["c-0", "c-1", "c-2"]
    assert children["records"][0]["attributes"]["type"] == ACTION
    assert by_id[lonely]["Presales_Actions__r"] is None
    # a child page of 2: done false and a nextRecordsUrl the query endpoint serves
    assert sb._api is not None
    sb._api.child_batch = 2
    try:
        paged = soql(sb, q).json()["records"]
    finally:
        sb._api.child_batch = 200
    first = {x["Id"]: x for x in paged}[opp]["Presales_Actions__r"]
    assert first["done"] is False and len(first["records"]) == 2
    rest = api(sb).get(f"{sb.url}{first['nextRecordsUrl']}").json()
    assert rest["done"] is True and [c["Ext_Id__c"] for c in rest["records"]] == ["c-2"]
    unknown = soql(sb, "SELECT Id, (SELECT Id FROM Nothing__r) FROM Opportunity")
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_TYPE"
    many = ", ".join(["(SELECT Id FROM Presales_Actions__r)"] * 21)
    too_many = soql(sb, f"SELECT Id, {many} FROM Opportunity")
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_field_history_of_a_tracked_field(sb: Sandbox, sf: Salesforce, clock: ManualClock) -> None:
    md = sf.mdapi
    md.CustomField.create(
        [
            md.CustomField(
                fullName="Opportunity.Tracked_Step__c",
                label="Tracked Step",
                type=md.FieldType("Text"),
                length=40,
                trackHistory=True,
            )
        ]
    )
    assert md.CustomField.read("Opportunity.Tracked_Step__c").trackHistory is True
    opp = an_opportunity(sb, 9)
    url = f"{sb.url}{DATA}/sobjects/Opportunity/{opp}"
    # a field created by the Metadata API is under FLS: the sandbox's seeded admin path is FLS-free
    # only for seeded fields, so grant it first
    ps = create(sb, "PermissionSet", {"Name": "Tracked", "Label": "Tracked"}).json()["id"]
    create(
        sb,
        "FieldPermissions",
        {
            "ParentId": ps,
            "SobjectType": "Opportunity",
            "Field": "Opportunity.Tracked_Step__c",
            "PermissionsRead": True,
            "PermissionsEdit": True,
        },
    )
    create(sb, "PermissionSetAssignment", {"AssigneeId": sb.integration_user_id, "PermissionSetId": ps})
    assert api(sb).patch(url, json={"Tracked_Step__c": "One"}).status_code == 204
    clock.advance(5)
    assert api(sb).patch(url, json={"Tracked_Step__c": "Two", "Amount": 5}).status_code == 204
    r = soql(
        sb,
        "SELECT OpportunityId, Field, DataType, OldValue, NewValue, CreatedById, CreatedDate "
        f"FROM OpportunityFieldHistory WHERE OpportunityId = '{opp}' ORDER BY CreatedDate",
    )
    assert r.status_code == 200, r.text
    rows = [(x["Field"], x["OldValue"], x["NewValue"]) for x in r.json()["records"]]
    assert rows == [("Tracked_Step__c", None, "One"), ("Tracked_Step__c", "One", "Two")]
    assert r.json()["records"][0]["CreatedById"] == sb.integration_user_id
    bad = soql(sb, "SELECT Id FROM OpportunityFieldHistory WHERE NewValue = 'Two'")
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_custom_object_history(sb: Sandbox, sf: Salesforce) -> None:
    md = sf.mdapi
    tracked = md.CustomField(
        fullName="State__c", label="State", type=md.FieldType("Text"), length=20, trackHistory=True
    )
    md.CustomObject.create(
        [
            md.CustomObject(
                fullName="Hist__c",
                label="Hist",
                pluralLabel="Hists",
                enableHistory=True,
                fields=[tracked],
                nameField=md.CustomField(label="Name", type=md.FieldType("Text")),
                deploymentStatus=md.DeploymentStatus("Deployed"),
                sharingModel=md.SharingModel("ReadWrite"),
            )
        ]
    )
    ps = create(sb, "PermissionSet", {"Name": "Hist", "Label": "Hist"}).json()["id"]
    create(
        sb,
        "ObjectPermissions",
        {
            "ParentId": ps,
            "SobjectType": "Hist__c",
            "PermissionsRead": True,
            "PermissionsCreate": True,
            "PermissionsEdit": True,
        },
    )
    create(
        sb,
        "FieldPermissions",
        {
            "ParentId": ps,
            "SobjectType": "Hist__c",
            "Field": "Hist__c.State__c",
            "PermissionsRead": True,
            "PermissionsEdit": True,
        },
    )
    create(sb, "PermissionSetAssignment", {"AssigneeId": sb.integration_user_id, "PermissionSetId": ps})
    made = create(sb, "Hist__c", {"Name": "h1", "State__c": "a"})
    assert made.status_code == 201, made.text
    hid = made.json()["id"]
    assert api(sb).patch(f"{sb.url}{DATA}/sobjects/Hist__c/{hid}", json={"State__c": "b"}).status_code == 204
    r = soql(sb, f"SELECT ParentId, Field, OldValue, NewValue FROM Hist__History WHERE ParentId = '{hid}'")
    assert r.status_code == 200, r.text
    assert [(x["Field"], x["OldValue"], x["NewValue"]) for x in r.json()["records"]] == [
        ("State__c", "a", "b")
    ]
    too_many = [
        md.CustomField(
            fullName=f"T{i}__c", label=f"T{i}", type=md.FieldType("Text"), length=5, trackHistory=True
        )
        for i in range(21)
    ]
    with pytest.raises(Exception, match="maximum of 20"):
        md.CustomObject.create(
            [
                md.CustomObject(
                    fullName="Hist2__c",
                    label="Hist2",
                    pluralLabel="Hist2s",
                    enableHistory=True,
                    fields=too_many,
                    nameField=md.CustomField(label="Name", type=md.FieldType("Text")),
                    deploymentStatus=md.DeploymentStatus("Deployed"),
                    sharingModel=md.SharingModel("ReadWrite"),
                )
            ]
        )
    md.CustomObject.delete(["Hist__c"])
    assert soql(sb, "SELECT Id FROM Hist__History").status_code == 400


def test_organization_is_the_org_identity(sb: Sandbox) -> None:
    r = soql(sb, "SELECT Id, Name, IsSandbox FROM Organization")
    assert r.status_code == 200, r.text
    (org,) = r.json()["records"]
    assert org["Id"] == sb.org_id and org["IsSandbox"] is False
