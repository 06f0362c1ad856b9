"""A realistic, deterministic sample org: users, accounts, opportunities, and what the caller's
`OrgSeed` adds (custom fields, people, their field values, a roster file).

Everything comes from one ``random.Random(n)`` consumed in a fixed order — the seed's
callbacks draw from it too, at fixed points — and every timestamp is an offset from a
day-aligned anchor, so the same N gives the same org (ids included) in any data dir: tests
can compare two sandboxes, and a bug report can name a record id that the reader's sandbox
also has.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from presales_sync.sandbox.core._clock import utcnow
from presales_sync.sandbox.core._seed import OrgSeed, SeededPerson
from presales_sync.sandbox.salesforce._catalog import INDUSTRIES, STAGES, default_objects
from presales_sync.sandbox.salesforce._objects import kind_of, seed_objects
from presales_sync.sandbox.salesforce._store import Store
from presales_sync.sandbox.salesforce._values import dt_to_ms, make_id, whole_second

ORG_ID = make_id("00D", 4_200_000)
DAY_MS = 86_400_000
#: The serials (the number inside a User id) the sample org's own users take: a seed's
#: people must use others.
INTEGRATION_SERIAL = 1_000_001
REP_SERIAL = 1_000_010
_REPS = (
    "Emma Clark",
    "Noah Turner",
    "Olivia Reed",
    "Liam Foster",
    "Ava Brooks",
    "Mason Hayes",
    "Sophia Price",
    "Lucas Bennett",
)
_PROBABILITY = dict(zip(STAGES, (10, 10, 20, 50, 60, 70, 75, 90, 100, 0), strict=True))
_STAGE_WEIGHTS = (14, 12, 11, 10, 9, 8, 9, 7, 11, 9)
_ACCOUNT_A = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Wonka",
    "Aperture",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Nakatomi",
    "Pied Piper",
    "Dunder",
    "Sirius",
)
_ACCOUNT_B = (
    "Bank",
    "Power",
    "Retail",
    "Health",
    "Telecom",
    "Logistics",
    "Motors",
    "Foods",
    "Systems",
    "Capital",
    "Energy",
    "Airlines",
    "Pharma",
    "Steel",
    "Media",
)
_ACCOUNT_C = ("Group", "Holdings", "Ltd", "Co.", "Inc.", "Corp.")
_PRODUCTS = (
    "Data Platform",
    "Cloud Migration",
    "Core Banking Upgrade",
    "Network Refresh",
    "ERP Rollout",
    "Security Audit",
    "Analytics Suite",
    "IoT Pilot",
    "Contact Center",
    "Disaster Recovery",
    "AI Assistant",
    "Storage Expansion",
)


@dataclass(frozen=True)
class SeedResult:
    org_id: str
    integration_user_id: str
    integration_username: str


def anchor_for(now: datetime) -> datetime:
    """The seeding anchor: the start of ``now``'s UTC day (stable across a day's runs)."""
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def _user(
    uid: str,
    first: str,
    last: str,
    anchor_ms: int,
    rng: random.Random,
    *,
    title: str,
    department: str,
    username: str,
    manager: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    created = whole_second(anchor_ms - rng.randint(300, 700) * DAY_MS + rng.randint(0, DAY_MS - 1))
    return {
        "Id": uid,
        "Username": username,
        "Name": name or f"{first} {last}".strip(),
        "FirstName": first or None,
        "LastName": last,
        "Email": username,
        "Title": title,
        "Department": department,
        "IsActive": 1,
        "ManagerId": manager,
        "CreatedDate": created,
        "CreatedById": None,
        "LastModifiedDate": created,
        "LastModifiedById": None,
        "SystemModstamp": created,
    }


def seed_org(store: Store, n: int, anchor: datetime, org: OrgSeed, roster_file: Path) -> SeedResult:
    """Create the schema and N opportunities, write the roster; one transaction. When the
    seed's fields are not `installed`, the values its `opportunity_values` gave are kept in
    meta `pending_values` ([id, owner, {field: value}]) for a demo to replay."""
    rng = random.Random(n)
    store.install_objects(default_objects(org.fields if org.installed else ()))
    if org.installed and org.objects:
        custom = seed_objects(org, store.objects.values())
        store.install_objects(obj for obj, _ in custom)
        with store.transaction() as db:  # open to everyone (acl 0), like seeded fields
            for obj, definition in custom:
                db.execute("INSERT OR REPLACE INTO _md_objects VALUES (?, ?, 0, ?)",
                           (obj.name, kind_of(definition), json.dumps(definition)))
    pending: list[list[Any]] = []
    objs = store.objects
    anchor_ms = dt_to_ms(anchor)
    domain = org.email_domain
    integration_id = make_id("005", INTEGRATION_SERIAL)
    integration_username = f"integration@{domain}"
    ids = {p.key: make_id("005", p.serial) for p in org.people}
    taken = {INTEGRATION_SERIAL, *range(REP_SERIAL, REP_SERIAL + len(_REPS))}
    clash = [p.key for p in org.people if p.serial in taken]
    if clash or len(set(ids.values())) != len(ids):
        raise ValueError(f"seed people need serials of their own: {clash or sorted(ids)}")

    # Every user in serial order (their random draws in that order), each as a maker of its row.
    makers: list[tuple[int, Any]] = [(INTEGRATION_SERIAL, lambda: _user(
        integration_id, org.integration_first_name, "Integration", anchor_ms, rng,
        title="Integration User", department="IT", username=integration_username))]
    rep_ids: list[str] = []
    for i, full in enumerate(_REPS):
        first, last = full.split(" ")
        uid = make_id("005", REP_SERIAL + i)
        rep_ids.append(uid)
        makers.append((REP_SERIAL + i, lambda uid=uid, first=first, last=last: _user(
            uid, first, last, anchor_ms, rng, title="Account Executive", department="Sales",
            username=f"{first.lower()}.{last.lower()}@{domain}")))
    seeded: dict[str, SeededPerson] = {}
    for person in org.people:
        def make(person: Any = person) -> dict[str, Any]:
            first, last = person.first_name, person.last_name
            row = _user(ids[person.key], first, last, anchor_ms, rng, title=person.title,
                        department=person.department, username=f"{first.lower()}.{last.lower()}@{domain}",
                        manager=ids[person.manager] if person.manager else None, name=person.full_name)
            drawn = dict(person.draw(rng)) if person.draw is not None else {}
            seeded[person.key] = SeededPerson(person.key, row["Id"], row["ManagerId"], row["Name"], drawn)
            return row
        makers.append((person.serial, make))
    users = [make_row() for _, make_row in sorted(makers, key=lambda m: m[0])]
    people = [seeded[p.key] for p in org.people]
    for u in users:
        u["CreatedById"] = u["LastModifiedById"] = integration_id

    accounts: list[dict[str, Any]] = []
    for i in range(max(1, n // 10)):
        created = whole_second(anchor_ms - rng.randint(91, 900) * DAY_MS + rng.randint(0, DAY_MS - 1))
        owner = rng.choice(rep_ids)
        accounts.append(
            {
                "Id": make_id("001", 2_000_000 + i),
                "IsDeleted": 0,
                "Name": f"{rng.choice(_ACCOUNT_A)} {rng.choice(_ACCOUNT_B)} {rng.choice(_ACCOUNT_C)}",
                "Industry": rng.choice(INDUSTRIES),
                "OwnerId": owner,
                "CreatedDate": created,
                "CreatedById": owner,
                "LastModifiedDate": created,
                "LastModifiedById": owner,
                "SystemModstamp": created,
            }
        )
    # A checkbox is never null: a seeded record the seed gave no value has it unticked.
    unticked = {obj: {f.name: 0 for f in org.fields_of(obj) if f.type == "Checkbox"} if org.installed else {}
                for obj in ("Opportunity", "Account", "User")}
    for u in users:
        u.update({k: v for k, v in unticked["User"].items() if k not in u})
    for a in accounts:
        a.update({k: v for k, v in unticked["Account"].items() if k not in a})

    def opportunities() -> Any:
        anchor_day = anchor.date()
        for i in range(n):
            account = rng.choice(accounts)
            stage = rng.choices(STAGES, weights=_STAGE_WEIGHTS)[0]
            closed = stage in ("Closed Won", "Closed Lost")
            amount = round(math.exp(rng.uniform(math.log(10_000), math.log(5_000_000))), -2)
            created = whole_second(anchor_ms - rng.randint(0, 90 * DAY_MS - 1))
            modified = whole_second(created + rng.randint(0, anchor_ms - created - 1))
            close_offset = -rng.randint(0, 90) if closed else rng.randint(1, 180)
            owner = account["OwnerId"] if rng.random() < 0.8 else rng.choice(rep_ids)
            row: dict[str, Any] = {
                "Id": make_id("006", 3_000_000 + i),
                "IsDeleted": 0,
                "AccountId": account["Id"],
                "StageName": stage,
                "Amount": amount,
                "Probability": _PROBABILITY[stage],
                "CloseDate": (anchor_day + timedelta(days=close_offset)).isoformat(),
                "IsClosed": int(closed),
                "IsWon": int(stage == "Closed Won"),
                "OwnerId": owner,
                "CreatedDate": created,
                "CreatedById": owner,
                "LastModifiedDate": modified,
                "LastModifiedById": owner,
                "SystemModstamp": modified,
            }
            values = dict(org.opportunity_values(row, rng)) if org.opportunity_values is not None else {}
            row["Name"] = f"{account['Name']} - {rng.choice(_PRODUCTS)}"  # drawn after the seed's values
            if org.installed:
                row.update(unticked["Opportunity"])
                row.update({k: int(v) if isinstance(v, bool) else v for k, v in values.items()})
            elif values:
                pending.append([row["Id"], owner, values])
            yield row

    with store.transaction() as db:
        store.insert_rows(db, objs["user"], users)
        store.insert_rows(db, objs["account"], accounts)
        store.insert_rows(db, objs["opportunity"], opportunities())
        store.set_meta(db, "pending_values", json.dumps(pending))
        store.set_meta(db, "people", json.dumps([_person_json(p) for p in people]))
        store.set_meta(db, "seed", str(n))
        store.set_meta(db, "anchor", anchor.isoformat())
        store.set_meta(db, "org_id", ORG_ID)
        store.set_meta(db, "company", org.company)
        store.set_meta(db, "integration_user_id", integration_id)
        store.set_meta(db, "integration_username", integration_username)
        store.set_meta(db, "seeded", utcnow(store.clock).date().isoformat())
    if org.roster is not None:
        roster_file.write_text(org.roster(people, "salesforce"), encoding="utf-8")
    return SeedResult(ORG_ID, integration_id, integration_username)


def _person_json(p: SeededPerson) -> dict[str, Any]:
    return {"key": p.key, "user_id": p.user_id, "manager_id": p.manager_id, "name": p.name,
            "attributes": dict(p.attributes)}


def seeded_people(store: Store) -> list[SeededPerson]:
    """The seed's people as the seeder recorded them (Salesforce ids), in seed order."""
    return [SeededPerson(d["key"], d["user_id"], d["manager_id"], d["name"], d["attributes"])
            for d in json.loads(store.meta("people") or "[]")]
