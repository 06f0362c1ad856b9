"""The plugin's org-wide values as Zoho org variables (``/crm/v8/settings/variables``):
read by listing (one call, no error when the variable is missing), created with ``POST``,
replaced with ``PUT /settings/variables/{id}``.

Zoho facts (docs/design/issue-14-wire-facts.md §11; https://zoho.com/crm/developer/docs/api/v8/create-variables.html):
``name``, ``api_name`` and ``variable_group`` are mandatory and unique (``DUPLICATE_DATA``);
an item reads ``{api_name, name, id, type, variable_group: {api_name, id}, value}``; scopes
``ZohoCRM.settings.variables.{READ|CREATE|UPDATE|ALL}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from presales_sync.connector.errors import ConfigError, FatalError

if TYPE_CHECKING:
    from presales_sync.connector.zoho._transport import Transport

API = "/crm/v8"
MAX_VALUE = 255


def _in_group(item: Mapping[str, Any], group: str) -> bool:
    g = item.get("variable_group")
    return isinstance(g, Mapping) and group.lower() in (
        str(g.get("api_name") or "").lower(),
        str(g.get("id") or ""),
        str(g.get("name") or "").lower(),
    )


def find(transport: Transport, name: str, group: str) -> Mapping[str, Any] | None:
    answer = transport.request("variables", "GET", f"{API}/settings/variables")
    items = answer.body.get("variables") if answer.body is not None else []
    if not isinstance(items, list):
        raise FatalError("GET /settings/variables answered without a variables list")
    return next(
        (i for i in items if isinstance(i, Mapping) and i.get("api_name") == name and _in_group(i, group)),
        None,
    )


def value_of(transport: Transport, name: str, group: str) -> str | None:
    item = find(transport, name, group)
    value = item.get("value") if item is not None else None
    return None if value is None else str(value)


def _check(entry: Any, what: str) -> str | None:
    """None when `entry` succeeded, else its code (raised as ConfigError unless DUPLICATE_DATA)."""
    if isinstance(entry, Mapping) and entry.get("status") == "success":
        return None
    code = str(entry.get("code")) if isinstance(entry, Mapping) else "UNKNOWN"
    if code == "DUPLICATE_DATA":
        return code
    message = entry.get("message") if isinstance(entry, Mapping) else None
    raise ConfigError(f"Zoho refused to {what}: ({code}, {message})", code=code)


def set_value(transport: Transport, name: str, value: str, group: str) -> None:
    if not isinstance(value, str) or len(value) > MAX_VALUE:
        raise ConfigError(f"org setting {name}: a text of at most {MAX_VALUE} characters is needed")
    for _attempt in range(2):
        item = find(transport, name, group)
        if item is not None:
            answer = transport.request(
                "variables_write",
                "PUT",
                f"{API}/settings/variables/{item['id']}",
                json={"variables": [{"value": value}]},
                record_errors=True,
            )
            entries = (answer.body or {}).get("variables")
            _check(entries[0] if isinstance(entries, list) and entries else None, f"update variable {name}")
            return
        body = {
            "variables": [
                {
                    "name": name.replace("_", " "),
                    "api_name": name,
                    "variable_group": {"name": group},
                    "type": "text",
                    "value": value,
                }
            ]
        }
        answer = transport.request(
            "variables_write", "POST", f"{API}/settings/variables", json=body, record_errors=True
        )
        entries = (answer.body or {}).get("variables")
        # DUPLICATE_DATA: created meanwhile (or by a send whose answer was lost): update it
        if (
            _check(entries[0] if isinstance(entries, list) and entries else None, f"create variable {name}")
            is None
        ):
            return
    raise ConfigError(f"variable {name}: Zoho says it exists but does not list it in group {group}")
