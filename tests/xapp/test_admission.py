"""The loop's admission rules alone: expiry, replacement and the overload plan on a
given clock (no timing: the costs are given)."""

from types import SimpleNamespace
from typing import NamedTuple

from rrm.xapp import admission
from rrm.xapp.admission import Costs

MS = 1_000_000


class _Header(NamedTuple):  # hashable, as the wire's Header
    node_id: str
    deadline_ns: int
    sequence_number: int = 1
    channel_id: str = "c"


def _r(node: str, deadline_ns: int, decodable: bool = True, seq: int = 1):
    header = _Header(node, deadline_ns, seq)
    return SimpleNamespace(header=header, indication=object() if decodable else None)


def _plan(batch, costs, now_ns=0, sheddable=lambda r: True, priority=lambda r: 0):
    return admission.plan(batch, now_ns, costs, sheddable=sheddable, priority=priority)


def _nodes(rs):
    return [r.header.node_id for r in rs]


def test_expired_are_split_off_and_a_zero_deadline_never_expires():
    batch = [_r("a", 100), _r("b", 101), _r("c", 0), _r("d", 99)]
    live, expired = admission.split_expired(batch, now_ns=100)  # type: ignore[arg-type]
    assert [r.header.node_id for r in live] == ["b", "c"] and expired == 2


def test_only_the_newest_indication_of_a_node_is_kept():
    batch = [_r("a", 1, seq=1), _r("b", 1, seq=7), _r("a", 2, seq=2), _r("a", 3, seq=3)]
    kept, replaced = admission.latest(batch, lambda h: "")  # type: ignore[arg-type]
    assert [(r.header.node_id, r.header.sequence_number) for r in kept] == [("b", 7), ("a", 3)]
    assert replaced == 2


def test_newest_follows_serial_arithmetic_across_the_wrap():
    batch = [_r("a", 1, seq=2**64 - 1), _r("a", 2, seq=0)]  # 0 follows 2^64 - 1
    kept, replaced = admission.latest(batch, lambda h: "")  # type: ignore[arg-type]
    assert [r.header.sequence_number for r in kept] == [0] and replaced == 1


def test_repeats_and_foreign_indications_are_left_to_their_own_drop_reasons():
    batch = [_r("a", 1, seq=5), _r("a", 1, seq=5), _r("x", 1, seq=1), _r("x", 1, seq=2)]
    kept, replaced = admission.latest(  # type: ignore[arg-type]
        batch, lambda h: "foreign_node" if h.node_id == "x" else "")
    assert len(kept) == 4 and replaced == 0


def test_unmeasured_costs_decide_everything():
    batch = [_r("a", 1), _r("b", 1)]
    plan = _plan(batch, Costs())
    assert plan.decided == batch and not plan.shed and not plan.first and not plan.no_time


def test_what_fits_is_decided_and_the_rest_shed_to_their_cheapest_answer():
    # 4 indications, all due in 9 ms; the policy costs 2 ms each, an answer 0.5 ms,
    # a cheap answer 0.2 ms: deciding all would end at 8 + 2 = 10 ms (the last two late);
    # shedding one: 0.2 + 6 + 1.5 = 7.7 ms, every answer on time
    batch = [_r(n, 9 * MS) for n in "abcd"]
    plan = _plan(batch, Costs(policy_s=2e-3, answer_s=0.5e-3, cheap_s=0.2e-3))
    assert len(plan.decided) == 3 and len(plan.first) == 1 and not plan.no_time
    assert plan.shed == {plan.first[0].header}


def test_the_node_decided_most_recently_is_shed_first():
    batch = [_r(n, 9 * MS) for n in "abcd"]
    turns = {"a": 4, "b": 9, "c": 1, "d": 0}  # b had the policy last
    plan = _plan(batch, Costs(policy_s=2e-3, answer_s=0.5e-3, cheap_s=0.2e-3),
                 priority=lambda r: turns[r.header.node_id])
    assert _nodes(plan.first) == ["b"] and _nodes(plan.decided) == ["a", "c", "d"]


def test_an_indication_about_to_expire_is_shed_rather_than_the_fresh_ones():
    # a is due in 1 ms (too soon for any pass), b-d in 20 ms: only a is shed
    batch = [_r("a", 1 * MS), *(_r(n, 20 * MS) for n in "bcd")]
    plan = _plan(batch, Costs(policy_s=2e-3, answer_s=0.5e-3, cheap_s=0.2e-3),
                 priority=lambda r: {"a": 0, "b": 5, "c": 5, "d": 5}[r.header.node_id])
    assert _nodes(plan.first) == ["a"] and _nodes(plan.decided) == ["b", "c", "d"]


