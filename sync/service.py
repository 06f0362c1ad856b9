"""What each CLI command does, minus the printing: load files, open the store, connect to
the CRM, run. The CLI maps the exceptions raised here to exit codes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from presales_sync.connector import Connector, UnknownFieldError, connect_salesforce, connect_zoho
from presales_sync.connector.salesforce import SalesforceSettings
from presales_sync.connector.zoho import ZohoSettings
from presales_sync.sync import config as config_mod
from presales_sync.sync.config import Loaded
from presales_sync.sync.engine import ProgressFn, SyncReport, run_sync
from presales_sync.sync.reminders import escalations
from presales_sync.sync.store import Store, StoreOwner
from presales_sync.sync.wire_errors import unknown_field_problems

#: Where the Zoho access token is kept between runs, beside the config file, unless set.
ZOHO_TOKEN_CACHE = ".presales-zoho-token.json"


def connector_for(loaded: Loaded, env: Mapping[str, str]) -> Connector:
    crm = loaded.config.crm
    if crm.kind == "zoho":
        zoho = ZohoSettings(
            data_center=crm.data_center or "com", accounts_url=crm.accounts_url, api_domain=crm.api_domain,
            ca_bundle=_ca(loaded, crm.ca_bundle), timeout=crm.timeout_seconds,
            token_cache=_beside(loaded, crm.token_cache or ZOHO_TOKEN_CACHE), daily_credits=crm.daily_credits)
        return connect_zoho(zoho, env)
    settings = SalesforceSettings(
        instance_url=crm.instance_url or "", api_version=crm.api_version, auth_method=crm.auth.method,
        login_url=crm.auth.login_url, audience=crm.auth.audience, ca_bundle=_ca(loaded, crm.ca_bundle),
        timeout=crm.timeout_seconds, page_size=loaded.config.sync.page_size,
        bulk_write_threshold=loaded.config.sync.bulk_write_threshold,
        bulk_read_threshold=loaded.config.sync.bulk_read_threshold)
    return connect_salesforce(settings, env)


def _beside(loaded: Loaded, path: str) -> Path:
    """A path from the config file, relative to its directory."""
    p = Path(path)
    return p if p.is_absolute() else loaded.path.parent / p


def _ca(loaded: Loaded, ca_bundle: str | None) -> str | None:
    return None if ca_bundle is None else str(_beside(loaded, ca_bundle))



def open_store(loaded: Loaded) -> Store:
    """The config's store, checked, migrated and claimed for its CRM org (a store holds one
    org: `StoreOwnedElsewhere` names the org that has it)."""
    store = Store.open(config_mod.store_url(loaded), profile=loaded.config.profile)
    try:
        store.claim(store_owner(loaded))
    except BaseException:
        store.close()
        raise
    return store


def store_owner(loaded: Loaded) -> StoreOwner:
    """The CRM org of this config as the store records it: Salesforce by its instance URL,
    Zoho by its API domain (or accounts server, or data centre)."""
    crm = loaded.config.crm
    if crm.kind == "zoho":
        org = crm.api_domain or crm.accounts_url or f"data centre {crm.data_center or 'com'}"
    else:
        org = crm.instance_url or ""
    return StoreOwner.of(crm.kind, org, loaded.config.profile)


def sync_once(config_path: Path, env: Mapping[str, str], *, full: bool = False,
              dry_run: bool = False, progress: ProgressFn | None = None,
              now: datetime | None = None, retry_failed: bool = False, take_over: bool = False) -> SyncReport:
    """Load everything (config problems surface before any I/O), then run one sync."""
    loaded = config_mod.load(config_path)
    store = open_store(loaded)
    try:
        crm = connector_for(loaded, env)
        return run_sync(loaded, store, crm, now=now or datetime.now(UTC), full=full,
                        dry_run=dry_run, progress=progress, retry_failed=retry_failed, take_over=take_over)
    except UnknownFieldError as err:  # a mapping names a field the CRM does not have
        from presales_sync.mappings import default_mapping_path

        path = loaded.mapping_path or default_mapping_path(loaded.config.crm.kind)
        raise unknown_field_problems(err, mapping_path=path, objmap=loaded.mapping.opportunity) from None
    finally:
        store.close()


def status(config_path: Path, *, now: datetime | None = None) -> dict[str, Any]:
    """Last runs, cursors, records waiting for retry, and the escalation lists as of `now`."""
    loaded = config_mod.load(config_path)
    now = now or datetime.now(UTC)
    store = open_store(loaded)
    try:
        with store.begin() as conn:
            open_tasks = store.open_tasks(conn)
            data = {"runs": store.recent_runs(conn), "cursors": store.all_cursors(conn),
                    "waiting_for_retry": store.failures(conn), "tasks": store.count_tasks(conn)}
            opps = store.opportunity_values(conn, open_tasks)
    finally:
        store.close()
    data["escalations"] = escalations(
        open_tasks, opps, objmap=loaded.mapping.opportunity,
        rules=loaded.compiled_rules(now.astimezone(loaded.tz).date()), settings=loaded.rules,
        calendar=loaded.calendar(), engineers=loaded.engineers, managers=loaded.managers, now=now)
    return data


def tasks(config_path: Path) -> list[dict[str, Any]]:
    """Every task with its opportunity's name, for `presales task list`."""
    loaded = config_mod.load(config_path)
    store = open_store(loaded)
    try:
        with store.begin() as conn:
            stored = store.all_tasks(conn)
            opps = store.opportunity_values(conn, stored)
    finally:
        store.close()
    names = {e: eng.name for e, eng in loaded.engineers.items()}
    return [{
        "opportunity_id": opp_id, "opportunity": opps.get(opp_id, {}).get("name"),
        "account": opps.get(opp_id, {}).get("account_name"),
        "engineer_id": st.task.engineer_id, "engineer": names.get(st.task.engineer_id or ""),
        "step": st.task.step.value, "status": st.task.status.value,
        "rework_count": st.task.rework_count, "message": st.message,
        "events": [{"kind": e.kind.value, "at": e.at.isoformat(), "actor": e.actor,
                    "from_step": e.from_step, "to_step": e.to_step, "from_status": e.from_status,
                    "to_status": e.to_status, "outcome": e.outcome, "note": e.note,
                    "engineer_id": e.engineer_id, "action_record": e.source}
                   for e in st.task.events],
    } for opp_id, st in stored.items()]


