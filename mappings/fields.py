"""The plugin's CRM fields as data (`plugin_fields.yaml`), resolved against a mapping:
names and picklist values follow the admin's mapping, so install creates *their* fields."""

from __future__ import annotations

from dataclasses import dataclass
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
    type: Literal["Text", "LongText", "Number", "Checkbox", "Date", "DateTime", "Picklist", "Lookup"]
    length: int | None = Field(default=None, ge=1, le=131_072)
    precision: int | None = Field(default=None, ge=1, le=18)
    scale: int | None = Field(default=None, ge=0, le=17)
    values: list[str] = Field(default_factory=list)
    reference_to: str | None = None
    relationship_name: str | None = None


class PluginObject(BaseModel):
    """A custom object the plugin installs (`connector.ObjectSpec`, before the mapping names it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(max_length=40)
    plural_label: str = Field(max_length=40)
    kind: Literal["detail", "setting"]
    parent: str | None = None
    parent_label: str | None = None
    relationship_name: str | None = None
    name_format: str = "A-{000000}"


class PluginFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    objects: dict[str, dict[str, PluginField]]
    custom_objects: dict[str, PluginObject] = Field(default_factory=dict)


def _custom(crm: str, field: str) -> bool:
    """Whether a mapped field is one the plugin installs: Salesforce custom fields end in
    ``__c``; Zoho's have no suffix, so any plain (undotted) field name counts."""
    return field.endswith("__c") if crm == "salesforce" else "." not in field


def object_maps(mapping: Mapping) -> dict[str, ObjectMap]:
    """The mapping's object map for each object of the catalogue (its Salesforce name)."""
    return {"Opportunity": mapping.opportunity, "User": mapping.user, "Presales_Action__c": mapping.action}


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


@dataclass(frozen=True, slots=True)
class InstalledObject:
    """A custom object of the catalogue as this org names it: the object, its parent and the
    fields that come with it (the parent reference and the external-id key), from the mapping."""

    name: str
    spec: PluginObject
    parent: str | None = None
    parent_field: str | None = None
    key_field: str | None = None


def plugin_objects(mapping: Mapping, path: Path = PLUGIN_FIELDS) -> list[InstalledObject]:
    """The custom objects to install before their fields, parents first. The action object
    takes its name, parent field and key from the mapping's `action:` map; Zoho keeps org
    settings in org variables, so a setting object is Salesforce's only."""
    catalogue = load_model(path, PluginFields)
    parents = {"Opportunity": mapping.opportunity.object, "User": mapping.user.object}
    out: list[InstalledObject] = []
    for name, spec in catalogue.custom_objects.items():
        if spec.kind == "setting":
            if mapping.crm == "salesforce":
                out.append(InstalledObject(name, spec))
            continue
        objmap = object_maps(mapping).get(name)
        if objmap is None:
            raise ValueError(f"{path}: custom object {name} has no map in the mapping")
        out.append(InstalledObject(objmap.object, spec, parent=parents.get(spec.parent or "", spec.parent),
                                   parent_field=objmap.inbound["opportunity_id"].field,
                                   key_field=objmap.outbound["key"].field))
    return out


__all__ = ["PLUGIN_FIELDS", "InstalledObject", "PluginField", "PluginFields", "PluginObject", "object_maps",
           "plugin_fields", "plugin_objects"]
