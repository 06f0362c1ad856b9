"""The plugin's CRM fields as data (`plugin_fields.yaml`), resolved against a mapping:
names and picklist values follow the admin's mapping, so install creates *their* fields."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from presales_sync.mappings.load import load_model
from presales_sync.mappings.model import Mapping

PLUGIN_FIELDS = Path(__file__).parent / "plugin_fields.yaml"


class PluginField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$")
    label: str = Field(max_length=40)
    type: Literal["Text", "Number", "Checkbox", "Date", "DateTime", "Picklist", "Lookup"]
    length: int | None = Field(default=None, ge=1, le=255)
    precision: int | None = Field(default=None, ge=1, le=18)
    scale: int | None = Field(default=None, ge=0, le=17)
    values: list[str] = Field(default_factory=list)
    reference_to: str | None = None
    relationship_name: str | None = None


class PluginFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    objects: dict[str, dict[str, PluginField]]


#: Where the catalogue's Salesforce objects live in Zoho (the opportunity follows the mapping).
ZOHO_OBJECTS = {"User": "users"}


def _custom(crm: str, field: str) -> bool:
    """Whether a mapped field is one the plugin installs: Salesforce custom fields end in
    ``__c``; Zoho's have no suffix, so any plain (undotted) field name counts."""
    return field.endswith("__c") if crm == "salesforce" else "." not in field


def plugin_fields(mapping: Mapping, path: Path = PLUGIN_FIELDS) -> dict[str, list[PluginField]]:
    """Per CRM object, the fields to install, renamed and relabelled by the mapping. For Zoho
    the names lose ``__c`` and User fields go to the ``users`` module."""
    catalogue = load_model(path, PluginFields)
    objmap = mapping.opportunity
    zoho = mapping.crm == "zoho"
    renames = {**{n: fm for n, fm in objmap.inbound.items()}, **objmap.outbound}
    out: dict[str, list[PluginField]] = {}
    for obj, fields in catalogue.objects.items():
        target = objmap.object if obj == "Opportunity" else (ZOHO_OBJECTS.get(obj, obj) if zoho else obj)
        resolved = []
        for domain_name, spec in fields.items():
            if zoho:
                spec = spec.model_copy(update={"name": spec.name.removesuffix("__c")})
            fm = renames.get(domain_name) if obj == "Opportunity" else None
            if fm is not None and _custom(mapping.crm, fm.field):
                spec = spec.model_copy(update={
                    "name": fm.field, "values": [fm.values.get(v, v) for v in spec.values]})
            resolved.append(spec)
        out[target] = resolved
    return out


__all__ = ["PLUGIN_FIELDS", "PluginField", "PluginFields", "plugin_fields"]
