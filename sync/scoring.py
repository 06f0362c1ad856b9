"""`presales score --period 2026Q4 | 2026`: the sync loop for engineers.

gather the period's facts from the store (task events, the opportunities' outcomes and
mapped satisfaction / recognition, imported activities) → rules.kpi scorecards → store
them (raw score, band and the manager's calibration apart) → diff the engineers' User KPI
fields against the write-back ledger → write only what changed. A second run writes nothing.

Who a task counts for: its engineer, and every roster engineer who signed off one of its
steps. A project counts in a quarter when its task moved in that quarter (any event); a
deal counts for the win rate, satisfaction and recognition in the quarter its task closed
(a task finished before its deal closed: the deal's close date);
the first-pass rate takes each task's first internal review, in the quarter it happened;
every rework counts in its quarter. Quarters run in the configured time zone.

The year (the annual rule, rules/kpi.py) is built from the quarters of the year that have
begun, in which the team has any fact (before the tool was used there is nothing to rate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from presales_sync.connector import Connector, RecordChange
from presales_sync.mappings.fields import PLUGIN_FIELDS, PluginFields
from presales_sync.mappings.load import load_model
from presales_sync.rules import EventKind, Task
from presales_sync.rules.kpi import (
    ACTIVITY_METRIC,
    Band,
    Fact,
    Metric,
    Period,
    Scorecard,
    score_quarter,
    score_year,
)
from presales_sync.sync import config as config_mod
from presales_sync.sync.config import Loaded
from presales_sync.sync.engine import EXIT_OK, EXIT_PARTIAL
from presales_sync.sync.ledger import diff
from presales_sync.sync.service import connector_for, open_store
from presales_sync.sync.store import ActivityRow, Store

USER_OBJECT = "User"

EngineerFacts = dict[str, dict[Metric, list[Fact]]]


def gather_facts(tasks: Iterable[Task], opportunities: Mapping[str, Mapping[str, Any]],
                 activities: Iterable[tuple[int, ActivityRow]], period: Period, tz: ZoneInfo,
                 engineers: Iterable[str]) -> EngineerFacts:
    """Facts per engineer for one quarter (see the module docstring for who counts where)."""
    roster = set(engineers)
    out: EngineerFacts = {e: {} for e in roster}

    def add(engineer: str | None, metric: Metric, fact: Fact) -> None:
        if engineer in roster:
            out[engineer].setdefault(metric, []).append(fact)

    def inside(at: datetime) -> bool:
        return period.contains(at.astimezone(tz).date())

    for task in tasks:
        opp = task.opportunity_id
        values = opportunities.get(opp, {})
        workers = sorted({task.engineer_id or "", *(e.actor for e in task.events
                                                    if e.kind is EventKind.SIGNED_OFF)} & roster)
        if any(inside(e.at) for e in task.events):
            for w in workers:
                add(w, Metric.PROJECTS, Fact(opp))
        reviews = [e for e in task.events if e.kind is EventKind.REVIEWED]
        if reviews and inside(reviews[0].at):
            passed = 1.0 if reviews[0].outcome == "pass" else 0.0
            add(task.engineer_id, Metric.FIRST_PASS_RATE, Fact(opp, passed))
        for e in reviews:
            if e.outcome == "rework" and inside(e.at):
                add(task.engineer_id, Metric.REWORK_COUNT, Fact(f"{opp}@{e.at.astimezone(tz):%Y-%m-%d}"))
        outcome = _closing(task, values, period, tz)
        if outcome is None:
            continue
        satisfaction = values.get("satisfaction")
        for w in workers:
            add(w, Metric.WIN_RATE, Fact(opp, 1.0 if outcome == "won" else 0.0))
            if satisfaction is not None:
                add(w, Metric.SATISFACTION, Fact(opp, float(satisfaction)))
            if values.get("recognition"):
                add(w, Metric.RECOGNITION, Fact(opp))
    for activity_id, a in activities:
        if period.contains(a.day):
            add(a.engineer_id, ACTIVITY_METRIC[a.kind], Fact(f"activity {activity_id}: {a.title}"))
    return out


def _closing(task: Task, values: Mapping[str, Any], period: Period, tz: ZoneInfo) -> str | None:
    """"won" / "lost" when the deal closed in the period, else None: the task's closed event,
    or, for a task finished (Done) before the deal closed, the opportunity's close date."""
    closed = next((e for e in task.events if e.kind is EventKind.CLOSED), None)
    if closed is not None:
        return closed.outcome if period.contains(closed.at.astimezone(tz).date()) else None
    day = values.get("close_date")
    if not values.get("is_closed") or not day or not period.contains(date.fromisoformat(str(day)[:10])):
        return None
    return "won" if values.get("is_won") else "lost"


@dataclass(frozen=True, slots=True)
class UserChange:
    record_id: str
    name: str
    field: str
    old: Any
    new: Any


