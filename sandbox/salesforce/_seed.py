"""A realistic, deterministic org: users, accounts, opportunities, and the engineer roster.

Everything comes from one ``random.Random(n)`` consumed in a fixed order, and every
timestamp is an offset from a day-aligned anchor, so the same N gives the same org (ids
included) in any data dir: tests can compare two sandboxes, and a bug report can name a
record id that the reader's sandbox also has.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from presales_sync.sandbox.core._clock import utcnow
from presales_sync.sandbox.salesforce._catalog import INDUSTRIES, PRIORITIES, STAGES, default_objects
from presales_sync.sandbox.salesforce._store import Store
from presales_sync.sandbox.salesforce._values import dt_to_ms, make_id, whole_second

ORG_ID = make_id("00D", 4_200_000)
DAY_MS = 86_400_000
LEVELS = ("junior", "intermediate", "senior", "expert")
SKILLS = ("cloud", "database", "network", "security", "analytics", "erp", "iot", "ai", "devops", "storage")
_ENGINEERS = (
    "Li Wei",
    "Zhang Min",
    "Wang Fang",
    "Liu Yang",
    "Chen Jing",
    "Yang Lei",
    "Zhao Qiang",
    "Huang Mei",
    "Zhou Tao",
    "Wu Xia",
    "Xu Hao",
    "Sun Li",
)
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


def seed_org(store: Store, n: int, anchor: datetime, roster_file: Path, *,
             plugin_fields: bool = True) -> SeedResult:
    """Create the schema and N opportunities, write the roster; one transaction. Without
    `plugin_fields` the org predates the install: the opportunities that would ask for
    presales are kept in meta `presales_requests` (id, owner, priority) for a demo to replay."""
    rng = random.Random(n)
    store.install_objects(default_objects(plugin_fields=plugin_fields))
    pending: list[list[str]] = []
    objs = store.objects
    anchor_ms = dt_to_ms(anchor)
    domain = "presales-sandbox.example.com"

    users: list[dict[str, Any]] = []
    integration_id = make_id("005", 1_000_001)
    integration_username = f"integration@{domain}"
    users.append(
        _user(
            integration_id,
            "Presales",
            "Integration",
            anchor_ms,
            rng,
            title="Integration User",
            department="IT",
            username=integration_username,
        )
    )
    manager_id = make_id("005", 1_000_002)
    users.append(
        _user(
            manager_id,
            "Gao",
            "Yan",
            anchor_ms,
            rng,
            title="Presales Manager",
            department="Presales",
            username=f"gao.yan@{domain}",
        )
    )
    rep_ids: list[str] = []
    for i, full in enumerate(_REPS):
        first, last = full.split(" ")
        uid = make_id("005", 1_000_010 + i)
        rep_ids.append(uid)
        users.append(
            _user(
                uid,
                first,
                last,
                anchor_ms,
                rng,
                title="Account Executive",
                department="Sales",
                username=f"{first.lower()}.{last.lower()}@{domain}",
            )
        )
    roster: list[dict[str, Any]] = []
    for i, full in enumerate(_ENGINEERS):
        level = LEVELS[i // 3]
        last, first = full.split(" ")  # family name first, as written
        uid = make_id("005", 1_000_100 + i)
        title = f"{level.capitalize()} Presales Engineer"
        users.append(
            _user(
                uid,
                first,
                last,
                anchor_ms,
                rng,
                title=title,
                department="Presales",
                username=f"{first.lower()}.{last.lower()}@{domain}",
                manager=manager_id,
                name=full,
            )
        )
        roster.append(
            {
                "crm_user_id": uid,
                "name": full,
                "level": level,
                "reviewer": level in ("senior", "expert"),
                "skills": sorted(rng.sample(SKILLS, 2 + i % 2)),
                "industries": sorted(rng.sample(INDUSTRIES, 1 + i % 3), key=INDUSTRIES.index),
                "capacity": {"junior": 10, "intermediate": 12, "senior": 14, "expert": 14}[level],
                "active": i != 1,  # one engineer is off the roster (on leave): skipping gets exercised
                "manager": manager_id,
            }
        )
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
            requested = (not closed) and rng.random() < 0.1
            priority = rng.choices(PRIORITIES, weights=(2, 5, 3))[0] if requested else None
            row = {
                "Id": make_id("006", 3_000_000 + i),
                "IsDeleted": 0,
                "AccountId": account["Id"],
                "Name": f"{account['Name']} - {rng.choice(_PRODUCTS)}",
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
                "Presales_Requested__c": int(requested),
                "Presales_Priority__c": priority,
                "Presales_Recognition__c": 0,
            }
            if not plugin_fields:
                del row["Presales_Requested__c"], row["Presales_Priority__c"], row["Presales_Recognition__c"]
                if requested:
                    pending.append([row["Id"], owner, priority or "P2"])
            yield row

    with store.transaction() as db:
        store.insert_rows(db, objs["user"], users)
        store.insert_rows(db, objs["account"], accounts)
        store.insert_rows(db, objs["opportunity"], opportunities())
        store.set_meta(db, "presales_requests", json.dumps(pending))
        store.set_meta(db, "seed", str(n))
        store.set_meta(db, "anchor", anchor.isoformat())
        store.set_meta(db, "org_id", ORG_ID)
        store.set_meta(db, "integration_user_id", integration_id)
        store.set_meta(db, "integration_username", integration_username)
        store.set_meta(db, "seeded", utcnow(store.clock).date().isoformat())
    roster_file.write_text(
        "# Presales engineers of the sandbox org (generated at seed time; edit freely).\n"
        + yaml.safe_dump({"engineers": roster, "managers": [manager_id]}, sort_keys=False,
                         allow_unicode=True, default_flow_style=None),
        encoding="utf-8",
    )
    return SeedResult(ORG_ID, integration_id, integration_username)
