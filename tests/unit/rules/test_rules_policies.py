"""Assignment policies (rules.assignment.choose) and the compiled admin rules (rules.policy)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from presales_sync.rules import (
    Engineer,
    Level,
    Requirement,
    RulesProblems,
    RulesSettings,
    choose,
    compile_rules,
    needs_presales,
    priority_of,
    requirement_of,
)

FIELDS = {"amount": float, "industry": str, "account_id": str, "account_name": str, "priority": str,
          "requested": bool, "is_closed": bool, "close_date": date, "product_line": str}
TODAY = date(2026, 11, 23)


def eng(eid: str, level: Level = Level.INTERMEDIATE, *, capacity: int = 5, skills: tuple[str, ...] = (),
        industries: tuple[str, ...] = (), active: bool = True) -> Engineer:
    return Engineer(eid, eid, level, capacity=capacity, skills=skills, industries=industries, active=active)


TEAM = {
    "jun": eng("jun", Level.JUNIOR),
    "mid": eng("mid", Level.INTERMEDIATE, industries=("Finance",), skills=("database",)),
    "sen": eng("sen", Level.SENIOR, skills=("cloud",)),
    "exp": eng("exp", Level.EXPERT, industries=("Government",), skills=("cloud", "database")),
}
QUEUE = ("jun", "mid", "sen", "exp")


def test_level_gate_skips_juniors_who_keep_their_place():
    d = choose(QUEUE, TEAM, {}, Requirement(min_level=Level.SENIOR, level_reason="big deal"))
    assert d.engineer_id == "sen"
    assert d.queue == ("jun", "mid", "exp", "sen")  # jun and mid stay first in line
    assert "needs senior or above (big deal)" in d.reason
    assert "jun level junior below senior" in d.reason


def test_account_owner_takes_later_tasks_without_using_a_turn():
    d = choose(QUEUE, TEAM, {}, Requirement(account="ACME", account_owner="sen"))
    assert (d.engineer_id, d.policy, d.queue) == ("sen", "account owner", QUEUE)
    assert "owns account ACME" in d.reason


@pytest.mark.parametrize(("owner", "load", "need", "why"), [
    ("sen", {"sen": 5}, Requirement(), "at capacity (5/5)"),
    ("jun", {}, Requirement(min_level=Level.SENIOR, level_reason="x"), "level junior below senior"),
    ("gone", {}, Requirement(), "not in the roster"),
])
def test_unavailable_owner_is_an_exception_recorded_in_the_reason(owner, load, need, why):
    need = Requirement(min_level=need.min_level, level_reason=need.level_reason, account="ACME",
                       account_owner=owner)
    d = choose(QUEUE, {**TEAM, "jun": eng("jun", Level.JUNIOR)}, load, need)
    assert d.engineer_id is not None and d.engineer_id != owner
    assert d.policy == "round robin"
    assert f"exception: account owner {owner} unavailable ({why})" in d.reason


def test_inactive_owner_is_passed_over():
    team = {**TEAM, "sen": eng("sen", Level.SENIOR, active=False)}
    d = choose(QUEUE, team, {}, Requirement(account="ACME", account_owner="sen"))
    assert d.engineer_id == "jun" and "unavailable (inactive)" in d.reason


def test_skills_are_required():
    d = choose(QUEUE, TEAM, {}, Requirement(skills=frozenset({"cloud", "database"})))
    assert d.engineer_id == "exp"
    nobody = choose(QUEUE, TEAM, {}, Requirement(skills=frozenset({"mainframe"})))
    assert nobody.engineer_id is None and "lacks skills mainframe" in nobody.reason


def test_industry_is_preferred_or_required():
    assert choose(QUEUE, TEAM, {}, Requirement(industry="finance")).engineer_id == "mid"  # case-insensitive
    fallback = choose(QUEUE, TEAM, {}, Requirement(industry="Retail"))
    assert fallback.engineer_id == "jun" and "nobody available with Retail experience" in fallback.reason
    strict = choose(QUEUE, TEAM, {}, Requirement(industry="Retail", industry_match="require"))
    assert strict.engineer_id is None
    off = choose(QUEUE, TEAM, {}, Requirement(industry="Finance", industry_match="off"))
    assert off.engineer_id == "jun"


def test_capacity_ceiling():
    d = choose(QUEUE, TEAM, {"jun": 5, "mid": 4}, Requirement())
    assert d.engineer_id == "mid"
    assert choose(QUEUE, TEAM, {e: 5 for e in TEAM}, Requirement()).engineer_id is None


@pytest.mark.slow  # 200 examples: 5 s (tests/fast_lane.py)
@settings(max_examples=200)
@given(n=st.integers(1, 6), k=st.integers(0, 50), data=st.data())
def test_equal_eligibility_counts_never_differ_by_more_than_one(n, k, data):
    """Whatever the requests ask, when every engineer meets it equally the deal stays even."""
    ids = [f"e{i}" for i in range(n)]
    team = {e: eng(e, Level.SENIOR, capacity=10_000, skills=("cloud",), industries=("Finance",)) for e in ids}
    queue: tuple[str, ...] = tuple(data.draw(st.permutations(ids)))
    counts: Counter[str] = Counter()
    for _ in range(k):
        need = Requirement(
            min_level=data.draw(st.sampled_from([None, Level.JUNIOR, Level.SENIOR])),
            skills=data.draw(st.sampled_from([frozenset(), frozenset({"cloud"})])),
            industry=data.draw(st.sampled_from([None, "Finance", "Retail"])),
            industry_match=data.draw(st.sampled_from(["prefer", "off"])))
        decision = choose(queue, team, counts, need)
        assert decision.engineer_id is not None
        counts[decision.engineer_id] += 1
        queue = decision.queue
        totals = [counts[e] for e in ids]
        assert max(totals) - min(totals) <= 1


@settings(max_examples=200)
@given(data=st.data())
def test_a_skipped_engineer_stays_ahead_of_the_one_picked(data):
    team = {e: eng(e, data.draw(st.sampled_from(list(Level))), capacity=data.draw(st.integers(0, 3)))
            for e in ("a", "b", "c", "d")}
    queue = tuple(data.draw(st.permutations(list(team))))
    need = Requirement(min_level=data.draw(st.sampled_from([None, *Level])), level_reason="r")
    d = choose(queue, team, {}, need)
    if d.engineer_id is None:
        assert d.queue == queue
        return
    assert d.queue[-1] == d.engineer_id
    assert d.queue[:-1] == tuple(e for e in queue if e != d.engineer_id)  # everyone else keeps order


# --- compiled rules -----------------------------------------------------------------------

def _compile(**overrides: object):
    return compile_rules(RulesSettings.model_validate(overrides), fields=FIELDS, today=TODAY)


def test_defaults_compile_and_decide():
    rules = _compile()
    assert needs_presales(rules, {"requested": True, "is_closed": False})
    assert not needs_presales(rules, {"requested": True, "is_closed": True})
    assert not needs_presales(rules, {"requested": None, "is_closed": False})
    assert priority_of(rules, {"priority": "P3", "amount": 6_000_000.0}) == (
        "P1", "priority raised to P1: amount >= 5000000")
    assert priority_of(rules, {"priority": "P1", "amount": 10.0}) == ("P1", None)  # never lowered
    assert priority_of(rules, {"priority": None, "amount": 10.0}) == ("P2", None)  # the default
    soon = date(2026, 11, 26)
    assert priority_of(rules, {"priority": "P3", "close_date": soon})[0] == "P1"


def test_requirement_takes_the_highest_matching_level_and_all_skills():
    rules = _compile(assignment={
        "level_gates": [{"when": "amount >= 1000", "min_level": "intermediate"},
                        {"when": 'industry == "Government"', "min_level": "expert", "reason": "gov"}],
        "skill_rules": [{"when": 'product_line == "DB"', "skills": ["database"]},
                        {"when": "amount > 0", "skills": ["cloud"]}]})
    need = requirement_of(rules, {"amount": 5000.0, "industry": "Government", "product_line": "DB",
                                  "account_id": "001A", "account_name": "ACME"}, account_owner="sen")
    assert (need.min_level, need.level_reason) == (Level.EXPERT, "gov")
    assert need.skills == {"database", "cloud"}
    assert (need.industry, need.account, need.account_owner) == ("Government", "ACME", "sen")
    off = _compile(assignment={"account_owner": False, "industry_match": "off", "level_gates": []})
    need = requirement_of(off, {"industry": "Finance"}, account_owner="sen")
    assert need.account_owner is None and need.industry is None and need.min_level is None


def test_every_bad_expression_is_reported_with_its_key():
    with pytest.raises(RulesProblems) as err:
        _compile(intake="requestd and not is_closed",
                 priority_rules=[{"when": 'industry =~ "Fin.*"', "priority": "P1"}],
                 assignment={"level_gates": [{"when": "amount >= ", "min_level": "senior"}]})
    by_key = {".".join(map(str, k)): str(e) for k, e in err.value.problems}
    assert set(by_key) == {"intake", "priority_rules.0.when", "assignment.level_gates.0.when"}
    assert "unknown name 'requestd'" in by_key["intake"] and "did you mean 'requested'?" in by_key["intake"]
    assert "regex is not allowed" in by_key["priority_rules.0.when"]
    assert "syntax error" in by_key["assignment.level_gates.0.when"]
