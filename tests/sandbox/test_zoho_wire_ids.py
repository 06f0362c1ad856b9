"""Record ids in Zoho writes, over HTTPS: Zoho takes ``{"data": [{"id": 4150868000000225013}]}``
(the id as a JSON number) as well as the id as a string, and answers with ``details.id`` as a
string either way; so does the sandbox, for records, users and injected row locks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from sandbox_seed import PLUGIN_ORG
from test_zoho_http import Zoho
from zoho_schema import validate

from presales_sync.sandbox import Sandbox, parse_spec


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("ids"), seed=30, org=PLUGIN_ORG) as sb:
        yield sb


def put(z: Zoho, path: str, rows: list[dict[str, Any]], key: str = "data") -> Any:
    """A PUT as raw JSON: numbers stay numbers (the request schema wants strings)."""
    body: dict[str, Any] = {key: rows, "trigger": []} if key == "data" else {key: rows}
    return z.call("PUT", path, json=body)


def deal_ids(z: Zoho, n: int) -> list[str]:
    return [d["id"] for d in z.deals(per_page=n).json()["data"]]


def test_a_record_id_as_a_json_number_is_taken_and_answered_as_a_string(box: Sandbox) -> None:
    z = Zoho(box)
    first, second = deal_ids(z, 2)
    resp = put(z, "Deals", [{"id": int(first), "Amount": 1234.5}, {"id": second, "Amount": 99.0}])
    assert resp.status_code == 200, resp.text
    validate("records_put_response", resp.json())
    assert [r["details"]["id"] for r in resp.json()["data"]] == [first, second]
    assert all(isinstance(r["details"]["id"], str) for r in resp.json()["data"])
    got = z.call("GET", f"Deals/{first}", params={"fields": "Amount"}).json()["data"][0]
    assert got["Amount"] == 1234.5 and got["id"] == first


@pytest.mark.parametrize("bad", [4150868000000225013, True, 1.5, {"id": "1"}, [1]])
def test_what_is_no_known_id_is_refused_per_record(box: Sandbox, bad: Any) -> None:
    z = Zoho(box)
    (known,) = deal_ids(z, 1)
    resp = put(z, "Deals", [{"id": bad, "Amount": 1.0}, {"id": int(known), "Amount": 2.0}])
    assert resp.status_code == 207, resp.text
    refused, done = resp.json()["data"]
    assert refused["code"] == "INVALID_DATA" and refused["message"] == "the id given seems to be invalid"
    assert refused["details"] == {"api_name": "id", "json_path": "$.data[0].id"}
    assert done["status"] == "success" and done["details"]["id"] == known
    alone = put(z, "Deals", [{"id": bad, "Amount": 1.0}])
    assert alone.status_code == 400 and alone.json()["data"][0]["code"] == "INVALID_DATA"


def test_users_and_row_locks_take_numeric_ids_too(box: Sandbox) -> None:
    z = Zoho(box)
    engineer = yaml.safe_load(box.zoho_roster_file.read_text())["engineers"][0]["crm_user_id"]
    resp = put(z, "users", [{"id": int(engineer), "Presales_KPI_Period": "2026Q4"}], key="users")
    assert resp.status_code == 200, resp.text
    assert resp.json()["users"][0]["details"] == {"id": engineer}
    (locked,) = deal_ids(z, 1)
    box.faults.set(parse_spec(f"lock_row:crm=zoho,records={locked}"))
    try:
        resp = put(z, "Deals", [{"id": int(locked), "Amount": 3.0}])
    finally:
        box.faults.set(())
    assert resp.status_code == 400 and resp.json()["data"][0]["code"] == "RECORD_LOCKED"
