"""The plugin's CRM fields as data (`plugin_fields.yaml`), resolved against a mapping:
names and picklist values follow the admin's mapping, so install creates *their* fields."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from presales_sync.mappings.load import load_model
from presales_sync.mappings.model import Mapping, ObjectMap

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


def _custom(crm: str, field: str) -> bool:
    """Whether a mapped field is one the plugin installs: Salesforce custom fields end in
    ``__c``; Zoho's have no suffix, so any plain (undotted) field name counts."""
    return field.endswith("__c") if crm == "salesforce" else "." not in field


def object_maps(mapping: Mapping) -> dict[str, ObjectMap]:
    """The mapping's object map for each object of the catalogue (its Salesforce name)."""
    return {"Opportunity": mapping.opportunity, "User": mapping.user}


def plugin_fields(mapping: Mapping, path: Path = PLUGIN_FIELDS) -> dict[str, list[PluginField]]:
    """Per CRM object (as the mapping names it: Deals and users on Zoho), the fields to install,
    renamed and relabelled by the mapping. For Zoho, unmapped names lose ``__c``."""
    catalogue = load_model(path, PluginFields)
    maps = object_maps(mapping)
    zoho = mapping.crm == "zoho"
    out: dict[str, list[PluginField]] = {}
    for obj, fields in catalogue.objects.items():
        objmap = maps.get(obj)
        renames = {**objmap.inbound, **objmap.outbound} if objmap is not None else {}
        resolved = []
        for domain_name, spec in fields.items():
            if zoho:
                spec = spec.model_copy(update={"name": spec.name.removesuffix("__c")})
            fm = renames.get(domain_name)
            if fm is not None and _custom(mapping.crm, fm.field):
                spec = spec.model_copy(update={
                    "name": fm.field, "values": [fm.values.get(v, v) for v in spec.values]})
            resolved.append(spec)
        out[objmap.object if objmap is not None else obj] = resolved
    return out


__all__ = ["PLUGIN_FIELDS", "PluginField", "PluginFields", "object_maps", "plugin_fields"]
