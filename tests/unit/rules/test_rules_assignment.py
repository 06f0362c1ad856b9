"""Round robin: skip keeps place, capacity, inactive, roster reconciliation, nobody eligible."""

from __future__ import annotations

from presales_sync.rules import Assignment, Engineer, reconcile_queue, round_robin


def roster(*specs: tuple[str, bool, int]) -> dict[str, Engineer]:
    return {
        eid: Engineer(crm_user_id=eid, name=eid.upper(), active=active, capacity=cap)
        for eid, active, cap in specs
    }


TEAM = roster(("a", True, 6), ("b", True, 6), ("c", True, 6))


def test_picks_first_in_queue_and_moves_them_to_the_back():
    decision = round_robin(["a", "b", "c"], TEAM, {})
    assert decision == Assignment(engineer_id="a", queue=("b", "c", "a"), skipped=())
    assert decision.reason == "round robin: assigned to a"


def test_successive_rounds_take_turns():
    queue: tuple[str, ...] = ("a", "b", "c")
    picked = []
    for _ in range(6):
        decision = round_robin(queue, TEAM, {})
        picked.append(decision.engineer_id)
        queue = decision.queue
    assert picked == ["a", "b", "c", "a", "b", "c"]


def test_engineer_at_capacity_is_skipped_and_stays_next_in_line():
    decision = round_robin(["a", "b", "c"], TEAM, {"a": 6})
    assert decision.engineer_id == "b"
    assert decision.queue == ("a", "c", "b")
    assert decision.skipped == (("a", "at capacity (6/6)"),)
    assert decision.reason == "round robin: assigned to b; skipped a at capacity (6/6)"
    # once a has room again, a is first
    assert round_robin(decision.queue, TEAM, {"a": 5}).engineer_id == "a"


def test_inactive_engineer_is_skipped_and_keeps_place():
    team = roster(("a", False, 6), ("b", True, 6), ("c", True, 6))
    decision = round_robin(["a", "b", "c"], team, {})
    assert decision.engineer_id == "b"
    assert decision.queue == ("a", "c", "b")
    assert decision.skipped == (("a", "inactive"),)


def test_load_below_capacity_is_eligible():
    assert round_robin(["a"], roster(("a", True, 2)), {"a": 1}).engineer_id == "a"


def test_zero_capacity_never_takes_work():
    decision = round_robin(["a", "b"], roster(("a", True, 0), ("b", True, 1)), {})
    assert decision.engineer_id == "b"
    assert decision.skipped == (("a", "at capacity (0/0)"),)


def test_roster_reconciliation_appends_new_and_drops_gone():
    team = roster(("c", True, 6), ("a", True, 6), ("d", True, 6), ("b", True, 6))
    assert reconcile_queue(["gone", "b", "a", "b"], team) == ("b", "a", "c", "d")
    decision = round_robin(["gone", "b", "a"], team, {"b": 6})
    assert decision.engineer_id == "a"
    assert decision.queue == ("b", "c", "d", "a")


def test_empty_queue_starts_in_roster_order():
    decision = round_robin([], TEAM, {})
    assert decision.engineer_id == "a"
    assert decision.queue == ("b", "c", "a")


def test_nobody_eligible_leaves_queue_unchanged():
    team = roster(("a", False, 6), ("b", True, 2), ("c", True, 6))
    decision = round_robin(["b", "x", "a"], team, {"b": 3, "c": 6})
    assert decision.engineer_id is None
    assert decision.queue == ("b", "a", "c")
    assert decision.skipped == (
        ("b", "at capacity (3/2)"),
        ("a", "inactive"),
        ("c", "at capacity (6/6)"),
    )
    assert decision.reason.startswith("round robin: no eligible engineer (")
    assert "a inactive" in decision.reason


def test_empty_roster():
    decision = round_robin(["a"], {}, {})
    assert decision == Assignment(engineer_id=None, queue=(), skipped=())
    assert decision.reason == "round robin: no engineers in the roster"
