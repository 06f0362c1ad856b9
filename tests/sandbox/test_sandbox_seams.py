"""The sandbox's two seams, each with a case that shows it can fail: the clock every stamp and
expiry reads (`ManualClock` moves only when told), and the seed data a caller hands in (a
sandbox given none is a bare sample org: no custom fields, no people of the caller's, no roster)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sandbox_seed import PLUGIN_ORG

from presales_sync.sandbox import CustomField, ManualClock, OrgSeed, Person, Sandbox

V = "66.0"
NOON = datetime(2026, 11, 20, 12, 0, 0, 250_000, tzinfo=UTC)


def http(sb: Sandbox) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = str(sb.ca_file)
    s.headers["Authorization"] = f"Bearer {sb.session_id}"
    return s


def test_a_manual_clock_moves_only_forward_and_when_told() -> None:
    clock = ManualClock(NOON)
    assert clock.now() == NOON.timestamp() == clock.now()
    assert clock.advance(90) == NOON.timestamp() + 90
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="forward"):
        clock.set(NOON)
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2026, 1, 1))


def test_writes_are_stamped_by_the_sandbox_clock(tmp_path: Path) -> None:
    clock = ManualClock(NOON)
    with Sandbox(tmp_path / "sb", seed=20, org=PLUGIN_ORG, clock=clock) as sb:
        api = http(sb)
        base = f"{sb.url}/services/data/v{V}"
        opp = api.get(f"{base}/query", params={"q": "SELECT Id FROM Opportunity LIMIT 1"},
                      timeout=30).json()["records"][0]["Id"]

        def write_and_stamp(amount: int) -> str:
            resp = api.patch(f"{base}/sobjects/Opportunity/{opp}", json={"Amount": amount}, timeout=30)
            assert resp.status_code == 204, resp.text
            got = api.get(f"{base}/sobjects/Opportunity/{opp}", timeout=30).json()
            return str(got["SystemModstamp"])

        assert write_and_stamp(1) == "2026-11-20T12:00:00.000+0000"  # whole seconds, as a real org
        clock.advance(3600)
        assert write_and_stamp(2) == "2026-11-20T13:00:00.000+0000"
        assert write_and_stamp(3) == "2026-11-20T13:00:00.000+0000"  # the clock did not move


def test_without_seed_data_the_org_is_a_bare_sample_org(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "bare", seed=20) as sb:
        api = http(sb)
        base = f"{sb.url}/services/data/v{V}"
        for obj in ("Opportunity", "User", "Account"):
            fields = api.get(f"{base}/sobjects/{obj}/describe", timeout=30).json()["fields"]
            assert [f["name"] for f in fields if f["custom"]] == []
        users = api.get(f"{base}/query", params={"q": "SELECT Name, Title FROM User"}, timeout=30).json()
        assert {u["Title"] for u in users["records"]} == {"Integration User", "Account Executive"}
        assert not sb.roster_file.exists() and not sb.zoho_roster_file.exists()
        assert sb.pending_values() == [] and sb.zoho_pending_values() == []


def test_seed_data_reaches_both_crms(tmp_path: Path) -> None:
    """A caller's own field, person and values show in Salesforce and in Zoho; a person on
    a serial the sample org uses is refused."""
    org = OrgSeed(
        fields=(CustomField("Opportunity", "Flag__c", "Flag", "Checkbox"),
                CustomField("Opportunity", "Tier__c", "Tier", "Picklist", values=("A", "B"),
                            restricted=True)),
        people=(Person("boss", "Ada", "Byron", "Director", "Research", serial=2_000_001),),
        opportunity_values=lambda row, rng: {"Tier__c": "A"} if row["Id"].endswith("A") else {},
        roster=lambda people, crm: f"{crm}: {[p.user_id for p in people]}\n",
    )
    with Sandbox(tmp_path / "own", seed=40, org=org) as sb:
        api = http(sb)
        base = f"{sb.url}/services/data/v{V}"
        described = api.get(f"{base}/sobjects/Opportunity/describe", timeout=30).json()["fields"]
        fields = {f["name"]: f for f in described}
        assert fields["Tier__c"]["restrictedPicklist"] and not fields["Flag__c"]["nillable"]
        flags = api.get(f"{base}/query", params={"q": "SELECT Flag__c FROM Opportunity"}, timeout=30).json()
        assert {r["Flag__c"] for r in flags["records"]} == {False}  # a checkbox is never null
        boss = api.get(f"{base}/query", params={"q": "SELECT Id FROM User WHERE Title = 'Director'"},
                       timeout=30).json()["records"][0]["Id"]
        assert sb.roster_file.read_text() == f"salesforce: ['{boss}']\n"
        assert sb.zoho_roster_file.read_text().startswith("zoho: ['5725767")
    clash = OrgSeed(people=(Person("x", "A", "B", "T", "D", serial=1_000_001),))
    with pytest.raises(ValueError, match="serials"):
        Sandbox(tmp_path / "clash", seed=5, org=clash).start()


def test_a_half_seeded_database_is_seeded_again_and_a_whole_one_reused(tmp_path: Path) -> None:
    from presales_sync.sandbox.salesforce._store import Store

    data = tmp_path / "half"
    data.mkdir()
    Store(data / "sandbox.db").close()  # created, never seeded: as if the first start died
    with Sandbox(data, seed=10, org=PLUGIN_ORG) as sb:
        session, integration = sb.session_id, sb.integration_user_id
        assert integration.startswith("005")
    with Sandbox(data, seed=10, org=PLUGIN_ORG) as again:
        assert (again.session_id, again.integration_user_id) == (session, integration)
