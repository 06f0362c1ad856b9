"""Fault injection for reliability tests: a *fault plan* says which calls misbehave and how.

The plan is vendor-neutral. It decides *what* happens to a call (the kind, how often, after
how many calls, to which endpoint family and which records); each CRM's API renders the
fault in its own wire format (Salesforce: 403 ``REQUEST_LIMIT_EXCEEDED``, 401
``INVALID_SESSION_ID``, per-record ``UNABLE_TO_LOCK_ROW``; Zoho: 429, ``INVALID_TOKEN``, …).
A CRM's API asks `FaultPlan.take(crm, family, records)` once per request, before doing it.

Kinds:

``rate_limit``       the org's API allowance is spent (Salesforce 403 / Zoho 429)
``server_error``     a 5xx answer (``status=500`` or ``503``); ``times=3`` makes a burst
``session_expired``  the session presented is revoked: this call and every later one with
                     it get 401, until the client logs in again (JWT / refresh token)
``lock_row``         the listed records (``records=id|id``) fail with a row lock in a write
                     (sObject Collections, one-record PATCH, Bulk 2.0 ingest rows; Zoho's
                     record and user writes)
``latency``          the answer is delayed by ``seconds``
``lost_response``    the request is carried out (a write is committed), then the connection
                     is dropped before the client hears the answer

A rule fires on the matching calls numbered ``after+1`` … ``after+times`` (``times=0``: on
every matching call from then on). ``family`` limits it to one endpoint family as counted in
``/_sandbox/stats`` (``query``, ``composite_sobjects``, ``oauth_token``, …), ``crm`` to one
CRM of the sandbox.

Set a plan with ``presales sandbox serve --faults SPEC``, ``POST /_sandbox/faults`` (a SPEC
string or a JSON list of rules), or `Sandbox.faults.set(...)` in-process. SPEC is rules
separated by ``;``, each ``kind[@family][:key=value,...]``, e.g.
``rate_limit@composite_sobjects:after=1;server_error:status=503,times=3;latency:seconds=0.5``.
``GET /_sandbox/faults`` shows the plan and how often each rule fired;
``DELETE /_sandbox/faults`` clears it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

FaultKind = Literal["rate_limit", "server_error", "session_expired", "lock_row", "latency", "lost_response"]
KINDS: tuple[str, ...] = get_args(FaultKind)
#: Kinds that replace the answer with an error (at most one of them applies to a call).
ERROR_KINDS = frozenset({"rate_limit", "server_error", "session_expired"})
_KEYS = frozenset({"family", "crm", "after", "times", "status", "seconds", "records"})
MAX_LATENCY = 120.0


class FaultSpecError(ValueError):
    """A fault plan that cannot be understood; the message says which rule and why."""


@dataclass(frozen=True)
class FaultRule:
    kind: FaultKind
    family: str | None = None
    crm: str | None = None
    after: int = 0
    times: int = 1
    status: int = 503
    seconds: float = 0.0
    records: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {self.kind!r}; expected one of: {', '.join(KINDS)}")
        if self.after < 0 or self.times < 0:
            raise FaultSpecError(f"{self.kind}: after and times must be 0 or more")
        if self.kind == "server_error" and not 500 <= self.status <= 599:
            raise FaultSpecError(f"server_error: status must be a 5xx code, got {self.status}")
        if self.kind == "latency" and not 0 < self.seconds <= MAX_LATENCY:
            raise FaultSpecError(f"latency: seconds must be within (0, {MAX_LATENCY:g}], got {self.seconds}")
        if self.kind == "lock_row" and not self.records:
            raise FaultSpecError("lock_row: name the records to lock (records=id|id)")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["records"] = sorted(self.records)
        return d


@dataclass
class Injection:
    """What the API must do to one call. `error` is the kind that replaces the answer."""

    error: FaultRule | None = None
    delay: float = 0.0
    drop: bool = False
    locked: frozenset[str] = frozenset()

    @property
    def any(self) -> bool:
        return bool(self.error or self.delay or self.drop or self.locked)


@dataclass
class _Slot:
    rule: FaultRule
    seen: int = 0
    fired: int = 0


@dataclass
class FaultPlan:
    """The current plan, shared by every request thread of a sandbox."""

    _slots: list[_Slot] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, rules: Iterable[FaultRule]) -> None:
        with self._lock:
            self._slots = [_Slot(r) for r in rules]

    def clear(self) -> None:
        self.set(())

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**s.rule.as_dict(), "seen": s.seen, "fired": s.fired} for s in self._slots]

    def take(self, crm: str, family: str, records: Sequence[str] = ()) -> Injection:
        """The faults for one call of `family` to `crm` (touching `records`, for writes)."""
        out = Injection()
        with self._lock:
            for slot in self._slots:
                rule = slot.rule
                if rule.crm not in (None, crm) or rule.family not in (None, family):
                    continue
                hit = rule.records & set(records) if rule.kind == "lock_row" else frozenset()
                if rule.kind == "lock_row" and not hit:
                    continue
                slot.seen += 1
                if slot.seen <= rule.after or (rule.times and slot.fired >= rule.times):
                    continue
                if rule.kind in ERROR_KINDS and out.error is not None:
                    continue  # one error per answer: the first rule that fires wins
                slot.fired += 1
                if rule.kind in ERROR_KINDS:
                    out.error = rule
                elif rule.kind == "latency":
                    out.delay += rule.seconds
                elif rule.kind == "lost_response":
                    out.drop = True
                else:
                    out.locked = out.locked | hit
        return out


def parse_spec(spec: str) -> list[FaultRule]:
    """``kind[@family][:key=value,...];...`` → rules (`FaultSpecError` on anything else)."""
    rules = []
    for n, part in enumerate(p.strip() for p in spec.split(";")):
        if not part:
            continue
        head, _, options = part.partition(":")
        kind, _, family = head.strip().partition("@")
        values: dict[str, Any] = {"kind": kind.strip()}
        if family.strip():
            values["family"] = family.strip()
        for item in filter(None, (o.strip() for o in options.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise FaultSpecError(f"fault rule {n + 1} ({part}): expected key=value, got {item!r}")
            values[key.strip()] = value.strip()
        rules.append(rule_from(values, where=f"fault rule {n + 1} ({part})"))
    return rules


def rule_from(values: Mapping[str, Any], *, where: str = "fault rule") -> FaultRule:
    """One rule from a mapping of strings or JSON values."""
    unknown = set(values) - _KEYS - {"kind"}
    if unknown:
        raise FaultSpecError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                             f"expected: {', '.join(sorted(_KEYS))}")
    if "kind" not in values:
        raise FaultSpecError(f"{where}: no kind")
    try:
        records = values.get("records") or ()
        if isinstance(records, str):
            records = [r for r in records.split("|") if r]
        return FaultRule(
            kind=values["kind"],
            family=_opt_str(values.get("family")),
            crm=_opt_str(values.get("crm")),
            after=int(values.get("after", 0)),
            times=int(values.get("times", 1)),
            status=int(values.get("status", 503)),
            seconds=float(values.get("seconds", 0.0)),
            records=frozenset(str(r) for r in records),
        )
    except FaultSpecError as err:
        raise FaultSpecError(f"{where}: {err}") from None
    except (TypeError, ValueError) as err:
        raise FaultSpecError(f"{where}: {err}") from None


def rules_from_json(body: Any) -> list[FaultRule]:
    """``[{"kind": …}, …]``, ``{"faults": [...]}`` or ``{"spec": "…"}`` → rules."""
    if isinstance(body, Mapping) and isinstance(body.get("spec"), str):
        return parse_spec(body["spec"])
    if isinstance(body, Mapping) and "faults" in body:
        body = body["faults"]
    if not isinstance(body, list) or not all(isinstance(r, Mapping) for r in body):
        raise FaultSpecError('expected a list of rules, {"faults": [...]} or {"spec": "..."}')
    return [rule_from(r, where=f"fault rule {i + 1}") for i, r in enumerate(body)]


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


__all__ = ["KINDS", "FaultKind", "FaultPlan", "FaultRule", "FaultSpecError", "Injection", "parse_spec",
           "rule_from", "rules_from_json"]