@dataclass
class ScoreReport:
    period: str
    cards: list[Scorecard]
    names: dict[str, str]
    changes: list[UserChange] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    written: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failures else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period, "dry_run": self.dry_run, "exit_code": self.exit_code,
            "scorecards": [card_dict(c, self.names) for c in self.cards],
            "changes": [asdict(c) for c in self.changes],
            "written": self.written, "api_calls": self.api_calls,
            "failures": [{"record_id": r, "error_code": c, "message": m} for r, c, m in self.failures],
        }


def card_dict(card: Scorecard, names: Mapping[str, str]) -> dict[str, Any]:
    """A scorecard as plain JSON-able values (stored as the score's detail and exported)."""
    return {
        "engineer_id": card.engineer_id, "engineer": names.get(card.engineer_id, card.engineer_id),
        "period": card.period, "score": card.score, "kpi": card.kpi, "behaviour": card.behaviour,
        "band": card.band.value, "calibrated_band": card.calibrated.value if card.calibrated else None,
        "final_band": card.final_band.value, "quarters": card.quarters,
        "dimensions": {d.value: round(v, 1) for d, v in card.dimensions.items()},
        "metrics": [{"metric": m.metric.value, "dimension": m.dimension.value, "value": m.value,
                     "score": None if m.score is None else round(m.score, 1), "target": m.target,
                     "floor": m.floor, "sources": list(m.sources)} for m in card.metrics],
    }


def user_fields(crm: str = "salesforce") -> dict[str, str]:
    """The User KPI fields by domain name (kpi_score, rating, kpi_period), from plugin_fields.yaml
    (Zoho's names have no ``__c``)."""
    catalogue = load_model(PLUGIN_FIELDS, PluginFields)
    return {name: f.name.removesuffix("__c") if crm == "zoho" else f.name
            for name, f in catalogue.objects[USER_OBJECT].items()}


def _quarters_to_rate(period: Period, now: datetime, tz: ZoneInfo,
                      facts: Mapping[str, EngineerFacts]) -> list[str]:
    today = now.astimezone(tz).date()
    return [q.label for q in period.quarters()
            if q.start <= today and any(any(m for m in f.values()) for f in facts[q.label].values())]


def compute(loaded: Loaded, store: Store, period: Period, *, now: datetime,
            behaviour: Mapping[str, float] | None = None,
            calibrate: Mapping[str, Band] | None = None) -> list[Scorecard]:
    """The period's scorecards for the roster (the manager's inputs: given ones win over
    stored ones). Engineers off the roster are scored only when they have facts."""
    settings, tz = loaded.kpi, loaded.tz
    ids = sorted(loaded.engineers)
    with store.begin() as conn:
        tasks = [st.task for st in store.all_tasks(conn).values()]
        opps = store.opportunity_values(conn, [t.opportunity_id for t in tasks])
        stored = {q.label: store.kpi_scores(conn, q.label) for q in (*period.quarters(), period)}
        facts = {q.label: gather_facts(tasks, opps, store.activities(conn, q.start, q.end), q, tz, ids)
                 for q in period.quarters()}

    def inputs(label: str, engineer: str) -> tuple[float | None, Band | None]:
        row = stored[label].get(engineer, {})
        b = (behaviour or {}).get(engineer) if label == period.label else None
        c = (calibrate or {}).get(engineer) if label == period.label else None
        cal = c or (Band(row["calibrated_band"]) if row.get("calibrated_band") else None)
        return (b if b is not None else row.get("behaviour_score")), cal

    quarterly: dict[str, list[Scorecard]] = {}
    for q in period.quarters():
        cards = []
        for e in ids:
            b, c = inputs(q.label, e)
            cards.append(score_quarter(e, q, facts[q.label][e], settings, behaviour=b, calibrated=c))
        quarterly[q.label] = cards
    if not period.is_year:
        cards = quarterly[period.label]
    else:
        rated = _quarters_to_rate(period, now, tz, facts)
        if not rated:
            raise ValueError(f"nothing to rate in {period}: no quarter of it has begun with recorded work")
        cards = [score_year(e, period, [c for q in rated for c in quarterly[q] if c.engineer_id == e],
                            settings, calibrated=inputs(period.label, e)[1]) for e in ids]
    return [c for c in cards if loaded.engineers[c.engineer_id].active or _has_facts(c, facts)]


def _has_facts(card: Scorecard, facts: Mapping[str, EngineerFacts]) -> bool:
    return any(any(m for m in f[card.engineer_id].values()) for f in facts.values())


