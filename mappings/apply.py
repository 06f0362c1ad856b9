"""Applying a mapping: pure functions from CRM field values to domain values and back.

Both directions go through `canonical`, so a value we wrote and the same value read back
(``1`` vs ``1.0``, ``…Z`` vs ``….000+0000``) compare equal: that is what lets the sync
recognise its own echo.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from presales_sync.mappings.model import FieldMap, FieldType, ObjectMap


class ValueError_(ValueError):
    """A CRM value that does not fit its mapped type (names the field, not the value)."""


def _parse_datetime(value: str, timezone: str | None = None) -> datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" not in text[-5:]:
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 -> +00:00
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        if timezone is None:
            raise ValueError("datetime without a time zone (set timezone: on the mapping)")
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return parsed


#: The longest CRM text value we keep (Salesforce's Long Text Area holds 131,072 characters,
#: Zoho's multi-line fields fewer). A longer one is refused with the field's name; a mapping
#: entry raises it with `max_length:`.
MAX_TEXT_LENGTH = 131_072
#: Integers are stored in 64-bit columns (SQLite, PostgreSQL BIGINT).
MAX_INTEGER = 2**63 - 1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str, *, max_length: int | None = None) -> str:
    """`text` as the store can keep it: NUL (which PostgreSQL text cannot hold) and lone
    surrogates (which UTF-8 cannot encode) become U+FFFD; longer than the limit is refused."""
    limit = max_length or MAX_TEXT_LENGTH
    if len(text) > limit:
        raise ValueError(f"text of {len(text):,} characters is longer than the limit of {limit:,} "
                         "(raise it with max_length: on this mapping entry)")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = _LONE_SURROGATE.sub("\ufffd", text)
    return text


def _finite(value: Any) -> float:
    """A finite float from a CRM number (JSON, CSV text or a number), else ValueError:
    Infinity, NaN and 1e999 are not values a CRM number field holds."""
    if isinstance(value, bool | dict | list):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("number out of range") from None
    if not math.isfinite(number):
        raise ValueError("not a finite number (Infinity or NaN)")
    return number


def canonical(kind: FieldType, value: Any, *, scale: int | None = None,
              timezone: str | None = None, precision: str = "second",
              max_length: int | None = None) -> Any:
    """The one comparable form of `value` for a field of type `kind`.

    Empty text is None: Salesforce stores an empty string as null, so "" and None are the
    same CRM state. `0` and `False` stay what they are."""
    if value is None:
        return None
    if kind in ("string", "id", "user"):
        if isinstance(value, dict | list):
            raise ValueError(f"expected text, got {'an object' if isinstance(value, dict) else 'a list'}")
        text = clean_text(str(value), max_length=max_length)
        return text if text != "" else None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"expected a boolean, got {type(value).__name__}")
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):  # exact: no float round trip
            if abs(value) > MAX_INTEGER:
                raise ValueError(f"whole number out of range (at most ±{MAX_INTEGER:,})")
            return value
        number = _finite(value)
        if number != int(number):
            raise ValueError("expected a whole number")
        if abs(number) > MAX_INTEGER:
            raise ValueError(f"whole number out of range (at most ±{MAX_INTEGER:,})")
        return int(number)
    if kind == "number":
        number = _finite(value)
        return round(number, scale) if scale is not None else number
    if kind == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return date.fromisoformat(str(value)[:10]).isoformat()
    if kind == "datetime":
        parsed = value if isinstance(value, datetime) else _parse_datetime(str(value), timezone)
        if parsed.tzinfo is None:
            if timezone is None:
                raise ValueError("datetime without a time zone (set timezone: on the mapping)")
            parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
        try:
            utc = parsed.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last UTC moment
            raise ValueError("datetime out of range") from None
        if precision == "second":
            utc = utc.replace(microsecond=0)
        return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    raise ValueError(f"unknown field type {kind}")


def _to_crm(fm: FieldMap, value: Any) -> Any:
    value = _canon(fm, value)
    if value is not None and fm.values:
        value = fm.values.get(str(value), value)
    return value


def _from_crm(fm: FieldMap, value: Any) -> Any:
    if fm.true_values:
        return None if value is None else str(value) in fm.true_values
    if value is not None and fm.values:
        reverse = {crm: domain for domain, crm in fm.values.items()}
        value = reverse.get(str(value), value)
    return _canon(fm, value)


def _canon(fm: FieldMap, value: Any) -> Any:
    return canonical(fm.type, value, scale=fm.scale, timezone=fm.timezone, precision=fm.precision,
                     max_length=fm.max_length)


_PYTHON_TYPES: dict[str, type] = {
    "string": str, "id": str, "user": str, "boolean": bool, "number": float, "integer": int,
    "date": date, "datetime": datetime,
}


def inbound_types(objmap: ObjectMap) -> dict[str, type]:
    """Domain name → Python type of every inbound value (the typed context of rule expressions)."""
    return {name: _PYTHON_TYPES[fm.type] for name, fm in objmap.inbound.items()}


def typed(objmap: ObjectMap, values: Mapping[str, Any]) -> dict[str, Any]:
    """Inbound domain values as Python objects (canonical dates and datetimes are text)."""
    out = dict(values)
    for name, fm in objmap.inbound.items():
        value = out.get(name)
        if isinstance(value, str) and fm.type == "date":
            out[name] = date.fromisoformat(value)
        elif isinstance(value, str) and fm.type == "datetime":
            out[name] = _parse_datetime(value, fm.timezone)
    return out


def read_fields(objmap: ObjectMap) -> list[str]:
    """CRM fields to read: every inbound field, plus outbound ones (to observe the CRM's
    current value of what we own)."""
    names: dict[str, None] = {}
    for fm in (*objmap.inbound.values(), *objmap.outbound.values()):
        names.setdefault(fm.field, None)
    return list(names)


def inbound(objmap: ObjectMap, record: Mapping[str, Any]) -> dict[str, Any]:
    """Domain values from one raw CRM record. An absent field takes the mapping's default;
    a present null stays None."""
    out: dict[str, Any] = {}
    for name, fm in objmap.inbound.items():
        if fm.field not in record:
            out[name] = fm.default
            continue
        try:
            value = _from_crm(fm, record[fm.field])
        except (TypeError, ValueError) as err:
            raise ValueError_(f"{fm.field}: {err}") from None
        out[name] = fm.default if value is None and fm.default is not None else value
    return out


def observed(objmap: ObjectMap, record: Mapping[str, Any]) -> dict[str, Any]:
    """The CRM's current values of the outbound fields present in `record`, canonical,
    keyed by CRM field name (what the write-back ledger compares against)."""
    out: dict[str, Any] = {}
    for fm in objmap.outbound.values():
        if fm.field in record:
            try:
                out[fm.field] = _canon(fm, record[fm.field])
            except (TypeError, ValueError) as err:
                raise ValueError_(f"{fm.field}: {err}") from None
    return out


def outbound(objmap: ObjectMap, values: Mapping[str, Any],
             only: Iterable[str] | None = None) -> dict[str, Any]:
    """CRM field values for domain `values` (keys absent from `values` are not written)."""
    wanted = set(only) if only is not None else None
    out: dict[str, Any] = {}
    for name, fm in objmap.outbound.items():
        if name in values and (wanted is None or name in wanted):
            out[fm.field] = _to_crm(fm, values[name])
    return out


__all__ = ["ValueError_", "canonical", "inbound", "inbound_types", "observed", "outbound", "read_fields",
           "typed"]
