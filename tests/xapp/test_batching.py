"""Several nodes in one slot: the loop hands the queued indications to the policy
together, every indication still gets exactly one answer, and the batched answers
equal the one-by-one ones."""

import threading

import numpy as np
import pytest

from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState
from rrm.core.wire.messages import SubscribeMsg
from rrm.models.gfm.policy import GFMPolicy
from rrm.models.policy import Policy, make_policy
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig
from rrm.xapp.health import HealthState
from rrm.xapp.loop import SlotLoop
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.transport.inproc import InProcessClient


class BatchingPolicy(Policy):
    """Full reuse that decides slots in batches and records the batches and single calls."""

    batches_slots = True

    def __init__(self):
        super().__init__("batching")
        self.inner = make_policy("full-reuse")
        self.batches, self.singles = [], []

    def decide_batch(self, states, objectives):
        self.batches.append(len(states))
        return [self.inner.decide(s, o) for s, o in zip(states, objectives, strict=True)]

    def decide(self, state, objective):
        self.singles.append(state)
        return self.inner.decide(state, objective)


def run_nodes(nodes: int, k: int, slots: int, **loop_args):
    """Run ``slots`` indications of ``nodes`` lockstep nodes through the loop's run()."""
    built = [build_node(NodeSpec(num_links=k), f"n{i}", seed=i, slot_period_s=0.2)
             for i in range(nodes)]
    sim = Simulator(built, slot_period_s=0.2, lockstep=True)
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("test", transaction_id="t"))
    policy = BatchingPolicy()
    decider = Decider(policy, make_policy("wmmse"), GuardConfig(), "sum")
    loop = SlotLoop(client, decider, XAppMetrics(), HealthState(), **loop_args)
    sim.start()
    try:
        threading.Event().wait(0.05)  # let the first slot's indications queue up
        loop.run(threading.Event(), max_slots=slots)
    finally:
        sim.stop()
        decider.close()
    return built, policy, loop


def test_queued_indications_of_several_nodes_are_offered_together():
    nodes, policy, loop = run_nodes(4, 6, 40)
    assert loop.stats.slots == loop.stats.controls == 40
    assert all(node.counters["accepted"] == 10 for node in nodes)
    assert max(policy.batches) > 1 and sum(policy.batches) <= 40


def test_a_batch_never_exceeds_max_batch_or_max_slots():
    _, policy, loop = run_nodes(5, 4, 7, max_batch=2)
    assert loop.stats.slots == 7 and max(policy.batches) == 2


def test_a_lone_indication_takes_the_batched_path_not_the_worker():
    _, policy, loop = run_nodes(1, 6, 12)
    assert loop.stats.controls == 12 and policy.batches == [1] * 12 and policy.singles == []


def test_max_batch_one_keeps_every_indication_on_the_worker():
    _, policy, loop = run_nodes(1, 6, 5, max_batch=1)
    assert loop.stats.controls == 5 and policy.batches == [] and len(policy.singles) == 5


def test_a_batched_answer_in_hand_is_sent_whatever_the_fallback_reserve():
    # a fallback reserve (1.5 x 1 s) larger than the budget would leave a waited-for
    # policy no time at all; an answer already computed in the slot's pass is sent
    node = build_node(NodeSpec(num_links=4), "n0", seed=0, slot_period_s=10.0)
    first, second = node.open_slot(), node.open_slot()
    decider = Decider(BatchingPolicy(), make_policy("wmmse"), GuardConfig(), "sum")
    decider.fallback_s_avg = 1.0
    try:
        decider.prefetch([first, second])
        assert [decider.decide(i, budget_s=0.5).fallback_reason for i in (first, second)] \
            == ["", ""]
    finally:
        decider.close()


def test_under_overload_even_one_indication_takes_the_batched_path():
    node = build_node(NodeSpec(num_links=4), "n0", seed=0, slot_period_s=10.0)
    ind = node.open_slot()
    policy = BatchingPolicy()
    decider = Decider(policy, make_policy("wmmse"), GuardConfig(), "sum")
    try:
        decider.prefetch([ind])  # as without overload: left to decide (the worker)
        decider.prefetch([ind], min_batch=1)
        assert policy.batches == [1]
        assert decider.decide(ind, budget_s=5.0).batch_s > 0 and policy.singles == []
    finally:
        decider.close()


@pytest.fixture(scope="module")
def gfm():
    return GFMPolicy()


def _states(k=12, n=3, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        g = rng.exponential(size=(k, k)) * 1e-11
        g[np.arange(k), np.arange(k)] *= 300
        out.append(InterferenceState(g, 1e-13, 0.01))
    return out


def test_gfm_batch_decisions_equal_one_by_one_decisions_in_one_pass(gfm):
    states, objective = _states(), get_objective("sum")
    alone = [gfm.decide(s, objective).power_w for s in states]
    calls = []
    original = gfm._model_powers
    gfm._model_powers = lambda *a: calls.append(a) or original(*a)
    try:
        batched = [a.power_w for a in gfm.decide_batch(states, [objective] * len(states))]
    finally:
        del gfm._model_powers
    assert len(calls) == 1  # one forward pass for the whole slot
    for a, b in zip(alone, batched, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


def test_batch_answers_go_to_their_own_indications_only():
    node = build_node(NodeSpec(num_links=4), "n0", seed=0, slot_period_s=10.0)
    first, second, outsider = (node.open_slot() for _ in range(3))  # three sequence numbers
    policy = BatchingPolicy()
    decider = Decider(policy, make_policy("wmmse"), GuardConfig(), "sum")
    try:
        decider.prefetch([first, second])
        assert policy.batches == [2]
        for ind in (first, second):
            assert decider.decide(ind, budget_s=5.0).fallback_reason == ""
        assert policy.singles == []  # both answered from the batch
        decider.decide(outsider, budget_s=5.0)
        assert policy.singles == [outsider.state]
    finally:
        decider.close()
