"""Crash safety (issue 7 item 2, issue 14 item 3): `presales sync`, the real CLI over HTTPS
against a 5,000-opportunity sandbox org, is killed with SIGKILL at random moments in 20 runs
(more runs finish before their kill comes) while the org keeps changing between runs (sales
reps ask for presales on new deals; engineers sign off, reviewers pass reviews and the presales
manager reassigns with action records). After one clean run: every request has exactly one
task, no event exists twice, every action record was taken up exactly once (applied once, or
refused, never lost) and shows its outcome, no event record is duplicated in the CRM, the last
applied reassignment holds, and the CRM's plugin fields equal what the store says (a dry run
finds nothing to write). For Salesforce and for Zoho."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from e2e_support import CRMS, PRESALES, crm_env, crm_settings, presales, write_config
from kill_support import Command, Ledger, People, StoreView, final_store, quiesce, store_view, write_calls
from sandbox_seed import PLUGIN_ORG

from presales_sync.sandbox import Sandbox, parse_spec

#: Runs killed (the issue's "at least 20"); runs that finish before their kill come on top.
KILLS = 20
ORG_SIZE = 5000
#: Until a run finishes on its own, kills are spread over this many seconds (a first run reads
#: all 5,000 opportunities); afterwards over the last finished run's duration.
FIRST_RUN_GUESS = 30.0
SIGNABLE = ("Requirements", "Solution Design", "Presentation", "Feedback")
PRIORITIES = ("P1", "P2", "P3")
#: For the kills that follow the first write call: a CRM slow to answer writes, so that a kill
#: often lands while a write is under way (the sandbox carries it out for the dead client).
SLOW_WRITES = ("latency@composite_sobjects:seconds=0.4,times=0;latency@zoho_records_put:seconds=0.4,times=0;"
               "latency@zoho_upsert_post:seconds=0.4,times=0")


@dataclass(frozen=True)
class Outcome:
    iteration: int
    trigger: str  # "timed": a delay after the start; "write": a delay after the first write call
    delay: float
    seconds: float
    exit_code: int
    phase: str  # startup | read | rules | write | ledger | exit | finished


def _phase(code: int, before: StoreView, after: StoreView, writes: int, top: datetime,
           acted: list[str]) -> str:
    """Where the kill landed, from what it left: no run row yet (imports, config, store, lock);
    reading (the cursor short of the newest change); rules and the diff (everything read, nothing
    sent); writing (the CRM received writes, their acknowledgement not in the store yet: the
    actions given before the run are not marked written back); after that commit; after the run
    was recorded (releasing the lock, printing, exiting)."""
    if code == 0:
        return "finished"
    if after.runs == before.runs:
        return "startup"
    if after.last_finished:
        return "exit"
    if writes:
        return "ledger" if acted and all(i in after.written for i in acted) else "write"
    return "rules" if after.cursor is not None and after.cursor >= top else "read"


def _run_until_killed(cmd: list[str], env: dict[str, str], workdir: Path, name: str, trigger: str,
                      delay: float, people: People) -> int:
    """Start `presales sync` and SIGKILL it `delay` seconds after its start, or after the
    sandbox saw its first write call; its exit code (-9 when killed, 0 when it finished first)."""
    with open(workdir / f"{name}.out", "w") as out, open(workdir / f"{name}.err", "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=workdir)
        if trigger == "write":
            while proc.poll() is None and not write_calls(people.stats()):
                time.sleep(0.03)
        try:
            code = proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            code = proc.wait()  # reaped: its pid is gone, so the next run takes its lock over
    return code


def _act(it: int, people: People, ledger: Ledger, rng: random.Random, unrequested: list[str],
         owners: dict[str, str], busy: set[str]) -> tuple[list[str], datetime]:
    """The org's people at work between two runs; at most one edit or action per deal until a
    run has taken it up (`busy`: deals with a change no run has read yet). Returns the edited
    deals and the newest stamp."""
    deals = people.requested_deals()
    edited: list[str] = []
    for rid in rng.sample(unrequested, 3):
        unrequested.remove(rid)
        people.edit(owners[rid], rid, {"requested": True, "priority": rng.choice(PRIORITIES)})
        ledger.requests.append(Command(it, rid, owners[rid], "requested", None))
        edited.append(rid)
    free = [d for _, d in sorted(deals.items()) if d.id not in busy and d.engineer in people.active
            and d.status not in ("Closed", "On Hold")]
    rng.shuffle(free)
    for d in [d for d in free if d.step in SIGNABLE][:3]:
        made = people.act(d.engineer or "", d.id, "Sign Off")
        ledger.signoffs.append(Command(it, d.id, d.engineer or "", "Sign Off", d.step, made))
        edited.append(d.id)
    for d in [d for d in free if d.step == "Internal Review" and d.id not in edited][:1]:
        reviewer = rng.choice([r for r in people.reviewers if r != d.engineer])
        made = people.act(reviewer, d.id, "Review Pass")
        ledger.reviews.append(Command(it, d.id, reviewer, "Review Pass", d.step, made))
        edited.append(d.id)
    for d in [d for d in free if d.id not in edited][:1]:
        new = rng.choice(sorted(people.active - {d.engineer or ""}))
        made = people.act(people.manager, d.id, "Reassign", new_engineer=new)
        ledger.reassignments.append(Command(it, d.id, people.manager, new, d.step, made))
        edited.append(d.id)
    return edited, max(d.stamp for d in deals.values())


def _kill_loop(sb: Sandbox, crm: str, workdir: Path, people: People,
               ledger: Ledger) -> tuple[Path, dict[str, str], list[Outcome]]:
    roster = sb.zoho_roster_file if crm == "zoho" else sb.roster_file
    config = write_config(workdir, sb, crm=crm_settings(sb, crm), roster=str(roster), calendar="CN")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESALES_")} | crm_env(sb, crm)
    db = workdir / "presales.db"
    rng = random.Random(f"kill-loop-{crm}")
    deals = people.all_deals()
    assert len(deals) == ORG_SIZE
    unrequested = sorted(d.id for d in deals.values() if not d.requested and not d.closed)
    owners = {i: deals[i].owner for i in unrequested}
    top = max(d.stamp for d in deals.values())
    busy: dict[str, datetime] = {}  # edited deal → its stamp after the edit
    pending: dict[str, str] = {}  # deal → the action record on it no run has taken up yet
    typical, startup = FIRST_RUN_GUESS, 0.0
    outcomes: list[Outcome] = []
    it = -1
    while sum(o.exit_code != 0 for o in outcomes) < KILLS:
        it += 1
        assert it < 2 * KILLS, "most runs finished before their kill: the delays are too long"
        before = store_view(db, busy)
        busy = {i: s for i, s in busy.items() if not (i in before.stamps and before.stamps[i] >= s)}
        pending = {d: a for d, a in pending.items() if a not in before.written}
        edited, newest = _act(it, people, ledger, rng, unrequested, owners, set(busy) | set(pending))
        pending.update({c.record_id: c.action_id for c in ledger.actions()
                        if c.iteration == it and c.action_id})
        stamps = {i: d.stamp for i, d in people.deals(edited).items()}
        busy.update(stamps)
        top = max(top, newest, *stamps.values())
        people.reset_stats()
        # a third of the kills follow the first write call (the CRM written, the ledger not
        # yet, or just); the rest are spread over the run, mostly past its start-up
        trigger = "write" if rng.random() < 1 / 3 else "timed"
        low = 0.0 if trigger == "write" or rng.random() < 0.3 else min(startup, typical)
        delay = rng.uniform(low, 0.6 if trigger == "write" else 1.1 * typical)
        if trigger == "write":
            sb.faults.set(parse_spec(SLOW_WRITES))
        args = ("--json", "sync") if it % 2 else ("sync",)
        launched = datetime.now(UTC)
        started = time.monotonic()
        code = _run_until_killed([PRESALES, "--config", str(config), *args], env, workdir, f"run-{it}",
                                 trigger, delay, people)
        seconds = time.monotonic() - started
        quiesce()
        sb.faults.clear()
        assert code in (0, -signal.SIGKILL), (it, code, (workdir / f"run-{it}.err").read_text())
        if code == 0:
            typical = seconds
        writes = write_calls(people.stats())
        acted = [c.action_id for c in ledger.actions() if c.iteration == it and c.action_id]
        after = store_view(db, [])
        if after.runs > before.runs and after.last_started is not None:
            startup = (after.last_started - launched).total_seconds()
        outcomes.append(Outcome(it, trigger, delay, seconds, code,
                                _phase(code, before, after, writes, top, acted)))
    return config, env, outcomes


def _assert_consistent(people: People, ledger: Ledger, config: Path, env: dict[str, str]) -> None:
    db = config.parent / "presales.db"
    tasks, events, failures, locks = final_store(db)
    deals = people.all_deals()
    # every opportunity that asked for presales has exactly one task, and no other has one
    requested = {i for i, d in deals.items() if d.requested}
    assert set(tasks) == requested and len(tasks) == len(requested)
    assert {c.record_id for c in ledger.requests} <= set(tasks)
    # no event twice: neither a (task, seq) nor the same change at the same moment by the same person
    opp_of = {t.id: opp for opp, t in tasks.items()}
    assert max(Counter((e.task_id, e.seq) for e in events).values()) == 1
    same = Counter((e.task_id, e.kind, e.at, e.actor, e.from_step, e.to_step, e.from_status, e.to_status)
                   for e in events)
    assert [k for k, n in same.items() if n > 1] == []
    # every action record was taken up exactly once: applied once (the event names it) or
    # refused, and the CRM shows that outcome on it; none was lost
    crm_actions = people.actions()
    given = {c.action_id: c for c in ledger.actions()}
    applied = Counter(e.source for e in events if e.source)
    assert max(applied.values()) == 1
    assert set(applied) <= set(given)
    outcomes = {i: crm_actions[i].outcome for i in given}
    assert {i for i, o in outcomes.items() if o == "Applied"} == set(applied)
    assert {o for o in outcomes.values()} <= {"Applied", "Refused"}  # none pending, none lost
    assert len(applied) >= len(given) * 3 // 4, "most actions fit the deal's step when they were given"
    by_source = {e.source: e for e in events if e.source}
    for i in applied:
        c = given[i]
        assert (opp_of[by_source[i].task_id], by_source[i].actor) == (c.record_id, c.actor)
        kind = {"Sign Off": "signed_off", "Review Pass": "reviewed"}.get(c.value, "assigned")
        assert by_source[i].kind == kind
    assert all(e.outcome == "pass" for e in events if e.kind == "reviewed")
    # the last applied reassignment of a deal holds in both places
    last = {c.record_id: c.value for c in ledger.reassignments if c.action_id in applied}
    holds = {i: (tasks[i].engineer_id, deals[i].engineer) for i in last}
    assert holds == {i: (e, e) for i, e in last.items()}
    # no event record twice in the CRM, and one for each of the plugin's own events
    keys = Counter(a.key for a in crm_actions.values() if a.key)
    assert max(keys.values()) == 1
    own = {f"{opp_of[e.task_id]}-{e.seq}" for e in events if not e.source}
    assert set(keys) == own
    # the CRM shows the store's tasks, nothing waits or is locked
    for opp, t in tasks.items():
        d = deals[opp]
        assert (d.engineer, d.step, d.status) == (t.engineer_id, t.step, t.status), opp
    assert failures == 0 and locks == 0
    # and the engine, run again, has nothing left to write (due dates, health, messages included)
    dry = presales(config, "--json", "sync", "--dry-run", extra_env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["changes"] == []


@pytest.mark.parametrize("crm", CRMS)
def test_sigkill_at_random_moments_then_a_clean_run_leaves_crm_and_store_consistent(
        crm: str, tmp_path: Path) -> None:
    started = time.monotonic()
    sb = Sandbox(tmp_path / "sandbox", port=0, seed=ORG_SIZE, org=PLUGIN_ORG)
    sb.start()
    try:
        people, ledger = People(sb, crm), Ledger()
        config, env, outcomes = _kill_loop(sb, crm, tmp_path, people, ledger)
        clean = presales(config, "sync", extra_env=env)
        assert clean.returncode == 0, clean.stderr
        _assert_consistent(people, ledger, config, env)
    finally:
        sb.stop()
    killed = [o for o in outcomes if o.exit_code == -signal.SIGKILL]
    phases = Counter(o.phase for o in outcomes)
    print(f"{crm}: {len(outcomes)} runs, {len(killed)} killed, kills by phase {dict(phases)}, "
          f"{len(ledger.requests)} requests, {len(ledger.signoffs)} sign-off, "
          f"{len(ledger.reviews)} review and {len(ledger.reassignments)} reassign action records, "
          f"{time.monotonic() - started:.0f}s")
    for o in outcomes:
        print(f"  run {o.iteration:2}: {o.trigger:5} +{o.delay:5.2f}s -> exit {o.exit_code:3} after "
              f"{o.seconds:5.2f}s, {o.phase}")
    assert len(killed) == KILLS
    # kills landed between a write the CRM carried out and its acknowledgement in the ledger
    assert phases["write"] >= 1
