"""The mapping language: which CRM field holds which domain value, in which shape.

A mapping file is data (YAML) validated by these frozen pydantic models. It is the only
place CRM field names live; the sync and rules layers speak domain names only.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FieldType = Literal["string", "id", "user", "boolean", "number", "integer", "date", "datetime"]

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

# Domain names the sync engine needs on the opportunity, inbound and outbound.
REQUIRED_INBOUND = ("requested", "is_closed", "is_won", "last_modified_by", "engineer")
REQUIRED_OUTBOUND = ("engineer", "step", "status", "due_date", "message")
# … and on the engineer's CRM user, where `presales score` writes the KPI scorecard.
REQUIRED_USER_OUTBOUND = ("kpi_score", "rating", "kpi_period")
# … and on the action records (the audit trail): what people write and the CRM stamps, and
# the event the plugin writes for each change of a task.
_EVENT_FIELDS = ("key", "kind", "note", "outcome", "seq", "at", "actor", "engineer", "step_before",
                 "step_after", "status_before", "status_after", "result")
REQUIRED_ACTION_INBOUND = ("opportunity_id", "command", "new_engineer", "created_by", "created_by_name",
                           "created_at", "number", *_EVENT_FIELDS)
REQUIRED_ACTION_OUTBOUND = ("opportunity_id", "reason", *_EVENT_FIELDS)
#: The shipped mapping per CRM: a copy written before `user:` or `action:` existed takes the
#: shipped one's.
DEFAULT_MAPPINGS = {crm: Path(__file__).parent / f"{crm}.yaml" for crm in ("salesforce", "zoho")}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMap(_Frozen):
    """One domain value ↔ one CRM field. `values` translates domain values to the org's
    picklist values (outbound) and back (inbound). `true_values` derives an inbound boolean
    from a picklist: true when the CRM value is one of them (Zoho has no IsClosed / IsWon:
    they follow from the deal's Stage)."""

    field: str
    type: FieldType = "string"
    default: Any = None
    values: dict[str, str] = Field(default_factory=dict)
    true_values: tuple[str, ...] = ()
    scale: int | None = Field(default=None, ge=0, le=18)
    timezone: str | None = None
    #: What the CRM keeps of a datetime. Salesforce and Zoho both keep whole seconds (a
    #: Salesforce DateTime drops milliseconds on write), so values are canonicalised to the
    #: second before the ledger diff: a write the CRM truncated is recognised as its echo.
    precision: Literal["millisecond", "second"] = "second"
    #: The longest text value kept for this field (default `mappings.apply.MAX_TEXT_LENGTH`).
    max_length: int | None = Field(default=None, ge=1, le=10_000_000)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone '{v}' (an IANA name such as Asia/Shanghai)") from None
        return v

    @field_validator("field")
    @classmethod
    def _field_name(cls, v: str) -> str:
        if not _FIELD_NAME.match(v):
            raise ValueError(f"'{v}' is not a CRM field API name (letters, digits, _ and one '.')")
        return v

    @model_validator(mode="after")
    def _options_fit_type(self) -> FieldMap:
        if self.scale is not None and self.type != "number":
            raise ValueError("scale: only for type number")
        if self.timezone is not None and self.type != "datetime":
            raise ValueError("timezone: only for type datetime")
        if "precision" in self.model_fields_set and self.type != "datetime":
            raise ValueError("precision: only for type datetime")
        if self.max_length is not None and self.type not in ("string", "id", "user"):
            raise ValueError("max_length: only for text (type string, id or user)")
        if self.true_values and (self.type != "boolean" or self.values):
            raise ValueError("true_values: only for type boolean, without values:")
        return self

    @model_validator(mode="after")
    def _values_invertible(self) -> FieldMap:
        crm_values = list(self.values.values())
        dupes = sorted({v for v in crm_values if crm_values.count(v) > 1})
        if dupes:
            raise ValueError(f"values: CRM value(s) {dupes} used for more than one domain value")
        return self


class ObjectMap(_Frozen):
    object: str
    inbound: dict[str, FieldMap] = Field(default_factory=dict)
    outbound: dict[str, FieldMap]

    @model_validator(mode="after")
    def _no_duplicate_targets(self) -> ObjectMap:
        derived = [name for name, fm in self.outbound.items() if fm.true_values]
        if derived:
            raise ValueError(f"outbound: '{derived[0]}' has true_values, which only derive inbound values")
        seen: dict[str, str] = {}
        for name, fm in self.outbound.items():
            if fm.field in seen:
                raise ValueError(
                    f"outbound: '{name}' and '{seen[fm.field]}' both write {fm.field}"
                )
            seen[fm.field] = name
        return self


class OrgMarker(_Frozen):
    """Where the org records which store syncs it: an org-wide value the plugin owns
    (Salesforce: the record `name` of the list custom setting `container`; Zoho: the org
    variable `name` of the variable group `container`)."""

    container: str
    name: str


class Mapping(_Frozen):
    """Per CRM object the plugin writes, its map: the opportunity (`presales sync`) and the
    engineer's user record (`presales score`), both written back by the same path."""

    version: Literal[1] = 1
    crm: Literal["salesforce", "zoho"]
    opportunity: ObjectMap
    user: ObjectMap
    action: ObjectMap
    org_marker: OrgMarker

    @model_validator(mode="before")
    @classmethod
    def _default_sections(cls, data: Any) -> Any:
        """A mapping copied before `user:` (the KPI fields) or `action:` (the audit trail)
        existed uses the objects and fields the shipped one names."""
        crm = data.get("crm") if isinstance(data, dict) else None
        if isinstance(crm, str) and crm in DEFAULT_MAPPINGS:
            missing = {k: _shipped_section(crm, k) for k in ("user", "action", "org_marker")
                       if k not in data}
            return {**data, **missing} if missing else data
        return data

    @model_validator(mode="after")
    def _required(self) -> Mapping:
        missing = [f"opportunity.inbound.{k}" for k in REQUIRED_INBOUND
                   if k not in self.opportunity.inbound]
        missing += [f"opportunity.outbound.{k}" for k in REQUIRED_OUTBOUND
                    if k not in self.opportunity.outbound]
        missing += [f"user.outbound.{k}" for k in REQUIRED_USER_OUTBOUND if k not in self.user.outbound]
        missing += [f"action.inbound.{k}" for k in REQUIRED_ACTION_INBOUND if k not in self.action.inbound]
        missing += [f"action.outbound.{k}" for k in REQUIRED_ACTION_OUTBOUND if k not in self.action.outbound]
        if missing:
            raise ValueError("missing required mapping(s): " + ", ".join(missing))
        return self


@cache
def _shipped_section(crm: str, section: str) -> Any:
    # the shipped file is ours and small: no hostile-input limits needed
    return yaml.safe_load(DEFAULT_MAPPINGS[crm].read_text(encoding="utf-8"))[section]


__all__ = ["DEFAULT_MAPPINGS", "REQUIRED_ACTION_INBOUND", "REQUIRED_ACTION_OUTBOUND", "REQUIRED_INBOUND",
           "REQUIRED_OUTBOUND", "REQUIRED_USER_OUTBOUND", "FieldMap", "FieldType", "Mapping", "ObjectMap",
           "OrgMarker"]
