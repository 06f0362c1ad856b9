"""Zoho install details and what describe calls updateable, against `responses` stubs and
against the sandbox (which refuses what Zoho refuses):

* a Lookup to a module other than Users is created with ``lookup.display_label``, the label
  of the related list Zoho adds to that module (mandatory in Create Custom Fields);
* updateable is ``operation_type.api_update`` (when given) and not ``read_only``;
  ``field_read_only`` alone does not make a field read-only (Zoho lists ``Owner`` so)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from sandbox_seed import PLUGIN_ORG
from test_zoho_install import STANDARD, FakeZohoFields
from test_zoho_install import make as installer
from test_zoho_wire_full_read import crm
from zoho_schema import errors, validate

from presales_sync.connector.base import FieldSpec
from presales_sync.connector.zoho._adapter import updateable
from presales_sync.connector.zoho._install import definition
from presales_sync.sandbox import Sandbox

PARTNER = FieldSpec(object_name="Deals", name="Presales_Partner", label="Presales Partner", type="Lookup",
                    reference_to="Accounts")
ENGINEER = FieldSpec(object_name="Deals", name="Presales_Engineer", label="Presales Engineer", type="Lookup",
                     reference_to="User")


def test_a_lookup_to_a_module_names_its_related_list() -> None:
    assert definition(PARTNER) == {
        "field_label": "Presales Partner", "data_type": "lookup",
        "lookup": {"module": {"api_name": "Accounts"}, "display_label": "Presales Partner"}}
    assert definition(ENGINEER) == {"field_label": "Presales Engineer", "data_type": "userlookup"}
    validate("fields_post_request", {"fields": [definition(PARTNER), definition(ENGINEER)]})
    # the check can fail: Zoho's Create Custom Fields needs lookup.display_label
    bare = {**definition(PARTNER), "lookup": {"module": {"api_name": "Accounts"}}}
    assert errors("fields_post_request", {"fields": [bare]})


def test_the_installer_sends_it() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        zoho = FakeZohoFields(mock, STANDARD)
        # lookup.module takes the target's id too (OAS Minified_Module: api_name and id)
        mock.get("https://www.zohoapis.com/crm/v8/settings/modules/Accounts",
                 json={"modules": [{"api_name": "Accounts", "id": "5725767006000000002"}]})
        assert [p.action for p in installer().ensure_fields([PARTNER, ENGINEER])] == ["create", "create"]
    partner, engineer = zoho.posts[0]
    assert partner["lookup"] == {"module": {"api_name": "Accounts", "id": "5725767006000000002"},
                                 "display_label": "Presales Partner"}
    assert "lookup" not in engineer


@pytest.mark.parametrize("read_only, field_read_only, api_update, expected", [
    (False, True, True, True),  # Owner as Zoho lists it
    (False, False, True, True),
    (False, False, False, False),  # the API may not update it, though the UI may
    (True, False, True, False),
    (True, True, False, False),  # Modified_Time
    (False, True, None, True),  # api_update null (OAS Operation_type): read_only decides
    (True, False, None, False),
])
def test_updateable_is_api_update_and_not_read_only(read_only: bool, field_read_only: bool,
                                                    api_update: bool | None, expected: bool) -> None:
    raw = {"api_name": "Owner", "data_type": "ownerlookup", "read_only": read_only,
           "field_read_only": field_read_only, "operation_type": {"api_update": api_update}}
    assert updateable(raw) is expected


# -- against the sandbox ------------------------------------------------------------------


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("install"), seed=30, org=PLUGIN_ORG) as sb:
        yield sb


def test_a_lookup_to_accounts_is_installed_in_the_sandbox(box: Sandbox) -> None:
    connector = crm(box)
    plans = connector.ensure_fields([PARTNER])
    assert [p.action for p in plans] == ["create"]
    field = connector.describe("Deals").fields["Presales_Partner"]
    assert field.type == "reference" and field.reference_to == ("Accounts",)
    listed = {f["api_name"]: f for f in connector.fields_metadata("Deals")}
    assert listed["Presales_Partner"]["lookup"]["display_label"] == "Presales Partner"
    assert [p.action for p in crm(box).ensure_fields([PARTNER])] == ["unchanged"]


def test_owner_is_updateable_in_the_sandbox(box: Sandbox) -> None:
    fields = crm(box).describe("Deals").fields
    assert fields["Owner"].updateable
    assert not fields["Modified_Time"].updateable and not fields["Created_By"].updateable
