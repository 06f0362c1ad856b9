"""The CRM side of the connector contract suite: one sandbox, driven as Salesforce or as
Zoho CRM, and the adapter under test built against it.

This is the only file of tests/contract/ that imports the sandbox (the `SANDBOX` import
below): repoint that one line when the sandbox moves. Everything else goes through the
sandbox's public surface — the `Sandbox` constructor and properties, the CRMs' own wire
APIs (to edit, delete and read records as a person would, for the truth a read is checked
against) and the ``/_sandbox/...`` control endpoints (faults, stats, usage, credits)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sandbox_seed import PLUGIN_ORG

from presales_sync.connector import Connector, connect_salesforce, connect_zoho
from presales_sync.connector.salesforce import SalesforceSettings
from presales_sync.connector.zoho import ZohoSettings
from presales_sync.sandbox import Sandbox, ZohoLimits  # SANDBOX: the one import of the sandbox

CRMS = ("salesforce", "zoho")
#: Opportunities (Zoho: deals) of the contract org: past two Salesforce pages of 200.
RECORDS = 450
#: Salesforce's smallest query batch (``Sforce-Query-Options: batchSize``, 200..2000).
SF_PAGE = 200
#: Zoho's page lowered from 200 (`ZohoLimits.max_per_page`) so a read spans many pages cheaply;
#: at 40 a full read also goes past the tenth page, where the adapter turns from `page` to
#: `page_token` (it does so at 2,000 records of 200).
ZOHO_PAGE = 40
API = "/services/data/v66.0"
ZOHO_API = "/crm/v8"


class SteppingClock:
    """The sandbox's clock in the suite: the machine's time, which a test steps forward or
    holds still instead of sleeping until the CRM's whole-second stamps move on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._held: float | None = None

    def now(self) -> float:
        with self._lock:
            return self._held if self._held is not None else time.time() + self._offset

    def step(self, seconds: float) -> None:
        """Move forward by `seconds` at once."""
        with self._lock:
            self._offset += seconds

    @contextmanager
    def held_at_next_second(self) -> Iterator[None]:
        """Stand still just past the next whole second while the body runs (its edits share
        one stamp, shared with no earlier edit), then run on from there."""
        with self._lock:
            self._held = math.floor(time.time() + self._offset) + 1.01
        try:
            yield
        finally:
            with self._lock:
                assert self._held is not None
                self._offset = self._held - time.time()
                self._held = None


def start_sandbox(data_dir: Path) -> Sandbox:
    sb = Sandbox(data_dir, seed=RECORDS, org=PLUGIN_ORG, zoho_limits=ZohoLimits(max_per_page=ZOHO_PAGE),
                 clock=SteppingClock())
    sb.start()
    return sb


def _short_sleep(seconds: float) -> None:
    """Retry back-offs are the adapters' business: the suite does not wait them out, but
    keeps a Bulk job's polls a moment apart so the job can finish between them."""
    time.sleep(min(seconds, 0.05))


def _session(ca_file: Path, authorization: str) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify= below
    s.verify = str(ca_file)
    s.headers["Authorization"] = authorization
    return s


