"""The Salesforce adapter's custom objects, upserts by external id and org setting: request
shapes and error bodies against `responses` stubs, then each method against the sandbox over
HTTP (idempotent install, re-sent upserts, the setting round trip, actions carrying their
creator). Wire facts: docs/design/issue-14-wire-facts.md §1-§3."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from lxml import etree
from sandbox_seed import PLUGIN_ORG_WITHOUT_OBJECTS as PLUGIN_ORG

from presales_sync.connector.base import FieldSpec, ObjectSpec, RecordChange, RecordUpsert
from presales_sync.connector.errors import ConfigError
from presales_sync.connector.salesforce import SalesforceConnector, SalesforceSettings, connect
from presales_sync.sandbox import ManualClock, Sandbox

INSTANCE = "https://acme.my.salesforce.com"
SOAP_URL = f"{INSTANCE}/services/Soap/m/66.0/"
BASE = f"{INSTANCE}/services/data/v66.0"
UPSERT_URL = f"{BASE}/composite/sobjects/Presales_Action__c/Ext_Id__c"
SESSION_ID = "00D5g000004SECRET!AQ8AQSessionSecretValue"
MD = "http://soap.sforce.com/2006/04/metadata"
SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
OPP = "0065g00000AbCdEAAZ"
ACTION = "Presales_Action__c"
SETTING = "Presales_Setting__c"

DETAIL = ObjectSpec(
    name=ACTION,
    label="Presales Action",
    plural_label="Presales Actions",
    kind="detail",
    parent="Opportunity",
    parent_field="Opportunity__c",
    parent_label="Opportunity",
    relationship_name="Presales_Actions",
    relationship_label="Presales Actions",
    key_field="Ext_Id__c",
    name_format="PA-{000000}",
)
SETTING_SPEC = ObjectSpec(
    name=SETTING, label="Presales Setting", plural_label="Presales Settings", kind="setting"
)


def envelope(body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAPENV}" '
        f'xmlns:xsi="{XSI}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    )


class Soap:
    """A Metadata API stub: records each operation; readMetadata knows `existing`."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.existing: set[str] = set()
        self.errors: dict[str, tuple[str, str]] = {}
        rsps.add_callback(responses.POST, SOAP_URL, callback=self.answer)

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        op = etree.fromstring(request.body).find(f"{{{SOAPENV}}}Body")[0]
        name = etree.QName(op).localname
        self.calls.append((name, op))
        if name == "readMetadata":
            records = "".join(
                f'<records xsi:type="CustomObject"><fullName>{n.text}</fullName></records>'
                if n.text in self.existing
                else '<records xsi:type="CustomObject"/>'
                for n in op.findall(f"{{{MD}}}fullNames")
            )
            inner = f"<result>{records}</result>"
        else:
            parts = []
            names = [e.findtext(f"{{{MD}}}fullName") for e in op.findall(f"{{{MD}}}metadata")]
            names += [e.text for e in op.findall(f"{{{MD}}}fullNames")]
            for full_name in names:
                if full_name in self.errors:
                    code, message = self.errors[full_name]
                    parts.append(
                        f"<result><errors><message>{message}</message><statusCode>{code}</statusCode>"
                        f"</errors><fullName>{full_name}</fullName><success>false</success></result>"
                    )
                else:
                    parts.append(f"<result><fullName>{full_name}</fullName><success>true</success></result>")
            inner = "".join(parts)
        return (
            200,
            {"Content-Type": "text/xml"},
            envelope(f'<{name}Response xmlns="{MD}">{inner}</{name}Response>'),
        )

    def ops(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def soap(rsps: responses.RequestsMock) -> Soap:
    return Soap(rsps)


@pytest.fixture
def sf() -> SalesforceConnector:
    settings = SalesforceSettings(instance_url=INSTANCE, auth_method="session")  # type: ignore[call-arg]
    return connect(settings, {"PRESALES_SF_SESSION_ID": SESSION_ID}, sleep=lambda _: None)


def texts(el: Any, path: str) -> list[str]:
    return [e.text or "" for e in el.iterfind(path, namespaces={"m": MD})]


# -- ensure_objects / remove_objects against stubs --------------------------------------------------


def test_the_detail_object_is_sent_with_its_master_detail_field_inside(
    sf: SalesforceConnector, soap: Soap
) -> None:
    plans = sf.ensure_objects([DETAIL, SETTING_SPEC], dry_run=True)
    assert [p.action for p in plans] == ["create", "create"]
    assert soap.ops() == ["readMetadata"]  # a dry run only reads
    soap.existing = {ACTION}
    # only the setting is missing and it needs no permissions: one create, no REST call
    plans = sf.ensure_objects([DETAIL, SETTING_SPEC][1:])
    assert soap.ops() == ["readMetadata", "readMetadata", "createMetadata"]
    setting = soap.calls[-1][1].find(f"{{{MD}}}metadata")
    assert texts(setting, "m:customSettingsType") == ["List"]
    assert texts(setting, "m:nameField/m:type") == ["Text"]
    assert texts(setting, "m:fields/m:fullName") == ["Value__c"]


def test_create_shape_of_the_detail_object(sf: SalesforceConnector, soap: Soap) -> None:
    from presales_sync.connector.salesforce._objects import _create

    sf._transport.metadata(lambda md: _create(md, specs=[DETAIL]))
    obj = soap.calls[-1][1].find(f"{{{MD}}}metadata")
    assert obj.get(f"{{{XSI}}}type").endswith("CustomObject")
    assert texts(obj, "m:sharingModel") == ["ControlledByParent"]
    assert texts(obj, "m:nameField/m:type") == ["AutoNumber"]
    assert texts(obj, "m:nameField/m:displayFormat") == ["PA-{000000}"]
    fields = {f.findtext(f"{{{MD}}}fullName"): f for f in obj.findall(f"{{{MD}}}fields")}
    assert set(fields) == {"Opportunity__c", "Ext_Id__c"}  # unqualified inside the object
    master = fields["Opportunity__c"]
    assert texts(master, "m:type") == ["MasterDetail"] and texts(master, "m:referenceTo") == ["Opportunity"]
    assert texts(master, "m:relationshipName") == ["Presales_Actions"]
    assert texts(master, "m:reparentableMasterDetail") == ["false"]
    key = fields["Ext_Id__c"]
    assert [texts(key, f"m:{t}") for t in ("externalId", "unique", "caseSensitive")] == [["true"]] * 3


def test_eleven_objects_take_two_create_calls(sf: SalesforceConnector, soap: Soap) -> None:
    specs = [
        ObjectSpec(name=f"Setting{i}__c", label=f"S{i}", plural_label=f"S{i}s", kind="setting")
        for i in range(11)
    ]
    sf.ensure_objects(specs)
    creates = [op for name, op in soap.calls if name == "createMetadata"]
    assert [len(op.findall(f"{{{MD}}}metadata")) for op in creates] == [10, 1]


def test_a_refused_component_is_a_config_error(sf: SalesforceConnector, soap: Soap) -> None:
    soap.errors[SETTING] = ("FIELD_INTEGRITY_EXCEPTION", "no way")
    with pytest.raises(ConfigError) as err:
        sf.ensure_objects([SETTING_SPEC])
    assert err.value.code == "FIELD_INTEGRITY_EXCEPTION" and SETTING in str(err.value)


@pytest.mark.parametrize(
    "spec",
    [
        ObjectSpec(name="Bad", label="B", plural_label="Bs", kind="setting"),
        ObjectSpec(name="Bad__c", label="B", plural_label="Bs", kind="detail"),
        ObjectSpec(
            name="Bad__c",
            label="B",
            plural_label="Bs",
            kind="detail",
            parent="Opportunity",
            parent_field="Opportunity__c",
            relationship_name="Bads",
            key_field="Key",
            name_format="B-1",
        ),
    ],
)
def test_invalid_object_specs_fail_before_any_call(
    sf: SalesforceConnector, soap: Soap, spec: ObjectSpec
) -> None:
    with pytest.raises(ConfigError):
        sf.ensure_objects([spec])
    assert soap.calls == []


def test_remove_objects_deletes_only_existing_ones(sf: SalesforceConnector, soap: Soap) -> None:
    soap.existing = {ACTION}
    sf.remove_objects([ACTION, SETTING])
    assert soap.ops() == ["readMetadata", "deleteMetadata"]
    assert texts(soap.calls[-1][1], "m:fullNames") == [ACTION]
    with pytest.raises(ConfigError):
        sf.remove_objects(["Opportunity"])


def test_long_text_and_external_id_field_specs(sf: SalesforceConnector, soap: Soap) -> None:
    from presales_sync.connector.salesforce._install import _upsert

    specs = [
        FieldSpec(ACTION, "Note__c", "Note", "LongText", length=32000),
        FieldSpec(ACTION, "Key__c", "Key", "Text", length=80, external_id=True),
    ]
    sf._transport.metadata(lambda md: _upsert(md, specs=specs))
    note, key = soap.calls[-1][1].findall(f"{{{MD}}}metadata")
    assert texts(note, "m:type") == ["LongTextArea"] and texts(note, "m:length") == ["32000"]
    assert texts(note, "m:visibleLines") == ["3"]
    assert texts(key, "m:externalId") == ["true"] and texts(key, "m:unique") == ["true"]
    assert texts(key, "m:caseSensitive") == ["true"]
    for bad in (
        FieldSpec(ACTION, "Note__c", "Note", "LongText", length=100),
        FieldSpec(ACTION, "Key__c", "Key", "Number", external_id=True),
    ):
        with pytest.raises(ConfigError):
            sf.plan_fields([bad])


# -- upsert against stubs ---------------------------------------------------------------------------


def rows(n: int, prefix: str = "k") -> list[RecordUpsert]:
    return [
        RecordUpsert(key=f"{prefix}-{i}", fields={"Opportunity__c": OPP, "Kind__c": "Created"})
        for i in range(n)
    ]


def ok(i: int, created: bool = True) -> dict[str, Any]:
    return {"id": f"a005g00000Ab{i:03d}AAA", "success": True, "errors": [], "created": created}


def test_upsert_request_and_results(sf: SalesforceConnector, rsps: responses.RequestsMock) -> None:
    dup = {
        "success": False,
        "errors": [
            {"statusCode": "DUPLICATE_VALUE", "fields": [], "message": "Duplicate external id specified: k-1"}
        ],
    }
    missing = {
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_CROSS_REFERENCE_KEY",
                "message": "Opportunity: invalid cross reference id",
                "fields": ["Opportunity__c"],
            }
        ],
    }
    rsps.patch(UPSERT_URL, json=[ok(0), dup, missing])
    results = sf.upsert(object_name=ACTION, key_field="Ext_Id__c", records=rows(3))
    body = json.loads(rsps.calls[0].request.body)
    assert body["allOrNone"] is False
    assert body["records"][0] == {
        "attributes": {"type": ACTION},
        "Opportunity__c": OPP,
        "Kind__c": "Created",
        "Ext_Id__c": "k-0",
    }
    assert results[0].ok and results[0].id == "a005g00000Ab000AAA"
    assert not results[1].ok and results[1].error_code == "DUPLICATE_VALUE" and results[1].id == "k-1"
    assert not results[2].ok and not results[2].gone  # a bad parent id rejects this row, it is not gone
    assert sf.api_calls()["composite_sobjects"] == 1


