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
from rrm.models.policy import make_policy
from rrm.sim.nodes import NodeSpec, build_node
from rrm.sim.simulator import Simulator
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig
from rrm.xapp.health import HealthState
from rrm.xapp.loop import SlotLoop
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.transport.inproc import InProcessClient


class PrefetchingPolicy:
    """Full reuse that records the batches offered and counts cache hits."""

    name = "prefetching"

    def __init__(self):
        self.inner = make_policy("full-reuse")
        self.batches, self.hits, self.misses = [], 0, 0
        self.pending = set()

    def prefetch(self, states, objectives):
        self.batches.append(len(states))
        self.pending = {id(s) for s in states}

    def decide(self, state, objective):
        if id(state) in self.pending:
            self.hits += 1
        else:
            self.misses += 1
        return self.inner.decide(state, objective)


def run_nodes(nodes: int, k: int, slots: int, **loop_args):
    """Run ``slots`` indications of ``nodes`` lockstep nodes through the loop's run()."""
    built = [build_node(NodeSpec(num_links=k), f"n{i}", seed=i, slot_period_s=0.2)
             for i in range(nodes)]
    sim = Simulator(built, slot_period_s=0.2, lockstep=True)
    client = InProcessClient(sim)
    client.subscribe(SubscribeMsg("test", transaction_id="t"))
    policy = PrefetchingPolicy()
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


def test_gfm_prefetched_powers_equal_one_by_one_powers(gfm):
    states, objective = _states(), get_objective("sum")
    alone = [gfm.decide(s, objective).power_w for s in states]
    gfm.prefetch(states, [objective] * len(states))
    calls = []
    original = gfm._powers
    gfm._powers = lambda *a: calls.append(a) or original(*a)
    try:
        batched = [gfm.decide(s, objective).power_w for s in states]
    finally:
        del gfm._powers
    assert calls == []  # every answer came from the batched pass
    for a, b in zip(alone, batched, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


def test_gfm_prefetch_answers_only_the_exact_state_and_objective(gfm):
    states, objective = _states(seed=1), get_objective("sum")
    gfm.prefetch(states, [objective] * len(states))
    changed = InterferenceState(states[0].gains * 2, 1e-13, 0.01)
    expected = gfm._powers(changed, objective)
    np.testing.assert_allclose(gfm.decide(changed, objective).power_w, expected)
    assert len(gfm._cache) == len(states)  # the miss did not consume any cached answer
