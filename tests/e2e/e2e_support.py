"""End-to-end fixtures: a real sandbox over HTTPS on a free loopback port, and the real
`presales` command run as a subprocess against it.

`org` is the sandbox's Salesforce side; `crm_org` is parametrised over both CRMs (the same
seeded org under the Salesforce and the Zoho API), so a test written against it runs once per
CRM. Tests name the plugin's fields by their Salesforce names (``Presales_Step__c``);
`Org.f` gives the CRM's own name and `Org.deals` reads every opportunity in that vocabulary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sandbox_seed import PLUGIN_ORG

from presales_sync.sandbox import Sandbox

PRESALES = str(Path(sys.executable).parent / "presales")


CRMS = ("salesforce", "zoho")
#: Per CRM, the sandbox's endpoint family of record writes (people's and the connector's).
WRITE_FAMILY = {"salesforce": "composite_sobjects", "zoho": "zoho_records_put"}
#: Per CRM, every endpoint family that changes records (the deals', the audit trail's, settings).
ALL_WRITES = {"salesforce": ("composite_sobjects", "sobject_patch", "sobject_post", "sobject_delete",
                             "bulk_ingest"),
              "zoho": ("zoho_records_put", "zoho_records_post", "zoho_records_delete", "zoho_upsert_post",
                       "zoho_variables_post", "zoho_variables_put")}
#: Per CRM, the most records one write call takes.
WRITE_BATCH = {"salesforce": 200, "zoho": 100}
ZOHO_CLOSED = frozenset({"Closed Won", "Closed Lost", "Closed Lost to Competition"})
#: Salesforce standard fields `Org.deals` returns, and where they come from in Zoho.
ZOHO_STANDARD = {"Name": "Deal_Name", "IsClosed": "Stage", "Amount": "Amount", "AccountId": "Account_Name",
                 "OwnerId": "Owner", "StageName": "Stage"}
PLUGIN_FIELDS = ("Presales_Requested__c", "Presales_Priority__c", "Presales_Engineer__c", "Presales_Step__c",
                 "Presales_Status__c", "Presales_Due_Date__c", "Presales_Response_Due__c",
                 "Presales_Health__c", "Presales_Message__c")
#: The action records' object per CRM, and the fields `Org.actions` returns (Salesforce names).
ACTIONS = {"salesforce": "Presales_Action__c", "zoho": "Presales_Actions"}
ACTION_FIELDS = ("Opportunity__c", "Action__c", "Note__c", "New_Engineer__c", "Outcome__c", "Reason__c",
                 "Kind__c", "Seq__c", "Ext_Id__c", "Event_Time__c", "Actor__c", "Engineer__c",
                 "Step_Before__c", "Step_After__c", "Status_Before__c", "Status_After__c", "Result__c")
_ZOHO_SYSTEM = {"CreatedById": "Created_By", "CreatedDate": "Created_Time", "Opportunity__c": "Deal"}


def crm_settings(sb: Sandbox, crm: str) -> dict[str, Any]:
    """The config's `crm:` section for the sandbox's Salesforce or Zoho side."""
    if crm == "zoho":
        return {"kind": "zoho", "accounts_url": sb.zoho_accounts_url, "ca_bundle": str(sb.ca_file)}
    return {"kind": "salesforce", "instance_url": sb.url, "api_version": "66.0",
            "auth": {"method": "session"}, "ca_bundle": str(sb.ca_file)}


def crm_env(sb: Sandbox, crm: str) -> dict[str, str]:
    """The integration user's secrets for the sandbox's Salesforce or Zoho side."""
    if crm == "zoho":
        return {"PRESALES_ZOHO_CLIENT_ID": sb.zoho_client_id,
                "PRESALES_ZOHO_CLIENT_SECRET": sb.zoho_client_secret,
                "PRESALES_ZOHO_REFRESH_TOKEN": sb.zoho_refresh_token}
    return {"PRESALES_SF_SESSION_ID": sb.session_id}


@dataclass
class Org:
    """A handle on the sandbox for assertions: reads and writes as any user, call stats.
    `crm` says which side of the sandbox the test drives."""

    sb: Sandbox
    crm: str = "salesforce"
    token_cache: Path | None = None

    # -- the CRM's names, secrets and config ------------------------------------------------

    def f(self, name: str) -> str:
        """The CRM's API name of a plugin field given by its Salesforce name."""
        return name.removesuffix("__c") if self.crm == "zoho" else name

    @property
    def object(self) -> str:
        return "Deals" if self.crm == "zoho" else "Opportunity"

    @property
    def env(self) -> dict[str, str]:
        """The integration user's secrets."""
        return crm_env(self.sb, self.crm)

    @property
    def integration_user_id(self) -> str:
        return self.sb.zoho_integration_user_id if self.crm == "zoho" else self.sb.integration_user_id

    def config(self, directory: Path, *, keep_trail: bool = False, **overrides: Any) -> Path:
        """A config file for this CRM (Zoho runs of one module share one token cache, as one
        cron job's runs do: Zoho mints at most 10 tokens per 10 minutes). Its store is new, so
        unless `keep_trail` the org forgets the stores before it (`forget_stores`): each test
        starts on the org as a first installation would."""
        crm = crm_settings(self.sb, self.crm)
        if self.crm == "zoho" and self.token_cache is not None:
            crm["token_cache"] = str(self.token_cache)
        return write_config(directory, self.sb, keep_trail=keep_trail,
                            **{"crm": crm, "roster": str(self.roster_file), **overrides})

    @property
    def roster_file(self) -> Path:
        return Path(self.sb.zoho_roster_file if self.crm == "zoho" else self.sb.roster_file)

    def write_calls(self) -> int:
        """Record-write calls since the last `reset_stats`."""
        return self.stats().get(WRITE_FAMILY[self.crm], 0)

    def all_write_calls(self) -> int:
        """Calls of any kind that change the org since the last `reset_stats`."""
        return sum(n for family, n in self.stats().items() if family.startswith(ALL_WRITES[self.crm]))

    # -- reading and editing the org ----------------------------------------------------------

    def deals(self, fields: tuple[str, ...] = PLUGIN_FIELDS) -> dict[str, dict[str, Any]]:
        """Every opportunity by id: ``Id``, the standard fields of `ZOHO_STANDARD` and
        `fields`, keyed by their Salesforce names (a Zoho lookup as its id, IsClosed from Stage)."""
        if self.crm != "zoho":
            names = ", ".join(("Id", *ZOHO_STANDARD, *fields))
            return {r["Id"]: r for r in self.query(f"SELECT {names} FROM Opportunity ORDER BY Id")}
        wire = {**ZOHO_STANDARD, **{name: self.f(name) for name in fields}}
        s = self.zoho_http()
        out: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
            resp = s.get(f"{self.sb.zoho_api_domain}/crm/v8/Deals", timeout=30, params={
                "fields": ",".join(dict.fromkeys(wire.values())), "per_page": 200, "page": page})
            if resp.status_code == 204:
                return out
            resp.raise_for_status()
            body = resp.json()
            for raw in body["data"]:
                row: dict[str, Any] = {"Id": raw["id"]}
                for sf_name, name in wire.items():
                    value = raw.get(name)
                    row[sf_name] = value.get("id") if isinstance(value, dict) else value
                row["IsClosed"] = raw.get("Stage") in ZOHO_CLOSED
                out[raw["id"]] = row
            if not body["info"]["more_records"]:
                return out
            page += 1
            assert page <= 10, "e2e orgs stay under Zoho's 2,000-record page reach"

    def zoho_http(self, user_id: str | None = None) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify= below
        s.verify = str(self.sb.ca_file)
        token = self.sb.zoho_token_for(user_id or self.sb.zoho_integration_user_id)
        s.headers["Authorization"] = f"Zoho-oauthtoken {token}"
        return s

    def field_names(self) -> dict[str, dict[str, Any]]:
        """The opportunity's fields as the CRM describes them, by API name."""
        if self.crm == "zoho":
            resp = self.zoho_http().get(f"{self.sb.zoho_api_domain}/crm/v8/settings/fields",
                                        params={"module": "Deals"}, timeout=30)
            resp.raise_for_status()
            return {f["api_name"]: f for f in resp.json()["fields"]}
        resp = self.http().get(f"{self.sb.url}/services/data/v66.0/sobjects/Opportunity/describe", timeout=30)
        resp.raise_for_status()
        return {f["name"]: f for f in resp.json()["fields"]}

    def edit(self, user_id: str, record_id: str, fields: dict[str, Any]) -> None:
        """A person edits an opportunity in the CRM (fields by their Salesforce names)."""
        if self.crm != "zoho":
            self.set_fields(user_id, record_id, fields)
            return
        row = {"id": record_id, **{self.f(k): ({"id": v} if k == "Presales_Engineer__c" and v else v)
                                   for k, v in fields.items()}}
        resp = self.zoho_http(user_id).put(f"{self.sb.zoho_api_domain}/crm/v8/Deals", json={"data": [row]},
                                           timeout=30)
        assert resp.status_code == 200, resp.text

    def forget_stores(self) -> None:
        """Delete the plugin's audit trail and org marker (both CRMs' sides of the sandbox):
        what an org looks like to a store when no store synced it before."""
        try:
            self._forget_stores()
        except requests.HTTPError as err:  # the plugin was uninstalled: nothing to forget
            assert err.response is not None and err.response.status_code in (400, 404), err

    def _forget_stores(self) -> None:
        if self.crm == "zoho":
            s = self.zoho_http()
            ids = list(self.actions())
            for i in range(0, len(ids), 100):
                resp = s.delete(f"{self.sb.zoho_api_domain}/crm/v8/Presales_Actions",
                                params={"ids": ",".join(ids[i:i + 100])}, timeout=30)
                assert resp.status_code in (200, 207), resp.text
            resp = s.get(f"{self.sb.zoho_api_domain}/crm/v8/settings/variables", timeout=30)
            for var in (resp.json().get("variables", []) if resp.status_code == 200 else []):
                if var.get("api_name") == "Presales_Store_Owner":
                    s.delete(f"{self.sb.zoho_api_domain}/crm/v8/settings/variables/{var['id']}",
                             timeout=30).raise_for_status()
            return
        s = self.http()
        for obj in ("Presales_Action__c", "Presales_Setting__c"):
            for row in self.query(f"SELECT Id FROM {obj}"):
                resp = s.delete(f"{self.sb.url}/services/data/v66.0/sobjects/{obj}/{row['Id']}", timeout=30)
                assert resp.status_code == 204, resp.text

    def act(self, user_id: str, opp_id: str, command: str, *, note: str | None = None,
            new_engineer: str | None = None) -> str:
        """A person adds an action record to a deal (the deal's related list in the CRM):
        the new record's id."""
        fields: dict[str, Any] = {"Opportunity__c": opp_id, "Action__c": command}
        if note is not None:
            fields["Note__c"] = note
        if new_engineer is not None:
            fields["New_Engineer__c"] = new_engineer
        if self.crm != "zoho":
            resp = self.http(self.sb.session_for(user_id)).post(
                f"{self.sb.url}/services/data/v66.0/sobjects/Presales_Action__c", json=fields, timeout=30)
            assert resp.status_code == 201, resp.text
            return str(resp.json()["id"])
        refs = ("Opportunity__c", "New_Engineer__c")
        row = {_ZOHO_SYSTEM.get(k, self.f(k)): ({"id": v} if k in refs else v) for k, v in fields.items()}
        resp = self.zoho_http(user_id).post(f"{self.sb.zoho_api_domain}/crm/v8/Presales_Actions",
                                            json={"data": [row]}, timeout=30)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["data"][0]["details"]["id"])

    def actions(self) -> dict[str, dict[str, Any]]:
        """Every action record by id, its fields by their Salesforce names (a Zoho lookup as its
        id; ``CreatedById``, ``CreatedDate`` and ``CreatedBy.Name`` for the CRM's own)."""
        if self.crm != "zoho":
            names = ", ".join(("Id", "CreatedById", "CreatedBy.Name", "CreatedDate", *ACTION_FIELDS))
            rows = self.query(f"SELECT {names} FROM Presales_Action__c ORDER BY CreatedDate, Id")
            return {r["Id"]: {**r, "CreatedBy.Name": (r.get("CreatedBy") or {}).get("Name")} for r in rows}
        wire = {**{k: self.f(k) for k in ACTION_FIELDS}, **_ZOHO_SYSTEM}
        s = self.zoho_http()
        out: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
            resp = s.get(f"{self.sb.zoho_api_domain}/crm/v8/Presales_Actions", timeout=30, params={
                "fields": ",".join(dict.fromkeys(wire.values())), "per_page": 200, "page": page,
                "sort_by": "Created_Time", "sort_order": "asc"})
            if resp.status_code == 204:
                return out
            resp.raise_for_status()
            body = resp.json()
            for raw in body["data"]:
                row: dict[str, Any] = {"Id": raw["id"]}
                for sf_name, name in wire.items():
                    value = raw.get(name)
                    row[sf_name] = value.get("id") if isinstance(value, dict) else value
                creator = raw.get("Created_By")
                row["CreatedBy.Name"] = creator.get("name") if isinstance(creator, dict) else None
                out[raw["id"]] = row
            if not body["info"]["more_records"]:
                return out
            page += 1

    def http(self, session_id: str | None = None) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify= below
        s.verify = str(self.sb.ca_file)
        s.headers["Authorization"] = f"Bearer {session_id or self.sb.session_id}"
        return s

    def query(self, soql: str) -> list[dict[str, Any]]:
        url = f"{self.sb.url}/services/data/v66.0/query"
        resp = self.http().get(url, params={"q": soql}, timeout=30)
        resp.raise_for_status()
        body = resp.json()
        records = body["records"]
        while not body["done"]:
            body = self.http().get(self.sb.url + body["nextRecordsUrl"], timeout=30).json()
            records += body["records"]
        return records

    def set_fields(self, user_id: str, record_id: str, fields: dict[str, Any]) -> None:
        """A person edits an opportunity in the CRM."""
        resp = self.http(self.sb.session_for(user_id)).patch(
            f"{self.sb.url}/services/data/v66.0/sobjects/Opportunity/{record_id}", json=fields, timeout=30)
        assert resp.status_code == 204, resp.text

    def stats(self) -> dict[str, int]:
        return self.http().get(f"{self.sb.url}/_sandbox/stats", timeout=10).json()["calls"]

    def reset_stats(self) -> None:
        self.http().post(f"{self.sb.url}/_sandbox/stats/reset", timeout=10).raise_for_status()

    def roster(self) -> list[dict[str, Any]]:
        return yaml.safe_load(self.roster_file.read_text())["engineers"]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    sb = Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), port=0, seed=300, org=PLUGIN_ORG)
    sb.start()
    yield Org(sb)
    sb.stop()


