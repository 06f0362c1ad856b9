"""Field details of the sandbox's Zoho half that the installer and describe depend on, over
HTTPS: a Lookup to a module other than Users is refused without ``lookup.display_label``
(the label of the related list it adds to that module), as Zoho does; ``Owner`` is listed
as Zoho lists it, field_read_only yet written by the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sandbox_seed import PLUGIN_ORG
from test_zoho_http import Zoho
from zoho_schema import validate

from presales_sync.sandbox import Sandbox
from presales_sync.sandbox.zoho._fields import MODULE_IDS

#: lookup.module names the target by api_name and id (OAS Minified_Module requires both).
ACCOUNT_LOOKUP = {"field_label": "Partner Account", "data_type": "lookup",
                  "lookup": {"module": {"api_name": "Accounts", "id": MODULE_IDS["Accounts"]},
                             "display_label": "Partnered Deals"}}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("fields"), seed=30, org=PLUGIN_ORG) as sb:
        yield sb


def fields_of(z: Zoho) -> dict[str, dict[str, Any]]:
    listed = z.call("GET", "settings/fields", params={"module": "Deals"}).json()
    validate("fields_get_response", listed)
    return {f["api_name"]: f for f in listed["fields"]}


def test_a_lookup_without_its_related_list_label_is_refused(box: Sandbox) -> None:
    z = Zoho(box)
    bare = {**ACCOUNT_LOOKUP, "lookup": {"module": {"api_name": "Accounts"}}}
    users = {"field_label": "Second Engineer", "data_type": "userlookup"}  # Users need none
    resp = z.call("POST", "settings/fields", params={"module": "Deals"}, json={"fields": [bare, users]})
    assert resp.status_code == 207
    validate("fields_post_response", resp.json())
    refused, created = resp.json()["fields"]
    assert refused["code"] == "MANDATORY_NOT_FOUND" and refused["status"] == "error"
    assert refused["details"] == {"api_name": "display_label",
                                  "json_path": "$.fields[0].lookup.display_label"}
    assert created["status"] == "success"
    assert "Partner_Account" not in fields_of(z)
    blank = {**ACCOUNT_LOOKUP, "lookup": {**ACCOUNT_LOOKUP["lookup"], "display_label": " "}}
    resp = z.call("POST", "settings/fields", params={"module": "Deals"}, json={"fields": [blank]})
    assert resp.status_code == 400 and resp.json()["fields"][0]["code"] == "MANDATORY_NOT_FOUND"

    no_id = {**ACCOUNT_LOOKUP, "lookup": {**ACCOUNT_LOOKUP["lookup"], "module": {"api_name": "Accounts"}}}
    resp = z.call("POST", "settings/fields", params={"module": "Deals"}, json={"fields": [no_id]})
    assert resp.status_code == 400 and resp.json()["fields"][0]["details"]["json_path"] == (
        "$.fields[0].lookup.module.id")
    wrong = {**ACCOUNT_LOOKUP,
             "lookup": {**ACCOUNT_LOOKUP["lookup"], "module": {"api_name": "Accounts", "id": "1"}}}
    resp = z.call("POST", "settings/fields", params={"module": "Deals"}, json={"fields": [wrong]})
    assert resp.status_code == 400 and resp.json()["fields"][0]["code"] == "INVALID_DATA"

    resp = z.call("POST", "settings/fields", params={"module": "Deals"}, json={"fields": [ACCOUNT_LOOKUP]})
    assert resp.status_code == 201, resp.text
    lookup = fields_of(z)["Partner_Account"]["lookup"]
    assert lookup["display_label"] == "Partnered Deals" and lookup["module"]["api_name"] == "Accounts"


def test_owner_is_field_read_only_yet_written_by_the_api(box: Sandbox) -> None:
    z = Zoho(box)
    owner = fields_of(z)["Owner"]
    assert owner["field_read_only"] is True and owner["read_only"] is False
    assert owner["operation_type"]["api_update"] is True
    modified = fields_of(z)["Modified_Time"]
    assert modified["read_only"] is True and modified["operation_type"]["api_update"] is False
    deal = z.deals(per_page=1).json()["data"][0]
    other = next(u["id"] for u in z.call("GET", "users", params={"type": "ActiveUsers"}).json()["users"]
                 if u["id"] != deal["Owner"]["id"])
    resp = z.put("Deals", {"data": [{"id": deal["id"], "Owner": {"id": other}}], "trigger": []})
    assert resp.status_code == 200, resp.text
    again = z.call("GET", f"Deals/{deal['id']}", params={"fields": "Owner"}).json()["data"][0]
    assert again["Owner"]["id"] == other
