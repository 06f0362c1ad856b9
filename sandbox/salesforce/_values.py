"""Conversions between stored SQLite values, Salesforce JSON values and ids.

Datetimes are stored as UTC milliseconds (exact, indexable, comparable with SOQL literals
without string games) and rendered the way the REST API does (``…T08:15:02.000+0000``).
What is stored is always a whole second, as in a real org: a DateTime field has a precision
of one second and Salesforce drops the milliseconds of a written value (Object Reference,
Primitive Data Types: "full timestamps with a precision of one second"), and system stamps
such as ``SystemModstamp`` read ``.000`` too.
Ids are 15 significant characters plus Salesforce's 3-character case-safety suffix, so
clients that validate ids (or convert 15 ⇄ 18) accept ours.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from presales_sync.sandbox.salesforce._catalog import FieldDef

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def id_suffix(id15: str) -> str:
    """Salesforce's case-safe suffix: one char per 5-char chunk, bit i set for an uppercase char."""
    out = []
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out.append(_SUFFIX[bits])
    return "".join(out)


def make_id(prefix: str, number: int, pod: str = "Dn") -> str:
    """The ``number``-th id of an object: prefix + pod + reserved 0 + 9 base-62 digits + suffix."""
    digits = []
    n = number
    for _ in range(9):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    id15 = f"{prefix}{pod}0{''.join(reversed(digits))}"
    return id15 + id_suffix(id15)


def normalize_id(value: str) -> str | None:
    """An 18-char id for a 15- or 18-char id (None if malformed)."""
    if not ID_RE.match(value):
        return None
    id15 = value[:15]
    return id15 + id_suffix(id15)


def ms_to_sf(ms: int) -> str:
    """UTC milliseconds → ``YYYY-MM-DDThh:mm:ss.SSS+0000``."""
    dt = datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=(ms % 1000) * 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def whole_second(ms: int) -> int:
    """UTC milliseconds floored to the second: what a Salesforce DateTime keeps."""
    return ms - ms % 1000


def dt_to_ms(dt: datetime) -> int:
    """An aware datetime → UTC milliseconds (floored, exact: no float rounding)."""
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def to_json(f: FieldDef, raw: Any) -> Any:
    """A stored value as the REST API renders it."""
    if raw is None:
        return None
    if f.type == "datetime":
        return ms_to_sf(int(raw))
    if f.type == "boolean":
        return bool(raw)
    if f.type in ("double", "currency", "percent"):
        return float(raw)
    if f.type == "int":
        return int(raw)
    return raw


_ISO_DT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_datetime(text: str) -> int | None:
    """An ISO-8601 datetime (``Z``, ``+hh:mm``, ``+hhmm`` or naive = UTC) → UTC ms, else None."""
    m = _ISO_DT.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        zone: timezone = UTC
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            digits = tz[1:].replace(":", "")
            zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), 0, zone)
    except ValueError:
        return None
    ms = int((frac or "0")[:3].ljust(3, "0"))
    return int(dt.timestamp()) * 1000 + ms


class WriteValueError(Exception):
    """A value a field can't hold; ``code`` is the per-record statusCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def to_storage(f: FieldDef, value: Any) -> Any:
    """Validate one JSON value written to ``f`` and return what to store.

    Reference targets are checked by the caller (it needs the database)."""
    if value is None:
        if not f.nillable:
            if f.type == "boolean":  # a checkbox set to null becomes false, as in Salesforce
                return 0
            raise WriteValueError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{f.name}]")
        return None
    bad = WriteValueError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.label}: value not of required type: {value}"
    )
    if f.type == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise bad
    if f.type in ("double", "currency", "percent", "int"):
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise bad from None
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise bad
        if f.precision:
            limit = 10 ** (f.precision - f.scale)
            if abs(round(value, f.scale)) >= limit:
                raise WriteValueError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{f.label}: value outside of valid range on numeric field: {value}",
                )
        return int(value) if f.type == "int" else float(round(value, f.scale) if f.precision else value)
    if not isinstance(value, str):
        raise bad
    if f.type == "date":
        if len(value) != 10:
            raise bad
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise bad from None
    if f.type == "datetime":
        ms = parse_datetime(value)
        if ms is None:
            raise bad
        return whole_second(ms)  # the org drops milliseconds on write
    if f.type == "reference":
        norm = normalize_id(value)
        if norm is None:
            raise WriteValueError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}")
        return norm
    if f.type == "picklist" and f.restricted_picklist and value not in f.picklist_values:
        raise WriteValueError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{f.label}: bad value for restricted picklist field: {value}",
        )
    if f.length and len(value) > f.length:
        raise WriteValueError(
            "STRING_TOO_LONG", f"{f.label}: data value too large: {value[:40]} (max length={f.length})"
        )
    return value
