"""The tests' org seed: the plugin's part of a sandbox org, built here as the demo builds its own.

The sandbox is a bare CRM; the tests hand it the plugin's custom fields and picklist values
(read from `mappings/plugin_fields.yaml`), a presales manager and twelve engineers, the roster
file (``engineers.yaml`` and its Zoho twin) and the open deals whose reps ask for presales.
Tests do not import demo/, so this is their own copy of `demo/org_seed.py`; the random parts
draw from the sandbox seeder's generator, so a seed number gives the same org in both.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from presales_sync.mappings import default_mapping_path, load_mapping
from presales_sync.mappings.fields import PLUGIN_FIELDS
from presales_sync.mappings.fields import plugin_fields as resolve_fields
from presales_sync.mappings.fields import plugin_objects as resolve_objects
from presales_sync.sandbox import SAMPLE_INDUSTRIES, CustomField, CustomObject, OrgSeed, Person, SeededPerson

LEVELS = ("junior", "intermediate", "senior", "expert")
SKILLS = ("cloud", "database", "network", "security", "analytics", "erp", "iot", "ai", "devops", "storage")
PRIORITIES = ("P1", "P2", "P3")
#: The team, family name first as written.
ENGINEERS = ("Li Wei", "Zhang Min", "Wang Fang", "Liu Yang", "Chen Jing", "Yang Lei", "Zhao Qiang",
             "Huang Mei", "Zhou Tao", "Wu Xia", "Xu Hao", "Sun Li")
MANAGER_SERIAL, ENGINEER_SERIAL = 1_000_002, 1_000_100
_HEADERS = {"salesforce": "# Presales engineers of the sandbox org (generated at seed time; edit freely).\n",
            "zoho": "# Presales engineers of the sandbox's Zoho org (generated at seed time; edit freely).\n"}


def plugin_fields(path: Path = PLUGIN_FIELDS) -> tuple[CustomField, ...]:
    """The plugin's field catalogue as the sandbox's custom fields, named and valued as
    `presales install` creates them with the shipped mapping (the action object's key too)."""
    mapping = load_mapping(default_mapping_path("salesforce"))
    fields = [CustomField(object=obj, name=f.name, label=f.label, type=f.type, length=f.length,
                          precision=f.precision, scale=f.scale, values=tuple(f.values),
                          restricted=f.type == "Picklist", reference_to=f.reference_to,
                          relationship_name=f.relationship_name)
              for obj, resolved in resolve_fields(mapping, path).items() for f in resolved]
    fields += [CustomField(object=o.name, name=o.key_field, label="Ext Id", type="Text", length=80,
                           external_id=True) for o in resolve_objects(mapping, path) if o.key_field]
    return tuple(fields)


def plugin_objects(path: Path = PLUGIN_FIELDS) -> tuple[CustomObject, ...]:
    """The plugin's custom objects as `presales install` creates them (Zoho's names beside)."""
    zoho = {o.spec.label: o for o in resolve_objects(load_mapping(default_mapping_path("zoho")), path)}
    return tuple(
        CustomObject(name=o.name, label=o.spec.label, plural_label=o.spec.plural_label, kind=o.spec.kind,
                     parent=o.parent, parent_field=o.parent_field, relationship_name=o.spec.relationship_name,
                     key_field=o.key_field, name_format=o.spec.name_format,
                     zoho_name=zoho[o.spec.label].name if o.spec.label in zoho else None,
                     zoho_parent_field=zoho[o.spec.label].parent_field if o.spec.label in zoho else None)
        for o in resolve_objects(load_mapping(default_mapping_path("salesforce")), path))


def _engineer(i: int) -> Person:
    level = LEVELS[i // 3]
    last, first = ENGINEERS[i].split(" ")

    def draw(rng: random.Random) -> dict[str, Any]:
        return {
            "level": level,
            "reviewer": level in ("senior", "expert"),
            "skills": sorted(rng.sample(SKILLS, 2 + i % 2)),
            "industries": sorted(rng.sample(SAMPLE_INDUSTRIES, 1 + i % 3), key=SAMPLE_INDUSTRIES.index),
            "capacity": {"junior": 10, "intermediate": 12, "senior": 14, "expert": 14}[level],
            "active": i != 1,  # one engineer is off the roster (on leave): skipping gets exercised
        }

    return Person(key=f"engineer-{i}", first_name=first, last_name=last, full_name=ENGINEERS[i],
                  title=f"{level.capitalize()} Presales Engineer", department="Presales",
                  serial=ENGINEER_SERIAL + i, manager="manager", draw=draw)


def _roster(people: Sequence[SeededPerson], crm: str) -> str:
    engineers = [{"crm_user_id": p.user_id, "name": p.name, **p.attributes, "manager": p.manager_id}
                 for p in people if p.key.startswith("engineer-")]
    managers = [p.user_id for p in people if p.key == "manager"]
    return _HEADERS[crm] + yaml.safe_dump({"engineers": engineers, "managers": managers}, sort_keys=False,
                                          allow_unicode=True, default_flow_style=None)


def plugin_org(*, installed: bool = True, path: Path = PLUGIN_FIELDS) -> OrgSeed:
    """The presales org; with ``installed`` false, one before `presales install` (the deals
    that ask for presales are kept aside: `Sandbox.pending_values`)."""
    fields = plugin_fields(path)
    names = {f.label: f.name for f in fields}
    requested, priority = names["Presales Requested"], names["Presales Priority"]

    def opportunity_values(row: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
        if row["IsClosed"] or rng.random() >= 0.1:
            return {}
        return {requested: True, priority: rng.choices(PRIORITIES, weights=(2, 5, 3))[0]}

    manager = Person(key="manager", first_name="Gao", last_name="Yan", title="Presales Manager",
                     department="Presales", serial=MANAGER_SERIAL)
    return OrgSeed(fields=fields, objects=plugin_objects(path), installed=installed,
                   people=(manager, *(_engineer(i) for i in range(len(ENGINEERS)))),
                   opportunity_values=opportunity_values, roster=_roster, roster_name="engineers.yaml",
                   email_domain="presales-sandbox.example.com", company="Presales Sandbox Inc.",
                   integration_first_name="Presales")


#: The org most tests run against: the plugin's fields installed.
PLUGIN_ORG = plugin_org()
#: The same org before the plugin's custom objects exist (their fields gone with them): for the
#: tests that create the objects themselves, through the Metadata API or a seed of their own.
CRM_OBJECTS = frozenset({"Opportunity", "User", "Account"})
PLUGIN_ORG_WITHOUT_OBJECTS = dataclasses.replace(
    PLUGIN_ORG, objects=(), fields=tuple(f for f in PLUGIN_ORG.fields if f.object in CRM_OBJECTS))