__all__ = ["connector_for", "open_store", "status", "store_owner", "sync_once", "tasks"]


def _schema(crm: Connector, objmap: Any, *also: str) -> dict[str, dict[str, Any]]:
    """Describe the mapped object, the objects its parent fields point to and `also`."""
    from presales_sync.mappings.validate import CrmField, related_objects

    def fields(name: str) -> dict[str, CrmField]:
        described = crm.describe(name)
        return {f.name: CrmField(f.name, f.type, f.updateable, tuple(f.picklist_values),
                                 f.restricted_picklist, tuple(f.reference_to))
                for f in described.fields.values()}

    schema = {objmap.object: fields(objmap.object)}
    for other in sorted({*related_objects(objmap, schema[objmap.object]), *also} - set(schema)):
        schema[other] = fields(other)
    return schema


def validate_mapping(config_path: Path, env: Mapping[str, str]) -> list[Any]:
    """`presales mappings validate`: the mapping (the opportunity's, the user's and the action
    records' map) against the live schema."""
    from presales_sync.mappings.validate import validate
    from presales_sync.rules import EventKind, Health, Status, Step
    from presales_sync.rules.kpi import Band
    from presales_sync.sync.trail import APPLIED, REFUSED

    loaded = config_mod.load(config_path)
    crm = connector_for(loaded, env)
    objmap, users, actions = loaded.mapping.opportunity, loaded.mapping.user, loaded.mapping.action
    writes = {"step": frozenset(s.value for s in Step), "status": frozenset(s.value for s in Status),
              "health": frozenset(h.value for h in Health), "rating": frozenset(b.value for b in Band),
              "kind": frozenset(k.value for k in EventKind), "outcome": frozenset((APPLIED, REFUSED))}
    schema = _schema(crm, objmap, users.object)
    schema.update(_schema(crm, actions))
    # the action's deal is set when its record is created and never changed: a Salesforce
    # Master-Detail field that is not reparentable describes as not updateable, and an upsert
    # re-sending the same parent is not a change (docs/design/issue-14-wire-facts.md §1)
    created_only = actions.model_copy(update={"outbound": {
        k: v for k, v in actions.outbound.items() if k != "opportunity_id"}})
    return [*validate(objmap, schema, writes), *validate(users, schema, writes),
            *validate(created_only, schema, writes)]


