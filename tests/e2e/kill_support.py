"""The kill loop's cast: the people of the org acting through each CRM's own API (sales reps
tick a field, engineers, reviewers and the presales manager add action records), what they
see of the deals and the action records, the ledger of what they did, and the store read back
after a run was killed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
import yaml

from presales_sync.sandbox import Sandbox
from presales_sync.sync.store import schema

#: Field names per CRM (the default mappings): domain name → API name.
FIELDS = {
    "salesforce": {"requested": "Presales_Requested__c", "priority": "Presales_Priority__c",
                   "engineer": "Presales_Engineer__c", "step": "Presales_Step__c",
                   "status": "Presales_Status__c"},
    "zoho": {"requested": "Presales_Requested", "priority": "Presales_Priority",
             "engineer": "Presales_Engineer", "step": "Presales_Step", "status": "Presales_Status"},
}
#: The action object per CRM and its fields the loop reads (Salesforce name → the CRM's).
ACTION_OBJECT = {"salesforce": "Presales_Action__c", "zoho": "Presales_Actions"}
ACTION_FIELDS = {
    "salesforce": {"opp": "Opportunity__c", "command": "Action__c", "new_engineer": "New_Engineer__c",
                   "outcome": "Outcome__c", "key": "Ext_Id__c", "by": "CreatedById"},
    "zoho": {"opp": "Deal", "command": "Action", "new_engineer": "New_Engineer", "outcome": "Outcome",
             "key": "Ext_Id", "by": "Created_By"},
}
#: Calls that change records, per the sandbox's stats families.
WRITE_FAMILIES = ("composite_sobjects", "sobject_patch", "sobject_post", "bulk_ingest", "zoho_records_put",
                  "zoho_upsert_post", "zoho_variables_post", "zoho_variables_put")
_ZOHO_CLOSED = ("Closed Won", "Closed Lost", "Closed Lost to Competition")
_ZOHO_FIELDS = "Owner,Stage,Modified_Time,Presales_Requested,Presales_Engineer,Presales_Step,Presales_Status"


@dataclass(frozen=True)
class Deal:
    """One opportunity as the people of the org see it in the CRM."""

    id: str
    owner: str
    closed: bool
    requested: bool
    engineer: str | None
    step: str | None
    status: str | None
    stamp: datetime


@dataclass(frozen=True)
class Command:
    """What a person did in the CRM, and at which iteration."""

    iteration: int
    record_id: str  # the deal
    actor: str
    value: str  # "Sign Off", "Review Pass" or, for a reassignment, the new engineer's id
    step: str | None  # the step the CRM showed
    action_id: str | None = None  # the action record it made (a request is a field)


@dataclass(frozen=True)
class ActionView:
    """An action record as the CRM holds it."""

    id: str
    opportunity_id: str | None
    command: str | None
    outcome: str | None
    key: str | None
    created_by: str | None


@dataclass
class Ledger:
    """What the people did, for the assertions after the final clean run."""

    requests: list[Command] = field(default_factory=list)
    signoffs: list[Command] = field(default_factory=list)
    reviews: list[Command] = field(default_factory=list)
    reassignments: list[Command] = field(default_factory=list)

    def actions(self) -> list[Command]:
        """Everything done with an action record, in order."""
        return sorted((*self.signoffs, *self.reviews, *self.reassignments), key=lambda c: c.iteration)


def _stamp(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("+0000", "+00:00").replace("Z", "+00:00")).astimezone(UTC)


def _user_id(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


class People:
    """The org's people editing deals as themselves, through one CRM's API."""

    def __init__(self, sb: Sandbox, crm: str) -> None:
        self.sb, self.crm, self.f = sb, crm, FIELDS[crm]
        roster = yaml.safe_load(Path(sb.zoho_roster_file if crm == "zoho" else sb.roster_file).read_text())
        self.engineers = [e for e in roster["engineers"] if e["active"]]
        self.reviewers = [e["crm_user_id"] for e in self.engineers if e["reviewer"]]
        self.manager: str = roster["managers"][0]
        self.active = {e["crm_user_id"] for e in self.engineers}
        self.requested_ids: set[str] = set()

    def _http(self, token: str) -> requests.Session:
        """A session as the token's user; used in a `with` block, so that no idle keep-alive
        connection holds a sandbox thread (see `quiesce`)."""
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
        s.verify = str(self.sb.ca_file)
        s.headers["Authorization"] = (f"Zoho-oauthtoken {token}" if self.crm == "zoho" else f"Bearer {token}")
        return s

    # -- what people see ----------------------------------------------------------------
    def all_deals(self) -> dict[str, Deal]:
        deals = self._read(None)
        self.requested_ids = {d.id for d in deals.values() if d.requested}
        return deals

    def requested_deals(self) -> dict[str, Deal]:
        return self._read(sorted(self.requested_ids))

    def deals(self, ids: Iterable[str]) -> dict[str, Deal]:
        return self._read(sorted(set(ids)))

    def _read(self, ids: Sequence[str] | None) -> dict[str, Deal]:
        if self.crm == "zoho":
            return {d.id: d for d in self._zoho_read(ids)}
        return {d.id: d for d in self._sf_read(ids)}

    def _sf_read(self, ids: Sequence[str] | None) -> Iterable[Deal]:
        f = self.f
        soql = (f"SELECT Id, OwnerId, IsClosed, SystemModstamp, {f['requested']}, {f['engineer']}, "
                f"{f['step']}, {f['status']} FROM Opportunity")
        chunks: Iterable[Sequence[str] | None] = [None] if ids is None else (
            ids[i:i + 300] for i in range(0, len(ids), 300))
        with self._http(self.sb.session_id) as http:
            yield from self._sf_pages(http, soql, chunks)

    def _sf_pages(self, http: requests.Session, soql: str,
                  chunks: Iterable[Sequence[str] | None]) -> Iterable[Deal]:
        f = self.f
        for chunk in chunks:
            where = "" if chunk is None else " WHERE Id IN (" + ", ".join(f"'{i}'" for i in chunk) + ")"
            body = http.get(f"{self.sb.url}/services/data/v66.0/query", params={"q": soql + where},
                            timeout=60).json()
            while True:
                for r in body["records"]:
                    yield Deal(r["Id"], r["OwnerId"], bool(r["IsClosed"]), bool(r[f["requested"]]),
                               r[f["engineer"]], r[f["step"]], r[f["status"]], _stamp(r["SystemModstamp"]))
                if body["done"]:
                    break
                body = http.get(self.sb.url + body["nextRecordsUrl"], timeout=60).json()

    def _zoho_read(self, ids: Sequence[str] | None) -> Iterable[Deal]:
        with self._http(self.sb.zoho_token_for(self.sb.zoho_integration_user_id)) as http:
            yield from self._zoho_pages(http, ids)

    def _zoho_pages(self, http: requests.Session, ids: Sequence[str] | None) -> Iterable[Deal]:
        url = f"{self.sb.zoho_api_domain}/crm/v8/Deals"
        fields = _ZOHO_FIELDS
        if ids is not None:
            for i in range(0, len(ids), 100):
                resp = http.get(url, params={"fields": fields, "ids": ",".join(ids[i:i + 100])}, timeout=60)
                yield from (self._zoho_deal(r) for r in resp.json().get("data", []))
            return
        params: dict[str, Any] = {"fields": fields, "per_page": 200, "page": 1}
        while True:
            resp = http.get(url, params=params, timeout=60)
            if resp.status_code == 204:
                return
            body = resp.json()
            yield from (self._zoho_deal(r) for r in body["data"])
            if not body["info"]["more_records"]:
                return
            token = body["info"].get("next_page_token")
            params = ({"fields": fields, "per_page": 200, "page_token": token} if token
                      else {**params, "page": params["page"] + 1})

    def _zoho_deal(self, r: dict[str, Any]) -> Deal:
        f = self.f
        return Deal(r["id"], _user_id(r["Owner"]) or "", r["Stage"] in _ZOHO_CLOSED, bool(r[f["requested"]]),
                    _user_id(r[f["engineer"]]), r[f["step"]], r[f["status"]], _stamp(r["Modified_Time"]))

    # -- what people do -------------------------------------------------------------------
    def edit(self, user_id: str, record_id: str, fields: dict[str, Any]) -> None:
        """`user_id` edits one deal in the CRM (named by domain field names)."""
        wire = {self.f[k]: v for k, v in fields.items()}
        if self.crm == "zoho":
            if "Presales_Engineer" in wire:
                wire["Presales_Engineer"] = {"id": wire["Presales_Engineer"]}
            # as a person in Zoho's UI: their own token, no "trigger" key
            with self._http(self.sb.zoho_token_for(user_id)) as http:
                resp = http.put(f"{self.sb.zoho_api_domain}/crm/v8/Deals",
                                json={"data": [{"id": record_id, **wire}]}, timeout=60)
            assert resp.status_code == 200 and resp.json()["data"][0]["code"] == "SUCCESS", resp.text
        else:
            with self._http(self.sb.session_for(user_id)) as http:
                resp = http.patch(f"{self.sb.url}/services/data/v66.0/sobjects/Opportunity/{record_id}",
                                  json=wire, timeout=60)
            assert resp.status_code == 204, resp.text
        if fields.get("requested"):
            self.requested_ids.add(record_id)

    def act(self, user_id: str, opp_id: str, command: str, new_engineer: str | None = None) -> str:
        """`user_id` adds an action record to a deal; the record's id."""
        a = ACTION_FIELDS[self.crm]
        if self.crm == "zoho":
            row: dict[str, Any] = {a["opp"]: {"id": opp_id}, a["command"]: command}
            if new_engineer:
                row[a["new_engineer"]] = {"id": new_engineer}
            with self._http(self.sb.zoho_token_for(user_id)) as http:
                resp = http.post(f"{self.sb.zoho_api_domain}/crm/v8/Presales_Actions", json={"data": [row]},
                                 timeout=60)
            assert resp.status_code == 201, resp.text
            return str(resp.json()["data"][0]["details"]["id"])
        body: dict[str, Any] = {a["opp"]: opp_id, a["command"]: command}
        if new_engineer:
            body[a["new_engineer"]] = new_engineer
        with self._http(self.sb.session_for(user_id)) as http:
            resp = http.post(f"{self.sb.url}/services/data/v66.0/sobjects/Presales_Action__c", json=body,
                             timeout=60)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def actions(self) -> dict[str, ActionView]:
        """Every action record of the org (people's and the plugin's event records)."""
        a = ACTION_FIELDS[self.crm]
        out: dict[str, ActionView] = {}
        if self.crm == "zoho":
            params: dict[str, Any] = {"fields": ",".join(a.values()), "per_page": 200, "page": 1}
            with self._http(self.sb.zoho_token_for(self.sb.zoho_integration_user_id)) as http:
                while True:
                    resp = http.get(f"{self.sb.zoho_api_domain}/crm/v8/Presales_Actions", params=params,
                                    timeout=60)
                    if resp.status_code == 204:
                        return out
                    body = resp.json()
                    for r in body["data"]:
                        out[r["id"]] = ActionView(r["id"], _user_id(r.get(a["opp"])), r.get(a["command"]),
                                                  r.get(a["outcome"]), r.get(a["key"]),
                                                  _user_id(r.get(a["by"])))
                    if not body["info"]["more_records"]:
                        return out
                    token = body["info"].get("next_page_token")
                    params = ({"fields": params["fields"], "per_page": 200, "page_token": token} if token
                              else {**params, "page": params["page"] + 1})
        soql = f"SELECT Id, {', '.join(a.values())} FROM Presales_Action__c"
        with self._http(self.sb.session_id) as http:
            body = http.get(f"{self.sb.url}/services/data/v66.0/query", params={"q": soql}, timeout=60).json()
            while True:
                for r in body["records"]:
                    out[r["Id"]] = ActionView(r["Id"], r[a["opp"]], r[a["command"]], r[a["outcome"]],
                                              r[a["key"]], r[a["by"]])
                if body["done"]:
                    return out
                body = http.get(self.sb.url + body["nextRecordsUrl"], timeout=60).json()

    # -- the sandbox's side ----------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        with self._http(self.sb.session_id) as http:
            return dict(http.get(f"{self.sb.url}/_sandbox/stats", timeout=10).json()["calls"])

    def reset_stats(self) -> None:
        with self._http(self.sb.session_id) as http:
            http.post(f"{self.sb.url}/_sandbox/stats/reset", timeout=10).raise_for_status()