def test_upsert_batches_of_200(sf: SalesforceConnector, rsps: responses.RequestsMock) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        n = len(json.loads(request.body)["records"])
        return 200, {}, json.dumps([ok(i) for i in range(n)])

    rsps.add_callback(responses.PATCH, UPSERT_URL, callback=answer)
    results = sf.upsert(object_name=ACTION, key_field="Ext_Id__c", records=rows(201))
    assert [len(json.loads(c.request.body)["records"]) for c in rsps.calls] == [200, 1]
    assert len(results) == 201 and all(r.ok for r in results)


def test_a_key_given_twice_is_refused_before_sending(
    sf: SalesforceConnector, rsps: responses.RequestsMock
) -> None:
    with pytest.raises(ConfigError, match="given twice"):
        sf.upsert(object_name=ACTION, key_field="Ext_Id__c", records=[*rows(2), rows(1)[0]])
    with pytest.raises(ConfigError):
        sf.upsert(object_name=ACTION, key_field="Ext_Id__c", records=[RecordUpsert(key="", fields={})])
    with pytest.raises(ConfigError):
        sf.upsert(object_name="Bad Name", key_field="Ext_Id__c", records=rows(1))
    assert len(rsps.calls) == 0


def test_a_lost_answer_is_re_sent_and_the_batch_stays_one(
    sf: SalesforceConnector, rsps: responses.RequestsMock
) -> None:
    rsps.patch(UPSERT_URL, body=requests.ConnectionError("connection reset"))
    rsps.patch(UPSERT_URL, json=[ok(0, created=False), ok(1, created=False)])
    results = sf.upsert(object_name=ACTION, key_field="Ext_Id__c", records=rows(2))
    assert [r.ok for r in results] == [True, True]
    assert sf.api_calls()["composite_sobjects"] == 2
    assert rsps.calls[0].request.body == rsps.calls[1].request.body  # the same keys: an update