def init_mapping(config_path: Path, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """`presales mappings init`: a starter mapping from the live schema."""
    from presales_sync.mappings import default_mapping_path, load_mapping
    from presales_sync.mappings.init import starter_mapping

    loaded = config_mod.load_crm_only(config_path)
    crm = connector_for(loaded, env)
    default = default_mapping_path(loaded.config.crm.kind)
    mapping = load_mapping(default)
    objmap = mapping.opportunity
    return starter_mapping(default.read_text(encoding="utf-8"), objmap.object,
                           _schema(crm, objmap, mapping.user.object), mapping.user.object)


def plugin_field_specs(loaded: Loaded) -> list[Any]:
    """The plugin's fields for this org, as connector field specs."""
    from presales_sync.connector.base import FieldSpec
    from presales_sync.mappings.fields import plugin_fields

    return [FieldSpec(object_name=obj, name=f.name, label=f.label, type=f.type, length=f.length,
                      precision=f.precision, scale=f.scale, picklist_values=tuple(f.values),
                      reference_to=f.reference_to, relationship_name=f.relationship_name)
            for obj, fields in plugin_fields(loaded.mapping).items() for f in fields]


def plugin_object_specs(loaded: Loaded) -> list[Any]:
    """The plugin's custom objects for this org, as connector object specs."""
    from presales_sync.connector.base import ObjectSpec
    from presales_sync.mappings.fields import plugin_objects

    return [ObjectSpec(name=o.name, label=o.spec.label, plural_label=o.spec.plural_label, kind=o.spec.kind,
                       parent=o.parent, parent_field=o.parent_field, parent_label=o.spec.parent_label,
                       relationship_name=o.spec.relationship_name,
                       relationship_label=o.spec.plural_label if o.parent else None,
                       key_field=o.key_field, name_format=o.spec.name_format)
            for o in plugin_objects(loaded.mapping)]


def install(config_path: Path, env: Mapping[str, str], *, dry_run: bool,
            grant_to: Sequence[str] = ()) -> tuple[list[Any], list[Any]]:
    """`presales install`: create the plugin's objects (the action records of the audit
    trail, the org marker), then create or update its fields, and grant access to them to
    the integration user, the roster's engineers and managers (they write action records) and
    `grant_to` (e.g. sales users). Idempotent: a second run changes nothing. Returns the
    object plans and the field plans."""
    loaded = _with_admin_mapping(config_mod.load_crm_only(config_path))
    roster = config_mod.resolve(loaded, loaded.config.roster)
    people: list[str] = []
    if roster.exists():
        engineers, managers = config_mod.load_roster(roster)
        people = [*engineers, *sorted(managers)]
    crm = connector_for(loaded, env)
    assignees = [*people, *grant_to]
    objects = list(crm.ensure_objects(plugin_object_specs(loaded), dry_run=dry_run, assignees=assignees))
    return objects, list(crm.ensure_fields(plugin_field_specs(loaded), dry_run=dry_run, assignees=assignees))


def uninstall(config_path: Path, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """`presales uninstall`: delete the plugin's fields on the CRM's own objects (their data
    goes with them), then its objects with their records. Returns what was removed and the
    steps left to a person (Zoho has no API to delete a custom module)."""
    from presales_sync.connector import ConfigError

    loaded = _with_admin_mapping(config_mod.load_crm_only(config_path))
    crm = connector_for(loaded, env)
    objects = [o.name for o in plugin_object_specs(loaded)]
    names = [f"{s.object_name}.{s.name}" for s in plugin_field_specs(loaded) if s.object_name not in objects]
    crm.remove_fields(names)
    try:
        crm.remove_objects(objects)
    except ConfigError as err:  # a CRM that cannot delete them through its API says how by hand
        return names, [str(err)]
    return [*names, *objects], []


def _with_admin_mapping(loaded: Loaded) -> Loaded:
    """Use the admin's mapping when the config names one (install follows their names)."""
    from presales_sync.mappings import load_mapping

    if not loaded.config.mapping:
        return loaded
    p = Path(loaded.config.mapping)
    path = p if p.is_absolute() else loaded.path.parent / p
    return loaded.model_copy(update={"mapping": load_mapping(path)})