def _sf_id_suffix(id15: str) -> str:
    """Salesforce's 3-character case-safe suffix of a 15-character id."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    return "".join(alphabet[sum(1 << i for i, c in enumerate(id15[n : n + 5]) if c.isupper())]
                   for n in (0, 5, 10))


@dataclass
class Crm:
    """One CRM of the sandbox: how to connect the adapter, the CRM's names for the fields the
    suite uses, and what a person (or the CRM's admin) can do to the org meanwhile."""

    kind: str
    sb: Sandbox
    token_cache: Path

    @property
    def clock(self) -> SteppingClock:
        assert isinstance(self.sb.clock, SteppingClock)
        return self.sb.clock

    # -- the CRM's vocabulary ---------------------------------------------------------------

    @property
    def object(self) -> str:
        """The records object every test reads and writes."""
        return "Deals" if self.kind == "zoho" else "Opportunity"

    #: The people object; both adapters take the name sync/ uses for it.
    user_object = "User"

    def f(self, name: str) -> str:
        """The CRM's API name of a field named here in Salesforce's words."""
        if self.kind != "zoho":
            return name
        return {"Name": "Deal_Name"}.get(name, name.removesuffix("__c"))

    @property
    def read_fields(self) -> list[str]:
        return [self.f(n) for n in ("Name", "Amount", "Presales_Message__c", "Presales_Step__c")]

    @property
    def page_size(self) -> int:
        """Records one page of a read holds at most."""
        return ZOHO_PAGE if self.kind == "zoho" else SF_PAGE

    @property
    def write_call(self) -> int:
        """Records one record-write call of the CRM takes (sObject Collections / PUT)."""
        return 100 if self.kind == "zoho" else 200

    # -- the adapter under test -----------------------------------------------------------

    def connect(self, *, bulk_write_threshold: int | None = None, bulk_read_threshold: int | None = None,
                timeout: float | None = None, max_retries: int = 3, refreshable: bool = True) -> Connector:
        """The adapter, logged in as the integration user with credentials it can renew
        (Salesforce JWT bearer, Zoho refresh token) unless `refreshable` is False
        (Salesforce session id). The bulk thresholds lower Salesforce's switch to Bulk 2.0
        (Zoho has no such switch)."""
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        if self.kind == "zoho":
            env = {"PRESALES_ZOHO_CLIENT_ID": self.sb.zoho_client_id,
                   "PRESALES_ZOHO_CLIENT_SECRET": self.sb.zoho_client_secret,
                   "PRESALES_ZOHO_REFRESH_TOKEN": self.sb.zoho_refresh_token}
            # One token cache for the module, as one cron job's runs share one: Zoho mints at
            # most 10 access tokens per 10 minutes.
            zoho = ZohoSettings(accounts_url=self.sb.zoho_accounts_url, ca_bundle=str(self.sb.ca_file),
                                token_cache=self.token_cache, max_retries=max_retries, **extra)
            return connect_zoho(zoho, env, sleep=_short_sleep)
        if bulk_write_threshold is not None:
            extra["bulk_write_threshold"] = bulk_write_threshold
        if bulk_read_threshold is not None:
            extra["bulk_read_threshold"] = bulk_read_threshold
        if refreshable:
            auth: dict[str, Any] = {"auth_method": "jwt", "login_url": self.sb.url}
            env = {"PRESALES_SF_USERNAME": self.sb.integration_username,
                   "PRESALES_SF_CONSUMER_KEY": self.sb.consumer_key,
                   "PRESALES_SF_PRIVATE_KEY_FILE": str(self.sb.private_key_file)}
        else:
            auth, env = {"auth_method": "session"}, {"PRESALES_SF_SESSION_ID": self.sb.session_id}
        settings = SalesforceSettings(instance_url=self.sb.url, ca_bundle=str(self.sb.ca_file),
                                      page_size=SF_PAGE, max_retries=max_retries, **auth, **extra)
        return connect_salesforce(settings, env, sleep=_short_sleep)

    # -- the org as the CRM itself has it (raw wire calls, not the adapter) ------------------

    def _sf(self) -> requests.Session:
        return _session(self.sb.ca_file, f"Bearer {self.sb.session_id}")

    def _zoho(self) -> requests.Session:
        token = self.sb.zoho_token_for(self.sb.zoho_integration_user_id)
        return _session(self.sb.ca_file, f"Zoho-oauthtoken {token}")

    def _soql(self, soql: str) -> Iterator[dict[str, Any]]:
        s = self._sf()
        resp = s.get(f"{self.sb.url}{API}/query", params={"q": soql}, timeout=30)
        while True:
            resp.raise_for_status()
            body = resp.json()
            yield from body["records"]
            if body["done"]:
                return
            resp = s.get(self.sb.url + body["nextRecordsUrl"], timeout=30)

    def _zoho_rows(self, module: str, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        s = self._zoho()
        page = 1
        while True:
            params = {"fields": ",".join(fields), "per_page": ZOHO_PAGE, "page": page, "sort_by": "id"}
            resp = s.get(f"{self.sb.zoho_api_domain}{ZOHO_API}/{module}", params=params, timeout=30)
            if resp.status_code == 204:
                return
            resp.raise_for_status()
            body = resp.json()
            yield from body["data"]
            if not body["info"]["more_records"]:
                return
            page += 1

    def stamps(self) -> dict[str, datetime]:
        """Every record of `object` by id with its modification stamp, as the CRM has them."""
        if self.kind == "zoho":
            return {r["id"]: datetime.fromisoformat(r["Modified_Time"]).astimezone(UTC)
                    for r in self._zoho_rows("Deals", ["Modified_Time"])}
        return {r["Id"]: datetime.strptime(r["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
                for r in self._soql("SELECT Id, SystemModstamp FROM Opportunity")}

    def values(self, ids: Sequence[str], field: str) -> dict[str, Any]:
        """`field` (the CRM's name) of each record of `ids` that the CRM has, by id."""
        wanted = set(ids)
        if self.kind == "zoho":
            return {r["id"]: r.get(field) for r in self._zoho_rows("Deals", [field]) if r["id"] in wanted}
        quoted = ", ".join(f"'{i}'" for i in sorted(wanted))
        soql = f"SELECT Id, {field} FROM Opportunity WHERE Id IN ({quoted})"
        return {r["Id"]: r.get(field) for r in self._soql(soql)}

    def user_ids(self) -> list[str]:
        if self.kind == "zoho":
            resp = self._zoho().get(f"{self.sb.zoho_api_domain}{ZOHO_API}/users", params={"type": "AllUsers"},
                                    timeout=30)
            resp.raise_for_status()
            return sorted(u["id"] for u in resp.json()["users"])
        return sorted(r["Id"] for r in self._soql("SELECT Id FROM User"))

    def missing_user_id(self) -> str:
        """A well-formed user id that no user of the org has (a user gone from the CRM)."""
        taken = set(self.user_ids())
        model = sorted(taken)[0]
        if self.kind == "zoho":
            n = int(model)
            return next(str(n + k) for k in range(7, 10_000, 7) if str(n + k) not in taken)
        for digit in "987654321":
            # the last character of the 15 is part of the record number; a digit keeps the suffix
            id15 = model[:14] + digit
            candidate = id15 + _sf_id_suffix(id15)
            if candidate not in taken:
                return candidate
        raise AssertionError("no free user id")

    # -- what people and admins do in the CRM meanwhile ---------------------------------------

    def edit(self, ids: Sequence[str], fields: dict[str, Any]) -> None:
        """Set `fields` (the CRM's names) on records of `object` as a person would, in as few
        calls as the CRM takes: the records of one call share one modification stamp."""
        for start in range(0, len(ids), self.write_call):
            chunk = ids[start : start + self.write_call]
            if self.kind == "zoho":
                resp = self._zoho().put(f"{self.sb.zoho_api_domain}{ZOHO_API}/Deals", timeout=30,
                                        json={"data": [{"id": i, **fields} for i in chunk]})
                assert resp.status_code == 200, resp.text
                continue
            records = [{"attributes": {"type": "Opportunity"}, "id": i, **fields} for i in chunk]
            resp = self._sf().patch(f"{self.sb.url}{API}/composite/sobjects", timeout=30,
                                    json={"allOrNone": True, "records": records})
            resp.raise_for_status()
            assert all(r["success"] for r in resp.json()), resp.text

    def delete(self, record_id: str) -> None:
        """Delete a record of `object` in the CRM (to its recycle bin)."""
        if self.kind == "zoho":
            resp = self._zoho().delete(f"{self.sb.zoho_api_domain}{ZOHO_API}/Deals/{record_id}", timeout=30)
            assert resp.status_code == 200 and resp.json()["data"][0]["status"] == "success", resp.text
            return
        resp = self._sf().delete(f"{self.sb.url}{API}/sobjects/Opportunity/{record_id}", timeout=30)
        assert resp.status_code == 204, resp.text

    def delete_for_good(self, record_id: str) -> None:
        """Delete a record past the recycle bin. Salesforce: a Bulk API 2.0 ``hardDelete``
        job, after which no record has the id (writes answer INVALID_CROSS_REFERENCE_KEY, not
        ENTITY_IS_DELETED). Zoho's API deletes only to the recycle bin (emptying it is done
        in the UI), so there this is `delete`."""
        if self.kind == "zoho":
            self.delete(record_id)
            return
        s, jobs = self._sf(), f"{self.sb.url}{API}/jobs/ingest"
        resp = s.post(jobs, json={"object": "Opportunity", "operation": "hardDelete", "contentType": "CSV",
                                  "lineEnding": "LF"}, timeout=30)
        resp.raise_for_status()
        job = resp.json()["id"]
        resp = s.put(f"{jobs}/{job}/batches", data=f"Id\n{record_id}\n".encode(),
                     headers={"Content-Type": "text/csv"}, timeout=30)
        assert resp.status_code == 201, resp.text
        s.patch(f"{jobs}/{job}", json={"state": "UploadComplete"}, timeout=30).raise_for_status()
        self.sb.settle_bulk_jobs()
        info = s.get(f"{jobs}/{job}", timeout=30).json()
        assert (info["state"], info["numberRecordsFailed"]) == ("JobComplete", 0), info

    # -- the sandbox's control endpoints ------------------------------------------------------

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._sf().request(method, f"{self.sb.url}/_sandbox/{path}", timeout=10, **kwargs)
        resp.raise_for_status()
        return resp.json()

    def set_faults(self, spec: str) -> None:
        """A fault plan (`_faults` SPEC syntax) whose every rule applies to this CRM only."""
        rules = [f"{r}{',' if ':' in r else ':'}crm={self.kind}" for r in filter(None, spec.split(";"))]
        self._control("POST", "faults", data=";".join(rules).encode())

    def fault_kinds(self) -> list[str]:
        """Every fault kind the sandbox injects, as its control endpoint lists them when
        refusing one it does not know."""
        resp = self._sf().post(f"{self.sb.url}/_sandbox/faults", data=b"no_such_kind", timeout=10)
        assert resp.status_code == 400, resp.text
        text = resp.json()[0]["message"]
        return [k.strip() for k in text.split("expected one of:", 1)[1].split(",")]

    def faults_fired(self) -> list[int]:
        return [rule["fired"] for rule in self._control("GET", "faults")["faults"]]

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def exhaust_daily_limit(self) -> Callable[[], None]:
        """Spend the org's daily API allowance. Salesforce answers every call with its
        daily-limit refusal (403 REQUEST_LIMIT_EXCEEDED, the sandbox's ``rate_limit`` fault);
        Zoho's credits run out (429 with ``X-API-CREDITS-REMAINING: 0``). Returns the undo."""
        if self.kind == "zoho":
            total = self._control("GET", "zoho/credits")["total"]
            self._control("POST", "zoho/credits", json={"used": total})
            return lambda: self._control("POST", "zoho/credits", json={"used": 0})
        self.set_faults("rate_limit:times=0")
        return self.clear_faults


__all__ = ["CRMS", "Crm", "Sandbox", "start_sandbox"]