def test_a_malformed_upsert_is_a_config_error(sf: SalesforceConnector, rsps: responses.RequestsMock) -> None:
    rsps.patch(
        UPSERT_URL,
        status=400,
        json=[
            {
                "errorCode": "INVALID_FIELD",
                "message": "Provided external ID field does not exist or is not accessible: Ext_Id__c",
            }
        ],
    )
    with pytest.raises(ConfigError, match="Provided external ID field"):
        sf.upsert(object_name=ACTION, key_field="Ext_Id__c", records=rows(1))


# -- org settings against stubs -----------------------------------------------------------------


def test_org_setting_read_create_update(sf: SalesforceConnector, rsps: responses.RequestsMock) -> None:
    answers = iter(
        [
            [],
            [],
            [{"Id": "a015g00000Ab001AAA", "Value__c": "old"}],
            [{"Id": "a015g00000Ab001AAA", "Value__c": "new"}],
        ]
    )

    def query(request: Any) -> tuple[int, dict[str, str], str]:
        q = parse_qs(urlparse(request.url).query)["q"][0]
        assert q == f"SELECT Id, Value__c FROM {SETTING} WHERE Name = 'Store_Owner' LIMIT 1"
        records = next(answers)
        return 200, {}, json.dumps({"totalSize": len(records), "done": True, "records": records})

    rsps.add_callback(responses.GET, f"{BASE}/query/", callback=query)
    rsps.post(
        f"{BASE}/sobjects/{SETTING}",
        status=201,
        json={"id": "a015g00000Ab001AAA", "success": True, "errors": []},
    )
    rsps.patch(f"{BASE}/sobjects/{SETTING}/a015g00000Ab001AAA", status=204)
    assert sf.org_setting("Store_Owner", container=SETTING) is None
    sf.set_org_setting("Store_Owner", "old", container=SETTING)
    sf.set_org_setting("Store_Owner", "new", container=SETTING)
    sf.set_org_setting("Store_Owner", "new", container=SETTING)  # unchanged: no write
    writes = [(c.request.method, json.loads(c.request.body)) for c in rsps.calls if c.request.method != "GET"]
    assert writes == [("POST", {"Name": "Store_Owner", "Value__c": "old"}), ("PATCH", {"Value__c": "new"})]
    with pytest.raises(ConfigError):
        sf.set_org_setting("Store_Owner", "x" * 256, container=SETTING)
    with pytest.raises(ConfigError):
        sf.org_setting("Store_Owner", container="General")


