"""A small worked org in a local store (no CRM): three engineers, tasks walked through the
five steps in one quarter with reviews, closed deals and activities; the config to read it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from presales_sync.rules import Command, apply_command, assign, close, create_task
from presales_sync.sync.store import ActivityRow, OpportunityRow, Store

ENGINEERS = [("005E1", "Li Wei", "senior", True), ("005E2", "Zhang Min", "junior", False),
             ("005E3", "Wang Fang", "intermediate", False)]
REVIEWERS = frozenset({"005E1", "005M"})
START = datetime(2026, 10, 5, 2, tzinfo=UTC)  # a Monday morning in Shanghai


def write_org(directory: Path, *, language: str = "zh") -> Path:
    roster = {"engineers": [{"crm_user_id": i, "name": n, "level": lvl, "reviewer": r}
                            for i, n, lvl, r in ENGINEERS], "managers": ["005M"]}
    (directory / "engineers.yaml").write_text(yaml.safe_dump(roster, allow_unicode=True), encoding="utf-8")
    config = {"crm": {"kind": "salesforce", "instance_url": "https://example.invalid"},
              "store": "sqlite:///presales.db", "roster": "engineers.yaml", "timezone": "Asia/Shanghai",
              "report": {"language": language}}
    path = directory / "presales.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    store = Store.open(f"sqlite:///{directory / 'presales.db'}")
    try:
        _fill(store)
    finally:
        store.close()
    return path


def _fill(store: Store) -> None:
    plan = [  # (engineer, review outcomes, closed outcome, satisfaction, recognised, response hours)
        ("005E1", ["pass"], "won", 5.0, True, 2), ("005E1", ["pass"], "won", 4.5, False, 3),
        ("005E1", ["rework", "pass"], "lost", 4.0, False, 5),
        ("005E2", ["rework", "pass"], "won", 4.0, False, 6),
        ("005E2", ["rework", "rework", "pass"], "lost", 3.0, False, 30),
        ("005E2", ["pass"], None, None, False, 9),
        ("005E3", ["pass"], "won", 4.8, True, 1), ("005E3", [], None, None, False, 4),
    ]
    with store.begin() as conn:
        for n, (eng, reviews, outcome, sat, recognised, reply) in enumerate(plan):
            opp = f"006X{n:03d}"
            t0 = START + timedelta(days=7 * n)
            values = {"name": f"Deal {n}", "priority": "P2", "satisfaction": sat, "recognition": recognised,
                      "is_closed": outcome is not None, "is_won": outcome == "won"}
            store.upsert_opportunity(conn, OpportunityRow(opp, t0, values), exists=False)
            task = assign(create_task(opp, at=t0, actor="005S"), eng, at=t0, actor="005I", reason="rr")
            at = t0 + timedelta(hours=reply)
            for _ in range(2):
                task = apply_command(task, Command.SIGN_OFF, actor=eng, at=at, reviewers=REVIEWERS)
                at += timedelta(days=1)
            reviewer = "005M" if eng == "005E1" else "005E1"
            for i, result in enumerate(reviews):
                cmd = Command.REVIEW_PASS if result == "pass" else Command.REVIEW_REWORK
                task = apply_command(task, cmd, actor=reviewer, at=at, reviewers=REVIEWERS)
                at += timedelta(days=1)
                if result == "rework" and i < len(reviews) - 1:
                    task = apply_command(task, Command.SIGN_OFF, actor=eng, at=at, reviewers=REVIEWERS)
            if reviews:
                task = apply_command(task, Command.SIGN_OFF, actor=eng, at=at, reviewers=REVIEWERS)
            if outcome:
                task = close(task, at=at + timedelta(days=2), outcome=outcome, actor="005S")
            store.save_task(conn, task, message=None, now=t0, stored=None)
        store.add_activities(conn, [
            ActivityRow("005E1", date(2026, 10, 20), "document", "Bank DR template"),
            ActivityRow("005E1", date(2026, 11, 3), "sharing", "Lessons from the Q3 bids"),
            ActivityRow("005E1", date(2026, 11, 9), "certification", "CKA"),
            ActivityRow("005E2", date(2026, 10, 28), "training", "Attended: K8s basics"),
            ActivityRow("005E3", date(2026, 11, 12), "document", "Retail POC checklist"),
            ActivityRow("005E3", date(2026, 11, 14), "skill", "Kafka streams"),
        ], START)
