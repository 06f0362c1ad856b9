"""The Zoho org: the same org as the Salesforce seed, in Zoho's shapes.

The Zoho side is built from the seeded Salesforce rows, so ``seed=N`` gives one org under
two APIs — the same deals, amounts, owners and the values the caller's seed gave its custom
fields — and an end-to-end test can run over both CRMs and expect the same outcome. The
caller's custom fields (`OrgSeed.fields`) appear as Zoho would create them, and its roster
is rendered again with Zoho's ids. Salesforce ids map one-to-one onto
Zoho's 19-digit numeric ids (the number inside the Salesforce id, added to an org base), so
the translation is deterministic and reversible in a debugging session.
"""

from __future__ import annotations

import json
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from presales_sync.sandbox.core._clock import utcnow
from presales_sync.sandbox.core._seed import OrgSeed, SeededPerson
from presales_sync.sandbox.salesforce._catalog import INDUSTRIES, FieldDef, field_def
from presales_sync.sandbox.salesforce._seed import seeded_people
from presales_sync.sandbox.salesforce._store import Store
from presales_sync.sandbox.zoho._store import Row, ZField, ZohoStore, derived_api_name

ZBASE = 5_725_767_000_000_000_000
_FIELD_BASE = ZBASE + 8_000_000_000
_DIGITS = {c: n for n, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")}
ORG_TIME_ZONE = "Asia/Shanghai"
_SF_USER_ID = re.compile(r"^005[A-Za-z0-9]{15}$")
#: Zoho's standard Deal stages; Salesforce stages the seed uses map onto them.
STAGES = (
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Identify Decision Makers",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
    "Closed Lost to Competition",
)
_STAGE_FROM_SF = {
    "Prospecting": "Qualification",
    "Id. Decision Makers": "Identify Decision Makers",
    "Perception Analysis": "Proposal/Price Quote",
}
ADMIN_PROFILE = {"name": "Administrator", "id": str(ZBASE + 7_000_000_001)}
STANDARD_PROFILE = {"name": "Standard", "id": str(ZBASE + 7_000_000_002)}
#: The sample org's roles by department; a seed person's other department is a role of its
#: own (`_role`).
_ROLES = {
    "IT": {"name": "CEO", "id": str(ZBASE + 7_000_000_101)},
    "Sales": {"name": "Sales Representative", "id": str(ZBASE + 7_000_000_103)},
}


def _role(department: str, others: list[str]) -> dict[str, str]:
    """The role of a user of ``department``; ``others`` are the departments, sorted, that
    are not the sample org's (ids 102, then 104 on, so the first keeps the id it always had)."""
    if department in _ROLES:
        return _ROLES[department]
    n = others.index(department)
    return {"name": department, "id": str(ZBASE + 7_000_000_000 + (102 if n == 0 else 103 + n))}


@lru_cache(maxsize=65_536)  # owners and accounts repeat: a seed of 100,000 deals decodes far fewer ids
def zoho_id(sf_id: str) -> str:
    """The Zoho id of a seeded Salesforce record: the org base plus the id's 9 base-62 digits."""
    number = 0
    for ch in sf_id[6:15]:
        number = number * 62 + _DIGITS[ch]
    return str(ZBASE + number)


def _f(api_name: str, label: str, data_type: str, n: int, **kw: Any) -> ZField:
    return ZField(api_name, label, data_type, str(_FIELD_BASE + n), **kw)


def _owner(label: str, n: int) -> ZField:
    """The record owner: the API writes it (read_only false, operation_type.api_update true)
    though Zoho lists it field_read_only, as answers recorded from real orgs show."""
    return _f(
        "Owner", label, "ownerlookup", n, system_mandatory=True, lookup_module="users", field_read_only=True
    )


def _system(start: int) -> list[ZField]:
    return [
        _f("Created_By", "Created By", "ownerlookup", start, read_only=True, lookup_module="users"),
        _f("Created_Time", "Created Time", "datetime", start + 1, read_only=True),
        _f("Modified_By", "Modified By", "ownerlookup", start + 2, read_only=True, lookup_module="users"),
        _f("Modified_Time", "Modified Time", "datetime", start + 3, read_only=True),
    ]


#: Per Zoho module: the Salesforce object its custom fields come from, and their first id number.
_CUSTOM_SOURCES = {"Deals": ("Opportunity", 101), "Accounts": ("Account", 151), "users": ("User", 301)}


def custom_fields(module: str, org: OrgSeed) -> list[ZField]:
    """The seed's custom fields of ``module`` as the seeded org has them: the Salesforce
    fields of the matching object, under Zoho's names (no ``__c``), types and labels (a label
    from which Zoho would derive that very name)."""
    source = _CUSTOM_SOURCES.get(module)
    if source is None:
        return []
    sf_object, first = source
    return [_from_salesforce(f, first + n) for n, f in enumerate(_sf_custom_fields(org, sf_object))]


def _from_salesforce(f: FieldDef, n: int) -> ZField:
    name = f.name.removesuffix("__c")
    label = f.label if derived_api_name(f.label) == name else name.replace("_", " ")
    kw: dict[str, Any] = {"custom_field": True}
    if f.type == "picklist":
        kw.update(data_type="picklist", pick_list_values=f.picklist_values)
    elif f.type == "reference":
        users = any(t.lower() == "user" for t in f.reference_to)
        kw.update(
            data_type="userlookup" if users else "lookup", lookup_module="users" if users else "Accounts"
        )
    elif f.type in ("double", "currency", "percent", "int"):
        if f.scale == 0 and 0 < f.precision <= 9:
            kw.update(data_type="integer", length=f.precision)
        else:
            kw.update(data_type="double", length=f.precision or 16, decimal_place=f.scale)
    elif f.type in ("string", "textarea"):
        kw.update(data_type="text", length=f.length or 255)
    else:  # boolean, date, datetime keep their names
        kw.update(data_type=f.type)
    return ZField(name, label, id=str(_FIELD_BASE + n), **kw)


def _sf_custom_fields(org: OrgSeed, sf_object: str) -> list[FieldDef]:
    return [field_def(f) for f in org.fields_of(sf_object)]


def _zoho_value(f: FieldDef, value: Any) -> Any:
    """A seeded Salesforce value of a custom field as the Zoho org stores it."""
    if value is None:
        return None
    if f.type == "boolean":
        return bool(value)
    if f.type == "reference":
        return zoho_id(str(value))
    if f.type == "datetime":
        return _secs(value)
    if f.type in ("double", "currency", "percent", "int") and f.scale == 0 and 0 < f.precision <= 9:
        return int(value)
    return value


def standard_fields(module: str) -> list[ZField]:
    if module == "Deals":
        return [
            _owner("Deal Owner", 1),
            _f("Deal_Name", "Deal Name", "text", 2, system_mandatory=True, length=120),
            _f("Account_Name", "Account Name", "lookup", 3, lookup_module="Accounts"),
            _f("Stage", "Stage", "picklist", 4, system_mandatory=True, pick_list_values=STAGES),
            _f("Pipeline", "Pipeline", "picklist", 5, pick_list_values=("Standard (Standard)",)),
            _f("Amount", "Amount", "currency", 6, length=16, decimal_place=2),
            _f("Probability", "Probability (%)", "integer", 7, length=3),
            _f("Closing_Date", "Closing Date", "date", 8, system_mandatory=True),
            _f("Description", "Description", "textarea", 9, length=32000),
            *_system(10),
        ]
    if module == "Accounts":
        return [
            _owner("Account Owner", 51),
            _f("Account_Name", "Account Name", "text", 52, system_mandatory=True, length=200),
            _f("Industry", "Industry", "picklist", 53, pick_list_values=INDUSTRIES),
            *_system(54),
        ]
    return [  # users: what the Users API lists as fields (the record keys are lower-case)
        _f("first_name", "First Name", "text", 201, length=40),
        _f("last_name", "Last Name", "text", 202, system_mandatory=True, length=80),
        _f("full_name", "Full Name", "text", 203, read_only=True, length=121),
        _f("email", "Email", "email", 204, system_mandatory=True, length=100, read_only=True),
        _f("Reporting_To", "Reporting To", "userlookup", 205, lookup_module="users"),
        *_system(206),
    ]


def _secs(ms: int | None) -> int:
    return int(ms or 0) // 1000


def seed_zoho(zstore: ZohoStore, sf: Store, org: OrgSeed, zoho_roster_file: Path) -> None:
    """Fill ``zstore`` from the seeded Salesforce org; write the Zoho roster; create the OAuth
    client and the integration user's refresh token (kept for the data dir's life)."""
    with sf.reader() as db:
        users = [
            dict(zip([c[0] for c in cur.description], r, strict=True))
            for cur in [db.execute('SELECT * FROM "User" ORDER BY "Id"')]
            for r in cur.fetchall()
        ]
        accounts = [
            dict(zip([c[0] for c in cur.description], r, strict=True))
            for cur in [db.execute('SELECT * FROM "Account" ORDER BY "Id"')]
            for r in cur.fetchall()
        ]
        opps = db.execute('SELECT * FROM "Opportunity" ORDER BY "Id"')
        opp_cols = [c[0] for c in opps.description]
        opportunities = [dict(zip(opp_cols, r, strict=True)) for r in opps.fetchall()]
    integration = sf.meta("integration_user_id") or ""

    user_rows = []
    user_custom = _sf_custom_fields(org, "User")
    others = sorted({u["Department"] for u in users if u["Department"] and u["Department"] not in _ROLES})
    for u in users:
        zid = zoho_id(u["Id"])
        data: dict[str, Any] = {
            "first_name": u["FirstName"],
            "last_name": u["LastName"],
            "full_name": u["Name"],
            "email": u["Email"],
            "status": "active" if u["IsActive"] else "disabled",
            "role": _role(u["Department"], others) if u["Department"] else _ROLES["Sales"],
            "profile": ADMIN_PROFILE if u["Id"] == integration else STANDARD_PROFILE,
            "time_zone": ORG_TIME_ZONE,
            "locale": "en_US",
            "language": "en_US",
            "country_locale": "en_US",
            "zuid": str(70_000_000 + int(zid) % 1_000_000),
            "confirm": True,
            "Reporting_To": zoho_id(u["ManagerId"]) if u["ManagerId"] else None,
            "Created_By": zoho_id(integration),
            "Modified_By": zoho_id(integration),
        }
        if org.installed:
            data.update({f.name.removesuffix("__c"): _zoho_value(f, u.get(f.name)) for f in user_custom})
        data = {k: v for k, v in data.items() if v is not None}  # an absent key reads as null
        created = _secs(u["CreatedDate"])
        user_rows.append(Row(zid, created, _secs(u["SystemModstamp"]), data))
    account_rows = [
        Row(
            zoho_id(a["Id"]),
            _secs(a["CreatedDate"]),
            _secs(a["SystemModstamp"]),
            {
                "Account_Name": a["Name"],
                "Industry": a["Industry"],
                "Owner": zoho_id(a["OwnerId"]),
                "Created_By": zoho_id(a["CreatedById"]),
                "Modified_By": zoho_id(a["LastModifiedById"]),
            },
        )
        for a in accounts
    ]
    deal_rows = []
    deal_custom = _sf_custom_fields(org, "Opportunity")
    for o in opportunities:
        data = {
            "Deal_Name": o["Name"],
            "Account_Name": zoho_id(o["AccountId"]) if o["AccountId"] else None,
            "Stage": _STAGE_FROM_SF.get(o["StageName"], o["StageName"]),
            "Pipeline": "Standard (Standard)",
            "Amount": o["Amount"],
            "Probability": int(o["Probability"]) if o["Probability"] is not None else None,
            "Closing_Date": o["CloseDate"],
            "Description": None,
            "Owner": zoho_id(o["OwnerId"]),
            "Created_By": zoho_id(o["CreatedById"]),
            "Modified_By": zoho_id(o["LastModifiedById"]),
        }
        if org.installed:
            data.update({f.name.removesuffix("__c"): _zoho_value(f, o.get(f.name)) for f in deal_custom})
        data = {k: v for k, v in data.items() if v is not None}  # an absent key reads as null
        deal_rows.append(Row(zoho_id(o["Id"]), _secs(o["CreatedDate"]), _secs(o["SystemModstamp"]), data))
    by_name = {f.name: f for f in deal_custom}
    pending = [
        [zoho_id(opp), zoho_id(owner),
         {k.removesuffix("__c"): _zoho_value(by_name[k], v) if k in by_name else v
          for k, v in values.items()}]
        for opp, owner, values in json.loads(sf.meta("pending_values") or "[]")
    ]

    client_id = "1000." + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(30))
    client_secret = secrets.token_hex(21)
    refresh_token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
    if org.roster is not None:
        zoho_roster_file.write_text(org.roster(_zoho_people(seeded_people(sf)), "zoho"), encoding="utf-8")
    with zstore.transaction() as db:
        zstore.add_refresh_token(db, refresh_token, client_id, zoho_id(integration))
        for module in ("Deals", "Accounts", "users"):
            wanted = standard_fields(module) + (custom_fields(module, org) if org.installed else [])
            for f in wanted:
                zstore.add_field(db, module, f)
        zstore.insert_records(db, "users", user_rows)
        zstore.insert_records(db, "Accounts", account_rows)
        zstore.insert_records(db, "Deals", deal_rows)
        zstore.set_meta(db, "pending_values", json.dumps(pending))
        zstore.set_meta(db, "company", org.company)
        zstore.set_meta(db, "integration_user_id", zoho_id(integration))
        zstore.set_meta(db, "client_id", client_id)
        zstore.set_meta(db, "client_secret", client_secret)
        zstore.set_meta(db, "refresh_token", refresh_token)
        zstore.set_meta(db, "next_id", str(ZBASE + 9_000_000_000))
        # imported here: `_seed_objects` builds on `_modules`, which takes the profiles from here
        from presales_sync.sandbox.zoho._seed_objects import seed_objects

        seed_objects(zstore, db, org)
        zstore.set_meta(db, "seeded", utcnow(zstore.clock).isoformat())  # last: marks a complete seed


def _zoho_people(people: list[SeededPerson]) -> list[SeededPerson]:
    """The seeded people with Zoho's user ids."""
    return [SeededPerson(p.key, zoho_id(p.user_id), zoho_id(p.manager_id) if p.manager_id else None, p.name,
                         p.attributes) for p in people]