# -- against the sandbox over HTTP ---------------------------------------------------------------

#: The sandbox's families of record writes (the Metadata API's reads and writes are "metadata").
WRITES = ("composite_sobjects", "composite_create", "sobject_create", "sobject_patch", "sobject_delete")


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 3, 10, 0, 0, 400_000, tzinfo=UTC))


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory, clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sf-objects"), seed=20, org=PLUGIN_ORG, clock=clock) as box:
        yield box


def connector_for(sb: Sandbox, session_id: str | None = None) -> SalesforceConnector:
    settings = SalesforceSettings(
        instance_url=sb.url,
        auth_method="session",  # type: ignore[call-arg]
        ca_bundle=str(sb.ca_file),
    )
    return connect(settings, {"PRESALES_SF_SESSION_ID": session_id or sb.session_id}, sleep=lambda _: None)


def sandbox_calls(sb: Sandbox) -> dict[str, int]:
    s = requests.Session()
    s.trust_env = False
    return dict(s.get(f"{sb.url}/_sandbox/stats", verify=str(sb.ca_file)).json()["calls"])


def people(sb: Sandbox) -> list[str]:
    """The sample org's sales reps (by id)."""
    s = requests.Session()
    s.trust_env = False
    r = s.get(
        f"{sb.url}/services/data/v66.0/query",
        verify=str(sb.ca_file),
        headers={"Authorization": f"Bearer {sb.session_id}"},
        params={"q": "SELECT Id FROM User WHERE Title = 'Account Executive' ORDER BY Id"},
    )
    return [str(rec["Id"]) for rec in r.json()["records"]]


