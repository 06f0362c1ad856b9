"""Zoho's wire conventions shared by the sandbox's Zoho modules: the error envelope,
datetimes (rendered in the org's time zone, read with an offset) and the check of one
written value against its field."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from presales_sync.sandbox.core._http import Reply
from presales_sync.sandbox.zoho._seed import ORG_TIME_ZONE
from presales_sync.sandbox.zoho._store import LOOKUP_TYPES, USERS, ZField

_TZ = ZoneInfo(ORG_TIME_ZONE)


_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")


class ZohoError(Exception):
    """A request-level error: Zoho's ``{code, details, message, status}`` envelope."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.body = error_body(code, message, details)

    def reply(self) -> Reply:
        return Reply(self.status, self.body)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "details": details or {}, "message": message, "status": "error"}


class EntryError(Exception):
    """One record's (or one field definition's) failure inside a multi-entry write."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.body = error_body(code, message, details)


def record_id(value: Any) -> str | None:
    """The id of a record to write, as Zoho takes it: a string, or a JSON number holding the
    id (``{"id": 4150868000000225013}``); None for anything else (a boolean is no id)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    return None


def render_time(seconds: int) -> str:
    """UTC seconds → ISO-8601 in the org's time zone, as Zoho renders datetimes."""
    return datetime.fromtimestamp(seconds, _TZ).isoformat()


def parse_time(text: str) -> int | None:
    """ISO-8601 with an offset (or ``Z``), whole seconds → UTC seconds; else None."""
    if not isinstance(text, str) or not _DATETIME.match(text.strip()):
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(dt.timestamp())


def coerce(f: ZField, value: Any, path: str, known: dict[str, set[str]]) -> Any:
    """Validate one written value for ``f``; what to store (lookups: the bare id)."""
    where = {"api_name": f.api_name, "json_path": path}
    if value is None:
        if f.system_mandatory:
            raise EntryError("MANDATORY_NOT_FOUND", "required field not found", where)
        return False if f.data_type == "boolean" else None
    bad_type = EntryError("INVALID_DATA", "invalid data", {"expected_data_type": f.data_type, **where})
    t = f.data_type
    if t == "boolean":
        if not isinstance(value, bool):
            raise bad_type
        return value
    if t in ("integer", "double", "currency", "percent"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise bad_type
        if t == "integer" and not float(value).is_integer():
            raise bad_type
        digits = f.length - (f.decimal_place or 0) if f.length else 0
        if digits and abs(value) >= 10**digits:
            raise EntryError("INVALID_DATA", "invalid data", {"maximum_length": f.length, **where})
        places = 9 if f.decimal_place is None else f.decimal_place
        return int(value) if t == "integer" else round(float(value), places)
    if t in LOOKUP_TYPES:
        rid = value.get("id") if isinstance(value, dict) else None
        if not isinstance(rid, str):
            raise bad_type
        if rid not in known.get(f.lookup_module or USERS, set()):
            raise EntryError("INVALID_DATA", "the related id given seems to be invalid", where)
        return rid
    if t == "multiselectpicklist":
        if not isinstance(value, list) or any(v not in f.pick_list_values for v in value):
            raise EntryError(
                "INVALID_DATA", "invalid data", {**where, "supported_values": list(f.pick_list_values)}
            )
        return value
    if not isinstance(value, str):
        raise bad_type
    if t == "picklist" and value not in f.pick_list_values:
        raise EntryError(
            "INVALID_DATA", "invalid data", {**where, "supported_values": list(f.pick_list_values)}
        )
    if t == "date":
        try:
            if len(value) != 10:
                raise ValueError(value)
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise bad_type from None
    if t == "datetime":
        seconds = parse_time(value)
        if seconds is None:
            raise bad_type
        return seconds
    if f.length and len(value) > f.length:
        raise EntryError("INVALID_DATA", "invalid data", {"maximum_length": f.length, **where})
    return value
