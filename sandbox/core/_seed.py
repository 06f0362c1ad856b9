"""What a caller puts into the generated org beyond the generic sample data: `OrgSeed`.

The sandbox is a CRM, not a copy of any product that runs on one. Its seeder makes a
plausible sample org on its own (an integration user, sales reps, accounts, opportunities
with their standard fields); what a plugin needs on top — its custom fields and picklist
values, the people it knows about, the values its fields start with, a roster file listing
those people by their ids in each CRM — is seed data the caller hands in. The demo and the
tests build theirs from the plugin's own field catalogue.

Reproducibility stays the sandbox's: the callbacks draw from the seeder's one
`random.Random`, at fixed points of its order, so the same seed number still gives the same
org, ids included.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: Field types in the Salesforce Metadata API's words (each CRM of the sandbox maps them).
FieldType = Literal["Text", "LongText", "Number", "Checkbox", "Date", "DateTime", "Picklist", "Lookup"]
#: The CRMs a roster is rendered for.
Crm = Literal["salesforce", "zoho"]


@dataclass(frozen=True)
class CustomField:
    """A custom field the seeded org has from the start, on a Salesforce object
    (``Opportunity``, ``User`` or ``Account``; in Zoho: Deals, users, Accounts)."""

    object: str
    name: str  # the Salesforce API name, ending ``__c`` (Zoho's drops the suffix)
    label: str
    type: FieldType
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None  # without ``__r``
    external_id: bool = False  # unique, case-sensitive external id (Text only)


@dataclass(frozen=True)
class CustomObject:
    """A custom object the seeded org has from the start (a Zoho custom module).

    ``kind="detail"``: a Salesforce detail of `parent` through the Master-Detail field
    `parent_field` (sharing ControlledByParent), auto-numbered by `name_format`, with the
    child relationship `relationship_name` (without ``__r``); in Zoho the module
    `zoho_name` with the lookup field `zoho_parent_field` to the parent module.
    ``kind="setting"``: a Salesforce list custom setting (records keyed by ``Name``, one text
    field ``Value__c``); Zoho has none (org variables play its part).
    Its other fields are `CustomField`s whose ``object`` is this `name`."""

    name: str  # Salesforce API name, ending ``__c``
    label: str
    plural_label: str
    kind: Literal["detail", "setting"] = "detail"
    parent: str | None = None  # Salesforce object name (Opportunity); Zoho's follows
    parent_field: str | None = None
    relationship_name: str | None = None
    key_field: str | None = None  # its external-id field (also listed in OrgSeed.fields)
    name_format: str = "A-{000000}"
    zoho_name: str | None = None
    zoho_parent_field: str | None = None


@dataclass(frozen=True)
class Person:
    """A user the seed adds to the sample org's own (integration user, sales reps).

    ``serial`` is the number inside the user's id (``make_id("005", serial)``); the
    seeder draws all users' random attributes in serial order, so it also fixes where this
    person's draws fall. ``manager`` names another person's ``key``. ``draw`` is called right
    after the user's own draws with the seeder's generator; what it returns (JSON-able
    values) is kept with the person for the roster."""

    key: str
    first_name: str
    last_name: str
    title: str
    department: str
    serial: int
    full_name: str | None = None
    manager: str | None = None
    draw: Callable[[random.Random], Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class SeededPerson:
    """A seeded `Person` as one CRM knows them: ids in that CRM's style."""

    key: str
    user_id: str
    manager_id: str | None
    name: str
    attributes: Mapping[str, Any]


#: Values for one seeded opportunity's custom fields: given its standard fields (``Id``,
#: ``OwnerId``, ``IsClosed``, …, Salesforce names; ``Name`` is drawn after this call) and the
#: seeder's generator.
RecordValues = Callable[[Mapping[str, Any], random.Random], Mapping[str, Any]]
#: The roster file's text for one CRM, given the seeded people with that CRM's ids.
Roster = Callable[[Sequence[SeededPerson], Crm], str]


@dataclass(frozen=True)
class OrgSeed:
    """The caller's part of a seeded org. The default is a bare sample org.

    With ``installed`` false the org predates the plugin's install: the custom fields are
    absent, and the values ``opportunity_values`` gave are kept aside
    (`Sandbox.pending_values`) for a demo to write once the fields exist."""

    fields: tuple[CustomField, ...] = ()
    objects: tuple[CustomObject, ...] = ()
    installed: bool = True
    people: tuple[Person, ...] = ()
    opportunity_values: RecordValues | None = None
    roster: Roster | None = None
    roster_name: str = "roster.yaml"  # in the data dir; Zoho's is ``<stem>-zoho<suffix>``
    email_domain: str = "sandbox.example.com"
    company: str = "Sandbox Inc."
    integration_first_name: str = "Sandbox"

    def fields_of(self, object_name: str) -> list[CustomField]:
        """The custom fields of one object, in seed order (the order describe lists them)."""
        return [f for f in self.fields if f.object.lower() == object_name.lower()]