@pytest.fixture(scope="module")
def installed(sb: Sandbox) -> SalesforceConnector:
    sf = connector_for(sb)
    sf.ensure_objects([DETAIL, SETTING_SPEC], assignees=people(sb)[:2])
    sf.ensure_fields(ACTION_FIELDS, assignees=people(sb)[:2])
    return sf


ACTION_FIELDS = [
    FieldSpec(ACTION, "Note__c", "Note", "LongText", length=32000),
    FieldSpec(ACTION, "Outcome__c", "Outcome", "Picklist", picklist_values=("Pending", "Applied", "Refused")),
    FieldSpec(ACTION, "Actor__c", "Actor", "Lookup", reference_to="User", relationship_name="Actor"),
    FieldSpec(ACTION, "Seq__c", "Seq", "Number", precision=6, scale=0),
    FieldSpec(ACTION, "Event_Time__c", "Event Time", "DateTime"),
]


def test_the_action_fields_are_in_place_after_one_run(installed: SalesforceConnector) -> None:
    assert [p.action for p in installed.plan_fields(ACTION_FIELDS)] == ["unchanged"] * len(ACTION_FIELDS)
    schema = installed.describe(ACTION)
    assert schema.fields["Note__c"].type == "textarea" and schema.fields["Note__c"].updateable
    assert schema.fields["Actor__c"].reference_to == ("User",)


def test_ensure_objects_twice_writes_nothing_the_second_time(
    sb: Sandbox, installed: SalesforceConnector
) -> None:
    before = sandbox_calls(sb)
    sf = connector_for(sb)
    plans = sf.ensure_objects([DETAIL, SETTING_SPEC], assignees=people(sb)[:2])
    assert [p.action for p in plans] == ["unchanged", "unchanged"]
    after = sandbox_calls(sb)
    written = {k: after.get(k, 0) - before.get(k, 0) for k in WRITES}
    assert written == dict.fromkeys(WRITES, 0)
    assert after["metadata"] - before["metadata"] == 1  # one readMetadata, no createMetadata
    assert sf.api_calls().get("metadata") == 1  # one readMetadata
    assert sf.describe(ACTION).fields["Ext_Id__c"].updateable


def test_upsert_twice_updates(sb: Sandbox, installed: SalesforceConnector) -> None:
    opp = next(installed.read_changed(object_name="Opportunity", fields=[], since=None)).records[0].id
    batch = [
        RecordUpsert(key=f"ev-{i}", fields={"Opportunity__c": opp, "Outcome__c": "Pending"}) for i in range(3)
    ]
    first = installed.upsert(object_name=ACTION, key_field="Ext_Id__c", records=batch)
    again = installed.upsert(object_name=ACTION, key_field="Ext_Id__c", records=batch)
    assert all(r.ok for r in first + again)
    assert [r.id for r in first] == [r.id for r in again]
    found = [
        r
        for page in installed.read_changed(object_name=ACTION, fields=["Ext_Id__c"], since=None)
        for r in page.records
        if str(r.fields["Ext_Id__c"]).startswith("ev-")
    ]
    assert len(found) == 3


