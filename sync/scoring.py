"""`presales score --period 2026Q4 | 2026`: the sync loop for engineers.

gather the period's facts from the store (task events, the opportunities' outcomes and
mapped satisfaction / recognition, imported activities) → rules.kpi scorecards → store
them (raw score, band and the manager's calibration apart) → the engineers' KPI fields on
their CRM users (the mapping's `user:` map) through the write-back path `presales sync` uses
(`sync.writeback`: ledger diff, API budget, deleted users, failure queue) → only what changed
is written. A second run writes nothing. Its run is recorded like a sync's (`sync.runs`).

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

from sqlalchemy import Connection

from presales_sync.connector import Connector
from presales_sync.mappings import outbound
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
from presales_sync.sync.budget import Budget
from presales_sync.sync.config import Loaded
from presales_sync.sync.runs import EXIT_OK, EXIT_PARTIAL, recorded_run
from presales_sync.sync.service import connector_for, open_store
from presales_sync.sync.store import ActivityRow, Store
from presales_sync.sync.writeback import FieldChange, plan_writes, write_back

#: A change to an engineer's user record is a field change like any other.
UserChange = FieldChange

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
    stopped: str | None = None  # why the write stopped early (API budget); the next run resumes

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failures or self.stopped else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period, "dry_run": self.dry_run, "exit_code": self.exit_code,
            "scorecards": [card_dict(c, self.names) for c in self.cards],
            "changes": [asdict(c) for c in self.changes],
            "written": self.written, "api_calls": self.api_calls,
            "failures": [{"record_id": r, "error_code": c, "message": m} for r, c, m in self.failures],
            "stopped": self.stopped,
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


def user_fields(loaded: Loaded) -> dict[str, str]:
    """The KPI fields on the engineer's CRM user by domain name (kpi_score, rating,
    kpi_period): the mapping's `user:` map."""
    return {name: fm.field for name, fm in loaded.mapping.user.outbound.items()}


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
    """Score, store and write back under the profile's lock, recorded like a sync run. `crm`
    may be None only for a dry run that must not touch the CRM."""
    with recorded_run(store, loaded.config.profile, "score", now=now, dry_run=dry_run,
                      api_calls=crm.api_calls if crm else dict) as record:
        report = _score(loaded, store, crm, period, now=now, dry_run=dry_run, behaviour=behaviour,
                        calibrate=calibrate, calibration_note=calibration_note)
        record.ended(report.exit_code, {"scorecards": len(report.cards), "written": report.written,
                                        **({"stopped": 1} if report.stopped else {})})
        return report


def _score(loaded: Loaded, store: Store, crm: Connector | None, period: Period, *, now: datetime,
           dry_run: bool, behaviour: Mapping[str, float] | None, calibrate: Mapping[str, Band] | None,
           calibration_note: str | None) -> ScoreReport:
    names = {e: eng.name for e, eng in loaded.engineers.items()}
    cards = compute(loaded, store, period, now=now, behaviour=behaviour, calibrate=calibrate)
    report = ScoreReport(period.label, sorted(cards, key=lambda c: (-c.score, names.get(c.engineer_id, ""))),
                         names, dry_run=dry_run)
    users = loaded.mapping.user
    desired = {c.engineer_id: outbound(users, {"kpi_score": c.score, "rating": c.final_band.value,
                                               "kpi_period": period.label}) for c in cards}
    with store.begin() as conn:
        planned = plan_writes(desired, store.ledger(conn, users.object, desired), names)
        if not dry_run:
            _save_scores(store, conn, period, cards, names, now, behaviour=behaviour, calibrate=calibrate,
                         calibration_note=calibration_note)
    report.changes = planned.shown
    if not dry_run and planned.changes:
        if crm is None:
            raise ValueError("a CRM connection is needed to write scores")
        done = write_back(crm, store, users.object, planned.changes, now=now,
                          budget=Budget(crm, loaded.config.sync.api_budget))
        report.failures = [(i, "DELETED", why) for i, why in done.gone] + done.failed
        report.written = len(done.written)
        report.stopped = str(done.stopped) if done.stopped else None
    report.api_calls = crm.api_calls() if crm else {}
    return report


def _save_scores(store: Store, conn: Connection, period: Period, cards: Iterable[Scorecard],
                 names: Mapping[str, str], now: datetime, *, behaviour: Mapping[str, float] | None,
                 calibrate: Mapping[str, Band] | None, calibration_note: str | None) -> None:
    """Keep the period's scorecards: raw score and band, the manager's inputs apart."""
    for c in cards:
        row: dict[str, Any] = {"raw_score": c.score, "kpi_score": c.kpi, "band": c.band.value,
                               "detail": card_dict(c, names)}
        if behaviour and c.engineer_id in behaviour:
            row["behaviour_score"] = behaviour[c.engineer_id]
        if calibrate and c.engineer_id in calibrate:
            row["calibrated_band"] = calibrate[c.engineer_id].value
            row["calibration_note"] = calibration_note
        store.save_kpi_score(conn, period.label, c.engineer_id, row, now)


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


__all__ = ["ScoreReport", "UserChange", "card_dict", "compute", "gather_facts", "run_score",
           "score_period", "user_fields"]