def test_no_answer_is_planned_that_cannot_reach_its_deadline():
    # a cheap answer costs 1 ms: a (due in 0.5 ms) cannot be answered in time
    batch = [_r("a", MS // 2), _r("b", 50 * MS)]
    plan = _plan(batch, Costs(policy_s=2e-3, answer_s=0.5e-3, cheap_s=1e-3))
    assert _nodes(plan.no_time) == ["a"] and _nodes(plan.decided) == ["b"]


def test_what_cannot_be_shed_is_still_decided():
    batch = [_r("a", 1 * MS), _r("b", 1 * MS)]
    plan = _plan(batch, Costs(policy_s=2e-3, answer_s=0.5e-3, cheap_s=0.2e-3),
                 sheddable=lambda r: False)
    assert plan.decided == batch and not plan.first and not plan.no_time


def test_refusals_are_answered_first_and_never_shed_nor_dropped():
    batch = [_r("a", 10 * MS), _r("r", 1, decodable=False)]
    plan = _plan(batch, Costs(policy_s=2e-3, answer_s=0.5e-3, cheap_s=1e-3))
    assert _nodes(plan.first) == ["r"] and not plan.shed and not plan.no_time


def test_every_indication_is_planned_exactly_once():
    # overloaded: 12 due within 0-11 ms, 2 ms each to decide
    batch = [_r(f"n{i}", i * MS, decodable=i % 5 != 0) for i in range(12)]
    plan = _plan(batch, Costs(policy_s=2e-3, answer_s=0.5e-3, cheap_s=0.3e-3),
                 priority=lambda r: int(r.header.node_id[1:]) % 3)
    planned = plan.first + plan.decided + plan.no_time
    assert sorted(map(id, planned)) == sorted(map(id, batch))
    assert plan.shed <= {r.header for r in plan.first}


def test_costs_start_at_the_first_sample_and_then_average():
    costs = Costs().after_pass(1e-3).after_decided(2e-3).after_cheap(4e-4)
    assert (costs.policy_s, costs.answer_s, costs.cheap_s) == (1e-3, 2e-3, 4e-4)
    costs = costs.after_decided(2e-3, policy_s=2e-3)  # decided on its own: policy learnt
    assert abs(costs.policy_s - (0.9e-3 + 0.2e-3)) < 1e-12 and costs.answer_s == 2e-3


def test_a_cost_estimate_not_measured_again_decays_until_the_policy_is_tried():
    batch = [_r("a", 5 * MS)]
    costs = Costs(policy_s=10e-3, answer_s=0.5e-3, cheap_s=0.2e-3)  # learnt in a slow spell
    turns = 0
    while _plan(batch, costs).shed:
        costs, turns = costs.aged(decided=True), turns + 1
    assert 0 < turns < 20 and _plan(batch, costs).decided == batch
    assert costs.cheap_s == 0.2e-3


def test_a_cheap_answer_estimate_not_measured_again_decays_until_one_is_tried():
    batch = [_r("a", 1 * MS)]
    costs = Costs(policy_s=10e-3, answer_s=0.5e-3, cheap_s=3e-3)
    turns = 0
    while _plan(batch, costs).no_time:
        costs, turns = costs.aged(cheap=True), turns + 1
    assert 0 < turns < 20 and _plan(batch, costs).shed == {batch[0].header}


def test_overloaded_says_exactly_when_plan_would_shed_or_drop():
    costs = Costs(policy_s=2e-3, answer_s=0.5e-3, cheap_s=0.2e-3)
    for n in (1, 2, 4, 8, 16):
        for deadline_ms in (1, 3, 6, 12, 40):
            for shed_all in (True, False):
                batch = [_r(f"n{i}", (deadline_ms + i) * MS) for i in range(n)]
                sheddable = (lambda r: True) if shed_all else (lambda r: False)
                plan = _plan(batch, costs, sheddable=sheddable)
                assert admission.overloaded(batch, 0, costs, sheddable=sheddable) == bool(
                    plan.shed or plan.no_time), (n, deadline_ms, shed_all)