def quiesce(timeout: float = 20.0) -> None:
    """Wait until the sandbox (in this process) has finished every request in flight: a killed
    client's last request is still carried out, and a person's edit must not race with it."""
    deadline = time.monotonic() + timeout
    while any("process_request" in t.name for t in threading.enumerate()):
        if time.monotonic() > deadline:
            raise AssertionError("the sandbox still serves a request after the client was killed")
        time.sleep(0.02)


def write_calls(stats: dict[str, int]) -> int:
    return sum(n for family, n in stats.items() if family.startswith(WRITE_FAMILIES))


@dataclass(frozen=True)
class StoreView:
    """The store as a killed run left it."""

    runs: int
    last_started: datetime | None  # the latest run's start (its logical `now`)
    last_finished: bool  # the latest run was recorded as finished
    cursor: datetime | None
    stamps: dict[str, datetime]
    taken: frozenset[str]  # action records the store took up
    written: frozenset[str]  # … whose outcome it knows the CRM holds


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC))


def store_view(db: Path, ids: Iterable[str]) -> StoreView:
    """Runs, the deals' cursor, for `ids` the stored stamps (absent: never read), and the action
    records taken up; an absent store (a run killed before it created one) is an empty one."""
    empty = StoreView(0, None, False, None, {}, frozenset(), frozenset())
    if not db.exists():
        return empty
    ids = list(ids)
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("actions"):
                return empty
            runs = conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar_one()
            last = conn.execute(sa.select(schema.runs.c.started_at, schema.runs.c.finished_at)
                                .order_by(schema.runs.c.id.desc()).limit(1)).first()
            cursor = conn.execute(sa.select(sa.func.max(schema.cursors.c.stamp))
                                  .where(schema.cursors.c.object.in_(("Opportunity", "Deals")))).scalar_one()
            opp, act = schema.opportunities, schema.actions
            stamps = {r.crm_id: _aware(r.stamp) for r in conn.execute(
                sa.select(opp.c.crm_id, opp.c.stamp).where(opp.c.crm_id.in_(ids)))}
            actions = list(conn.execute(sa.select(act.c.crm_id, act.c.written)))
    finally:
        engine.dispose()
    return StoreView(runs, _aware(last.started_at) if last else None, bool(last and last.finished_at),
                     _aware(cursor), stamps, frozenset(r.crm_id for r in actions),  # type: ignore[arg-type]
                     frozenset(r.crm_id for r in actions if r.written))


def final_store(db: Path) -> tuple[dict[str, Any], list[Any], int, int]:
    """Tasks by opportunity id, every event row, write failures and run locks left (and every
    action taken up is written back: none waits)."""
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            tasks = {r.opportunity_id: r for r in conn.execute(sa.select(schema.tasks))}
            task_count = conn.execute(sa.select(sa.func.count()).select_from(schema.tasks)).scalar_one()
            assert task_count == len(tasks), "two tasks for one opportunity"
            events = list(conn.execute(sa.select(schema.task_events).order_by(
                schema.task_events.c.task_id, schema.task_events.c.seq)))
            failures, locks = (conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                               for table in (schema.write_failures, schema.run_locks))
            unwritten = conn.execute(sa.select(sa.func.count()).select_from(schema.actions)
                                     .where(schema.actions.c.written.is_(False))).scalar_one()
            unmirrored = conn.execute(sa.select(sa.func.count()).select_from(schema.task_events)
                                      .where(schema.task_events.c.mirrored.is_(False))).scalar_one()
            assert (unwritten, unmirrored) == (0, 0), "the CRM lacks outcomes or events the store owes it"
    finally:
        engine.dispose()
    return tasks, events, failures, locks
