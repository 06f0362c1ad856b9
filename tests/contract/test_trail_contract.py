"""The connector contract for the audit trail, the same for both adapters against the
sandbox: upserts by external id never duplicate, a batch repeating a key is refused before it
is sent, an org setting round-trips, installing the objects again changes nothing, and action
records read back carry the CRM's own creator and creation time."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from crm_fixture import Crm

from presales_sync.connector import ConfigError, ObjectSpec, RecordUpsert

#: Per CRM: the action object, its parent field, its key field, the plugin's event kind field,
#: its creator and creation-time fields; the org setting's container.
NAMES = {
    "salesforce": ("Presales_Action__c", "Opportunity__c", "Ext_Id__c", "Kind__c", "CreatedById",
                   "CreatedDate", "Presales_Setting__c"),
    "zoho": ("Presales_Actions", "Deal", "Ext_Id", "Kind", "Created_By", "Created_Time", "General"),
}


def _spec(crm: Crm) -> ObjectSpec:
    obj, parent, key, *_ = NAMES[crm.kind]
    return ObjectSpec(name=obj, label="Presales Action", plural_label="Presales Actions", kind="detail",
                      parent=crm.object, parent_field=parent, parent_label="Opportunity",
                      relationship_name="Presales_Actions", relationship_label="Presales Actions",
                      key_field=key, name_format="PA-{000000}")


def _opp(crm: Crm) -> str:
    return sorted(crm.stamps())[0]


def _keys(crm: Crm, connector: object) -> list[str]:
    obj, _, key, *_ = NAMES[crm.kind]
    pages = connector.read_changed(object_name=obj, fields=[key], since=None)  # type: ignore[attr-defined]
    return [r.fields.get(key) for page in pages for r in page.records if r.fields.get(key)]


def test_an_upsert_sent_twice_creates_each_record_once(crm: Crm) -> None:
    connector = crm.connect()
    obj, parent, key, kind, *_ = NAMES[crm.kind]
    tag = time.monotonic_ns()
    records = [RecordUpsert(f"contract-{tag}-{i}", {parent: _opp(crm), kind: "Created"}) for i in range(3)]
    first = connector.upsert(object_name=obj, key_field=key, records=records)
    again = connector.upsert(object_name=obj, key_field=key, records=records)  # the answer was lost
    assert all(r.ok for r in first) and all(r.ok for r in again), (first, again)
    assert [r.id for r in again] == [r.id for r in first]
    mine = [k for k in _keys(crm, connector) if k.startswith(f"contract-{tag}-")]
    assert sorted(mine) == sorted(r.key for r in records)


def test_an_upsert_that_repeats_a_key_is_refused_before_it_is_sent(crm: Crm) -> None:
    connector = crm.connect()
    obj, parent, key, kind, *_ = NAMES[crm.kind]
    connector.current_user()
    calls = sum(connector.api_calls().values())
    twice = [RecordUpsert("contract-twice", {parent: _opp(crm), kind: "Created"})] * 2
    with pytest.raises(ConfigError):
        connector.upsert(object_name=obj, key_field=key, records=twice)
    assert sum(connector.api_calls().values()) == calls


def test_an_org_setting_is_none_until_set_and_then_replaced(crm: Crm) -> None:
    connector = crm.connect()
    container = NAMES[crm.kind][-1]
    name = f"Contract_{crm.kind}_{time.monotonic_ns() % 10**9}"
    assert connector.org_setting(name, container=container) is None
    connector.set_org_setting(name, "first;host;2026-12-03", container=container)
    assert connector.org_setting(name, container=container) == "first;host;2026-12-03"
    connector.set_org_setting(name, "second", container=container)
    assert connector.org_setting(name, container=container) == "second"


def test_installing_the_action_object_again_changes_nothing(crm: Crm) -> None:
    connector = crm.connect()
    plans = connector.ensure_objects([_spec(crm)], dry_run=True)
    assert [(p.spec.name, p.action) for p in plans] == [(NAMES[crm.kind][0], "unchanged")]
    before = connector.describe(NAMES[crm.kind][0])
    again = connector.ensure_objects([_spec(crm)])
    assert [p.action for p in again] == ["unchanged"]
    assert connector.describe(NAMES[crm.kind][0]) == before


def test_an_action_record_reads_back_with_the_crms_own_creator_and_time(crm: Crm) -> None:
    connector = crm.connect()
    obj, parent, key, kind, created_by, created_at, _ = NAMES[crm.kind]
    (result,) = connector.upsert(object_name=obj, key_field=key,
                                 records=[RecordUpsert(f"contract-who-{time.monotonic_ns()}",
                                                       {parent: _opp(crm), kind: "Created"})])
    pages = connector.read_changed(object_name=obj, fields=[parent, created_by, created_at, key], since=None)
    (row,) = [r for page in pages for r in page.records if r.id == result.id]
    assert row.fields[parent] == _opp(crm)
    assert row.fields[created_by] == connector.current_user()
    stamp = datetime.fromisoformat(str(row.fields[created_at]).replace("+0000", "+00:00"))
    assert stamp.microsecond == 0 and stamp.tzinfo is not None
