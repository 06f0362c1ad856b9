"""`presales report --period P [--html FILE] [--csv DIR]`: the team report.

One set of numbers, three renderings: a self-contained HTML page (inline SVG charts, inline
CSS, no network), CSV files, and JSON. The numbers: the scorecards (leaderboard and each
engineer's metrics), first-response SLA compliance, the first-response time trend, first-pass
and win rates, and the funnel by workflow step.

- SLA: tasks requested in the period; on time when the engineer's first response (first
  sign-off or hold) came by the response deadline (rules.sla.response_due, the sales-set
  priority or the default). Still unanswered and past the deadline at `now` counts as late;
  unanswered and not yet due is left out.
- Trend: per week (per month for a year) of request, the median elapsed hours from request
  to first response.
- Funnel: tasks that moved in the period, counted at every step they reached.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from presales_sync.rules import STEP_ORDER, Step, Task
from presales_sync.rules.kpi import Period
from presales_sync.rules.sla import first_response_at, requested_at, response_due
from presales_sync.sync.config import Loaded
from presales_sync.sync.report._csv import write_rows
from presales_sync.sync.report._html import render_html
from presales_sync.sync.scoring import card_dict, compute
from presales_sync.sync.store import Store


@dataclass
class Report:
    period: str
    generated_at: str
    language: str
    scorecards: list[dict[str, Any]]
    sla: list[dict[str, Any]]
    sla_team: dict[str, Any]
    response_trend: list[dict[str, Any]]
    funnel: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "generated_at": self.generated_at, "language": self.language,
                "scorecards": self.scorecards, "sla": self.sla, "sla_team": self.sla_team,
                "response_trend": self.response_trend, "funnel": self.funnel, "settings": self.settings}


def build_report(loaded: Loaded, store: Store, period: Period, *, now: datetime) -> Report:
    names = {e: eng.name for e, eng in loaded.engineers.items()}
    cards = sorted(compute(loaded, store, period, now=now),
                   key=lambda c: (-c.score, names.get(c.engineer_id, "")))
    with store.begin() as conn:
        tasks = [st.task for st in store.all_tasks(conn).values()]
        opps = store.opportunity_values(conn, [t.opportunity_id for t in tasks])
    tz = loaded.tz
    sla, team = sla_compliance(loaded, tasks, opps, period, now=now)
    return Report(
        period=period.label, generated_at=now.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
        language=loaded.config.report.language,
        scorecards=[card_dict(c, names) for c in cards], sla=sla, sla_team=team,
        response_trend=response_trend(tasks, period, tz),
        funnel=funnel(tasks, period, tz),
        settings={"weights": {d.value: w for d, w in loaded.kpi.weights.items()}},
    )


def _in(period: Period, at: datetime, tz: ZoneInfo) -> bool:
    return period.contains(at.astimezone(tz).date())


def sla_compliance(loaded: Loaded, tasks: Iterable[Task], opps: Mapping[str, Mapping[str, Any]],
                   period: Period, *, now: datetime) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per engineer and for the team: first responses due in the period, and how many on time."""
    calendar, settings, tz = loaded.calendar(), loaded.rules, loaded.tz
    per: dict[str, list[bool]] = {}
    for task in tasks:
        start = requested_at(task)
        if start is None or not task.engineer_id or not _in(period, start, tz):
            continue
        due = response_due(task, priority=opps.get(task.opportunity_id, {}).get("priority"),
                           settings=settings, calendar=calendar)
        answered = first_response_at(task)
        if due is None or (answered is None and now <= due):
            continue
        per.setdefault(task.engineer_id, []).append(answered is not None and answered <= due)
    names = {e: eng.name for e, eng in loaded.engineers.items()}
    rows: list[dict[str, Any]] = [
        {"engineer_id": e, "engineer": names.get(e, e), "due": len(v), "on_time": sum(v),
         "rate": round(sum(v) / len(v), 3)} for e, v in per.items()]
    rows.sort(key=lambda r: (-r["rate"], r["engineer"]))
    total, ok = sum(len(v) for v in per.values()), sum(sum(v) for v in per.values())
    return rows, {"due": total, "on_time": ok, "rate": round(ok / total, 3) if total else None}


def _bucket(period: Period, day: date) -> date:
    if period.is_year:
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def response_trend(tasks: Iterable[Task], period: Period, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Median hours from request to first response, per week (per month for a year) of request."""
    hours: dict[date, list[float]] = {}
    for task in tasks:
        start, answered = requested_at(task), first_response_at(task)
        if start is None or answered is None or not _in(period, start, tz):
            continue
        key = _bucket(period, start.astimezone(tz).date())
        hours.setdefault(key, []).append((answered - start).total_seconds() / 3600)
    return [{"from": k.isoformat(), "tasks": len(v), "median_hours": round(statistics.median(v), 1)}
            for k, v in sorted(hours.items())]


def funnel(tasks: Iterable[Task], period: Period, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Tasks that moved in the period, by the furthest step they reached (counted at every step
    up to it); reworks send a task back but it has still reached Internal Review."""
    reached = dict.fromkeys(STEP_ORDER, 0)
    for task in tasks:
        if not any(_in(period, e.at, tz) for e in task.events):
            continue
        furthest = max((STEP_ORDER.index(e.to_step) for e in task.events if e.to_step is not None), default=0)
        for step in STEP_ORDER[:furthest + 1]:
            reached[step] += 1
    first = reached[Step.REQUIREMENTS] or 1
    return [{"step": s.value, "tasks": n, "share": round(n / first, 3)} for s, n in reached.items()]


def write_html(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report.as_dict()), encoding="utf-8")
    return path


def write_csv(report: Report, directory: Path) -> list[Path]:
    """One CSV per table of the report (UTF-8 with BOM so spreadsheet programs read Chinese);
    text that a spreadsheet would run as a formula is neutralised (sync.report._csv)."""
    directory.mkdir(parents=True, exist_ok=True)
    board = [{"rank": i, "engineer_id": c["engineer_id"], "engineer": c["engineer"], "score": c["score"],
              "band": c["band"], "calibrated_band": c["calibrated_band"] or "", "final_band": c["final_band"],
              **{f"{d}_score": v for d, v in c["dimensions"].items()}}
             for i, c in enumerate(report.scorecards, start=1)]
    metrics = [{"engineer_id": c["engineer_id"], "engineer": c["engineer"], "metric": m["metric"],
                "dimension": m["dimension"], "value": "" if m["value"] is None else m["value"],
                "target": m["target"], "floor": m["floor"], "score": "" if m["score"] is None else m["score"],
                "sources": " ".join(m["sources"])}
               for c in report.scorecards for m in c["metrics"]]
    tables = {"leaderboard": board, "metrics": metrics, "sla": report.sla,
              "response_trend": report.response_trend, "funnel": report.funnel}
    return [write_rows(directory / f"{name}.csv", rows) for name, rows in tables.items()]


def report_period(config_path: Path, period_text: str, *, now: datetime) -> Report:
    from presales_sync.sync import config as config_mod
    from presales_sync.sync.service import open_store

    period = Period.parse(period_text)
    loaded = config_mod.load(config_path)
    store = open_store(loaded)
    try:
        return build_report(loaded, store, period, now=now)
    finally:
        store.close()


__all__ = ["Report", "build_report", "funnel", "report_period", "response_trend", "sla_compliance",
           "write_csv", "write_html"]