def run_score(loaded: Loaded, store: Store, crm: Connector | None, period: Period, *, now: datetime,
              dry_run: bool = False, behaviour: Mapping[str, float] | None = None,
              calibrate: Mapping[str, Band] | None = None,
              calibration_note: str | None = None) -> ScoreReport:
    """Score, store and write back under the profile's lock. `crm` may be None only for a
    dry run that must not touch the CRM."""
    profile = loaded.config.profile
    store.acquire_lock(profile, now)
    run_id = store.start_run(profile, "score", now, dry_run)
    report: ScoreReport | None = None
    error: str | None = None
    try:
        report = _score(loaded, store, crm, period, now=now, dry_run=dry_run, behaviour=behaviour,
                        calibrate=calibrate, calibration_note=calibration_note)
        return report
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
        raise
    finally:
        counts = {"scorecards": len(report.cards), "written": report.written} if report else {}
        store.finish_run(run_id, now=datetime.now(now.tzinfo), exit_code=report.exit_code if report else 3,
                         counts=counts, api_calls=crm.api_calls() if crm else {}, error=error)
        store.release_lock(profile)


def _score(loaded: Loaded, store: Store, crm: Connector | None, period: Period, *, now: datetime,
           dry_run: bool, behaviour: Mapping[str, float] | None, calibrate: Mapping[str, Band] | None,
           calibration_note: str | None) -> ScoreReport:
    names = {e: eng.name for e, eng in loaded.engineers.items()}
    cards = compute(loaded, store, period, now=now, behaviour=behaviour, calibrate=calibrate)
    report = ScoreReport(period.label, sorted(cards, key=lambda c: (-c.score, names.get(c.engineer_id, ""))),
                         names, dry_run=dry_run)
    fields = user_fields(loaded.config.crm.kind)
    desired = {c.engineer_id: {fields["kpi_score"]: c.score, fields["rating"]: c.final_band.value,
                               fields["kpi_period"]: period.label} for c in cards}
    with store.begin() as conn:
        ledger = store.ledger(conn, USER_OBJECT, desired)
        if not dry_run:
            for c in cards:
                row: dict[str, Any] = {"raw_score": c.score, "kpi_score": c.kpi, "band": c.band.value,
                                       "detail": card_dict(c, names)}
                if behaviour and c.engineer_id in behaviour:
                    row["behaviour_score"] = behaviour[c.engineer_id]
                if calibrate and c.engineer_id in calibrate:
                    row["calibrated_band"] = calibrate[c.engineer_id].value
                    row["calibration_note"] = calibration_note
                store.save_kpi_score(conn, period.label, c.engineer_id, row, now)
    changes: list[RecordChange] = []
    for engineer, want in desired.items():
        known = ledger.get(engineer, {})
        delta = diff(want, known)
        if delta:
            changes.append(RecordChange(engineer, delta))
            report.changes += [UserChange(engineer, names.get(engineer, engineer), f, known.get(f), v)
                               for f, v in delta.items()]
    if dry_run or not changes:
        report.api_calls = crm.api_calls() if crm else {}
        return report
    if crm is None:
        raise ValueError("a CRM connection is needed to write scores")
    results = crm.write(object_name=USER_OBJECT, changes=changes)
    by_id = {c.id: c for c in changes}
    with store.begin() as conn:
        ok = []
        for res in results:
            if res.ok:
                store.set_ledger(conn, USER_OBJECT, res.id, by_id[res.id].fields, now)
                ok.append(res.id)
            else:
                store.record_failure(conn, USER_OBJECT, res.id, res.error_code, res.message, now)
                report.failures.append((res.id, res.error_code or "", res.message or ""))
        store.clear_failures(conn, USER_OBJECT, ok)
    report.written = len(ok)
    report.api_calls = crm.api_calls()
    return report




def score_period(config_path: Path, env: Mapping[str, str], period_text: str, *, dry_run: bool = False,
                 behaviour: Mapping[str, float] | None = None, calibrate: Mapping[str, str] | None = None,
                 calibration_note: str | None = None, now: datetime | None = None) -> ScoreReport:
    """Load everything (bad period, config or manager input → ValueError / FileProblems before
    any I/O), then score; a dry run never contacts the CRM."""
    period = Period.parse(period_text)
    loaded = config_mod.load(config_path)
    bands = {}
    for who, value in (calibrate or {}).items():
        try:
            bands[_engineer_id(loaded, who)] = Band(value)
        except ValueError:
            raise ValueError(f"--calibrate {who}={value}: the band must be one of "
                             + ", ".join(b.value for b in Band)) from None
    marks = {_engineer_id(loaded, who): v for who, v in (behaviour or {}).items()}
    store = open_store(loaded)
    try:
        crm = None if dry_run else connector_for(loaded, env)
        return run_score(loaded, store, crm, period, now=now or datetime.now(UTC), dry_run=dry_run,
                         behaviour=marks, calibrate=bands, calibration_note=calibration_note)
    finally:
        store.close()


def _engineer_id(loaded: Loaded, who: str) -> str:
    if who in loaded.engineers:
        return who
    for e in loaded.engineers.values():
        if e.name.casefold() == who.casefold():
            return e.crm_user_id
    raise ValueError(f"'{who}' is not an engineer of the roster (use the CRM user id or the name)")


__all__ = ["USER_OBJECT", "ScoreReport", "UserChange", "card_dict", "compute", "gather_facts", "run_score",
           "score_period", "user_fields"]