def test_org_setting_round_trip(installed: SalesforceConnector) -> None:
    assert installed.org_setting("Store_Owner", container=SETTING) is None
    installed.set_org_setting("Store_Owner", "store-1", container=SETTING)
    installed.set_org_setting("Store_Owner", "store-2", container=SETTING)
    assert installed.org_setting("Store_Owner", container=SETTING) == "store-2"


def test_a_person_creates_an_action_and_the_sync_reads_it(
    sb: Sandbox, installed: SalesforceConnector, clock: ManualClock
) -> None:
    person = people(sb)[0]
    opp = next(installed.read_changed(object_name="Opportunity", fields=[], since=None)).records[1].id
    clock.advance(30)
    since = datetime.fromtimestamp(clock.now(), UTC) - timedelta(seconds=1)
    s = requests.Session()
    s.trust_env = False
    made = s.post(
        f"{sb.url}/services/data/v66.0/sobjects/{ACTION}",
        verify=str(sb.ca_file),
        headers={"Authorization": f"Bearer {sb.session_for(person)}"},
        json={"Opportunity__c": opp, "Note__c": "please review"},
    )
    assert made.status_code == 201, made.text
    pages = list(
        installed.read_changed(
            object_name=ACTION,
            since=since,
            fields=["CreatedById", "CreatedDate", "Opportunity__c", "Note__c"],
        )
    )
    (rec,) = [r for p in pages for r in p.records]
    assert rec.id == made.json()["id"] and rec.fields["CreatedById"] == person
    expected = datetime.fromtimestamp(int(clock.now()), UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert rec.fields["CreatedDate"] == expected and rec.stamp.microsecond == 0
    results = installed.write(object_name=ACTION, changes=[RecordChange(rec.id, {"Outcome__c": "Applied"})])
    assert results[0].ok
    # someone without the permission set cannot create one
    outsider = people(sb)[3]
    refused = s.post(
        f"{sb.url}/services/data/v66.0/sobjects/{ACTION}",
        verify=str(sb.ca_file),
        headers={"Authorization": f"Bearer {sb.session_for(outsider)}"},
        json={"Opportunity__c": opp},
    )
    assert refused.status_code == 404


def test_remove_objects_against_the_sandbox(sb: Sandbox) -> None:
    sf = connector_for(sb)
    spec = ObjectSpec(name="Scratch_Setting__c", label="Scratch", plural_label="Scratches", kind="setting")
    sf.ensure_objects([spec])
    sf.remove_objects(["Scratch_Setting__c", "Never_There__c"])
    assert sf.ensure_objects([spec], dry_run=True)[0].action == "create"


def test_an_org_seeded_installed_needs_only_the_permissions(tmp_path_factory: pytest.TempPathFactory) -> None:
    from presales_sync.sandbox import CustomField, CustomObject

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
        ),
        CustomObject(
            name=SETTING, label="Presales Setting", plural_label="Presales Settings", kind="setting"
        ),
    )
    key = CustomField(
        object=ACTION, name="Ext_Id__c", label="Ext Id", type="Text", length=80, external_id=True
    )
    org = dataclasses.replace(PLUGIN_ORG, objects=objects, fields=(*PLUGIN_ORG.fields, key))
    with Sandbox(tmp_path_factory.mktemp("sf-seeded"), seed=5, org=org) as box:
        sf = connector_for(box)
        assert [p.action for p in sf.ensure_objects([DETAIL, SETTING_SPEC])] == ["unchanged", "unchanged"]
        assert "createMetadata" not in str(sf.api_calls())
        before = sandbox_calls(box)
        connector_for(box).ensure_objects([DETAIL, SETTING_SPEC])
        after = sandbox_calls(box)
        assert {k: after.get(k, 0) - before.get(k, 0) for k in WRITES} == dict.fromkeys(WRITES, 0)
        assert sf.describe(ACTION).fields["Ext_Id__c"].name == "Ext_Id__c"
