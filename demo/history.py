"""The demo's history: seven weeks of presales work replayed in the sandbox before the
present-day syncs, so every KPI metric has something to show.

Every step goes the way it would in production: people act in the CRM with their own
sessions (sales tick "request presales" and later close the deal with a satisfaction score;
engineers sign off and reviewers pass or send back with action records), and the real sync
engine picks the changes up. The sandbox's clock stands at the simulated moments
(`people.DemoClock`), so the CRM stamps every record when the work happened and the task
events carry those times. Deterministic: one `random.Random` drives every choice.

Rounds fall on every third working day at 10:00 (requests, reviews, later steps, deals
closed) and 14:00 (quick first responses: a response four hours after the request is on time
for P2, one at the next round is late)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

from presales_sync.connector import RecordChange, WriteResult
from presales_sync.demo.people import Act, DemoClock
from presales_sync.rules import Command, Status, Step
from presales_sync.rules.kpi import ACTIVITY_METRIC
from presales_sync.sync import config as config_mod
from presales_sync.sync.engine import SyncReport, run_sync
from presales_sync.sync.service import connector_for, open_store

EditAs = Callable[[str, str, list[RecordChange]], list[WriteResult]]
ActAs = Callable[[str, list[Act]], None]
REWORK_NOTES = ("the sizing misses the DR site", "price the support tiers separately",
                "the migration plan needs a rollback step", "security review: add the data flow diagram")
Say = Callable[[str], None]

HISTORY_DAYS = 49
ROUND_EVERY = 3  # working days


def round_days(today: date, is_working_day: Callable[[date], bool]) -> list[date]:
    """Every third working day (on the company's calendar) of the seven weeks before `today`."""
    days = [today - timedelta(days=n) for n in range(HISTORY_DAYS, 0, -1)]
    return [d for d in days if is_working_day(d)][::ROUND_EVERY]


def replay(loaded: config_mod.Loaded, env: dict[str, str], edit_as: EditAs, act_as: ActAs, clock: DemoClock,
           requests: Sequence[tuple[str, str, str]], *, today: date, rng: random.Random,
           say: Say) -> list[SyncReport]:
    """Replay the history for `requests` (opportunity id, sales owner, priority); the sync
    reports of the replayed runs."""
    obj = loaded.mapping.opportunity
    fields = {k: v.field for k, v in obj.inbound.items()}
    reviewers = sorted(e for e, eng in loaded.engineers.items() if eng.reviewer and eng.active)
    days = round_days(today, loaded.calendar().is_working_day)
    batches = [list(requests[i::5]) for i in range(5)]  # requests arrive over the first rounds
    owners = {opp: owner for opp, owner, _ in requests}
    reports: list[SyncReport] = []

    def sync_at(moment: datetime) -> None:
        clock.set(moment)
        store = open_store(loaded)
        try:
            reports.append(run_sync(loaded, store, connector_for(loaded, env), now=moment))
        finally:
            store.close()

    def send(at: datetime, edits: dict[str, list[RecordChange]], acts: dict[str, list[Act]]) -> None:
        clock.set(at)
        for actor, changes in edits.items():
            failed = [r for r in edit_as(actor, obj.object, changes) if not r.ok]
            if failed:
                raise RuntimeError(f"demo history: {actor} could not edit {failed[0].id}: "
                                   f"{failed[0].message}")
        for actor, done in acts.items():
            act_as(actor, done)

    done_not_closed: list[str] = []  # engineer signed off Feedback before the deal closed
    for n, day in enumerate(days):
        morning = datetime.combine(day, time(10), loaded.tz)
        edits: dict[str, list[RecordChange]] = {}
        acts: dict[str, list[Act]] = {}
        if n < len(batches):
            for opp, owner, priority in batches[n]:
                edits.setdefault(owner, []).append(RecordChange(
                    opp, {fields["requested"]: True, fields["priority"]: priority}))
        for opp in done_not_closed:
            edits.setdefault(owners[opp], []).append(RecordChange(opp, _close(fields, day, rng)))
        done_not_closed = []
        for opp, st in sorted(_open_tasks(loaded).items()):
            engineer = st.task.engineer_id
            if st.task.step is Step.FEEDBACK and engineer and rng.random() < 0.3:
                done_not_closed.append(opp)
                acts.setdefault(engineer, []).append(Act(opp, Command.SIGN_OFF.value))
                continue
            actor, move = _next_move(st.task.step, st.task.status, engineer, opp, owners, reviewers,
                                     fields, day, rng)
            if actor and isinstance(move, Act):
                acts.setdefault(actor, []).append(move)
            elif actor and isinstance(move, dict) and move:
                edits.setdefault(actor, []).append(RecordChange(opp, move))
        send(morning - timedelta(hours=1), edits, acts)
        sync_at(morning)
        quick: dict[str, list[Act]] = {}
        for opp, st in sorted(_open_tasks(loaded).items()):
            engineer = st.task.engineer_id
            if st.task.step is Step.REQUIREMENTS and engineer and rng.random() < 0.7:
                quick.setdefault(engineer, []).append(Act(opp, Command.SIGN_OFF.value))
        send(morning + timedelta(hours=3), {}, quick)
        sync_at(morning + timedelta(hours=4))
    closed = sum(r.counts["tasks_closed"] for r in reports)
    say(f"history: {len(requests)} requests worked over {len(days)} rounds from {days[0]} to {days[-1]} "
        f"({len(reports)} syncs at those moments): {closed} deals closed, "
        f"{sum(r.counts['commands_applied'] for r in reports)} sign-offs and reviews applied")
    return reports


def _open_tasks(loaded: config_mod.Loaded) -> dict:  # type: ignore[type-arg]
    store = open_store(loaded)
    try:
        with store.begin() as conn:
            return store.open_tasks(conn)
    finally:
        store.close()


def _close(fields: dict[str, str], day: date, rng: random.Random) -> dict[str, object]:
    """What sales set when a deal closes: won or lost, the date, and (when mapped) the
    customer's satisfaction (1-5) and recognition."""
    won = rng.random() < 0.55
    change: dict[str, object] = {fields["stage"]: "Closed Won" if won else "Closed Lost",
                                 fields["close_date"]: day.isoformat()}
    if "satisfaction" in fields:
        change[fields["satisfaction"]] = round(rng.uniform(3.4 if won else 2.8, 5.0), 1)
    if "recognition" in fields:
        change[fields["recognition"]] = won and rng.random() < 0.4
    return change


def _next_move(step: Step, status: Status, engineer: str | None, opp: str, owners: dict[str, str],
               reviewers: list[str], fields: dict[str, str], day: date,
               rng: random.Random) -> tuple[str | None, Act | dict[str, object]]:
    """Who acts on a task this round and what they do: an action record, or fields they set on
    the deal (None: nobody, this round)."""
    if not engineer or status is Status.ON_HOLD:
        return None, {}
    if step in (Step.REQUIREMENTS, Step.SOLUTION_DESIGN, Step.PRESENTATION):
        return engineer, Act(opp, Command.SIGN_OFF.value)
    if step is Step.INTERNAL_REVIEW:
        reviewer = rng.choice([r for r in reviewers if r != engineer])
        if rng.random() < 0.7:
            return reviewer, Act(opp, Command.REVIEW_PASS.value)
        return reviewer, Act(opp, Command.REVIEW_REWORK.value, note=rng.choice(REWORK_NOTES))
    if step is Step.FEEDBACK and opp in owners:
        return owners[opp], _close(fields, day, rng)
    return None, {}


_TITLES = {
    "document": ["Solution template: {}", "Case study: {} rollout", "Competitor comparison: {}"],
    "training": ["Gave training: {} basics", "Attended: {} advanced"],
    "sharing": ["Sharing session: lessons from the {} bid"],
    "certification": ["Certified: {} professional"],
    "skill": ["Skill recorded: {} architecture"],
}
_TOPICS = ("cloud", "database", "network", "security", "analytics", "ERP", "IoT", "AI")


def activities_csv(path: Path, loaded: config_mod.Loaded, *, today: date, rng: random.Random) -> Path:
    """A plausible activities file for the roster's active engineers over the history."""
    lines = ["engineer,date,kind,title,evidence"]
    for n, (engineer, eng) in enumerate(sorted(loaded.engineers.items())):
        if not eng.active:
            continue
        for kind in ACTIVITY_METRIC:
            counts = (0, 1, 1, 2, 3) if kind in ("document", "training") else (0, 0, 1, 1, 2)
            for i in range(rng.choice(counts)):
                topic = rng.choice(_TOPICS)
                title = rng.choice(_TITLES[kind]).format(topic)
                day = today - timedelta(days=rng.randint(1, HISTORY_DAYS - 7))
                lines.append(f"{engineer},{day.isoformat()},{kind},{title} #{i + 1},"
                             f"https://kb.example.com/{kind}/{n}-{i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


__all__ = ["HISTORY_DAYS", "activities_csv", "replay", "round_days"]