@pytest.fixture
def fresh_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """A sandbox of this test's own (for tests that change the org in ways others must not see)."""
    sb = Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), port=0, seed=300, org=PLUGIN_ORG)
    sb.start()
    yield Org(sb)
    sb.stop()


#: Open opportunities asking for presales, with the step the plugin wrote.
OPEN_REQUESTED = ("SELECT Id, OwnerId, Name, Presales_Step__c FROM Opportunity "
                  "WHERE Presales_Requested__c = true AND IsClosed = false ORDER BY Id")


@pytest.fixture(scope="module", params=CRMS)
def crm_org(request: pytest.FixtureRequest, org: Org, tmp_path_factory: pytest.TempPathFactory) -> Org:
    """The module's sandbox driven through Salesforce or through Zoho (its Zoho side is the
    same seeded org in a store of its own)."""
    return Org(org.sb, crm=request.param, token_cache=tmp_path_factory.mktemp("zoho") / "token.json")


def write_config(directory: Path, sb: Sandbox, *, keep_trail: bool = False, **overrides: Any) -> Path:
    """A config file whose store is new in `directory`: unless `keep_trail`, the org forgets
    the stores before it (`Org.forget_stores`), so a test's store is the org's first, as each
    test's store always was before the org kept an audit trail and a marker of its own."""
    if not keep_trail:
        Org(sb, crm=(overrides.get("crm") or {}).get("kind", "salesforce")).forget_stores()
    cfg: dict[str, Any] = {
        "crm": {"kind": "salesforce", "instance_url": sb.url, "api_version": "66.0",
                "auth": {"method": "session"}, "ca_bundle": str(sb.ca_file)},
        "store": "sqlite:///presales.db",
        "roster": str(sb.roster_file),
        "timezone": "Asia/Shanghai",
    }
    cfg.update(overrides)
    path = directory / "presales.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def jwt_settings(sb: Sandbox) -> tuple[dict[str, Any], dict[str, str]]:
    """The `crm:` config section and the environment for JWT bearer login to the sandbox."""
    crm = {"kind": "salesforce", "instance_url": sb.url, "api_version": "66.0",
           "auth": {"method": "jwt", "login_url": sb.url}, "ca_bundle": str(sb.ca_file)}
    env = {"PRESALES_SF_USERNAME": sb.integration_username, "PRESALES_SF_CONSUMER_KEY": sb.consumer_key,
           "PRESALES_SF_PRIVATE_KEY_FILE": str(sb.private_key_file)}
    return crm, env


def write_rules(directory: Path, **overrides: Any) -> Path:
    """A copy of the shipped rules file with top-level keys replaced."""
    from presales_sync import rules
    data = yaml.safe_load((Path(rules.__file__).parent / "default.yaml").read_text(encoding="utf-8"))
    data.update(overrides)
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def presales(config: Path, *args: str, session_id: str | None = None, cwd: Path | None = None,
             extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRESALES_SF_", "PRESALES_ZOHO_"))}
    env.update(extra_env or {})
    if session_id is not None:
        env["PRESALES_SF_SESSION_ID"] = session_id
    return subprocess.run([PRESALES, "--config", str(config), *args], capture_output=True, text=True,
                          env=env, cwd=cwd or config.parent, timeout=300, check=False)


def run_json(config: Path, *args: str, session_id: str | None = None,
             extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = presales(config, "--json", *args, session_id=session_id, extra_env=extra_env)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)
