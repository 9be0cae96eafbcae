"""Decider contract for policies that read the whole indication and may be unavailable."""

import numpy as np

from rrm.core.types import PowerAllocation
from rrm.models.policy import PolicyUnavailable, make_policy
from rrm.sim.nodes import NodeSpec, build_node
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig


def ergodic_indication(k=6):
    node = build_node(NodeSpec(scenario="ergodic", num_links=k), "n0", seed=2, slot_period_s=1.0)
    return node.open_slot()


class IndicationPolicy:
    """Reads the ergodic extras; optionally unavailable; optionally time-sharing and poor."""

    name = "extras"

    def __init__(self, unavailable=False, poor=False, time_sharing=False):
        self.unavailable, self.poor, self.time_sharing = unavailable, poor, time_sharing
        self.seen = []

    def decide(self, state, objective):
        raise AssertionError("decide must not be called when decide_indication exists")

    def decide_indication(self, ind, objective):
        self.seen.append(ind)
        if self.unavailable:
            raise PolicyUnavailable("sample buffer empty")
        k = ind.state.num_links
        share = np.full(k, 1e-9) if self.poor else np.ones(k)
        return PowerAllocation(share * np.asarray(ind.state.pmax_w))


def decide_with(policy, ind):
    decider = Decider(policy, make_policy("wmmse", max_iter=50), GuardConfig(), "sum")
    try:
        return decider.decide(ind, budget_s=5.0)
    finally:
        decider.close()


def test_decider_passes_the_indication_with_its_ergodic_extras():
    ind, policy = ergodic_indication(), IndicationPolicy()
    d = decide_with(policy, ind)
    assert d.fallback_reason == "" and d.policy == "extras"
    assert policy.seen == [ind]
    assert policy.seen[0].ergodic.topology_version == ind.ergodic.topology_version
    np.testing.assert_array_equal(policy.seen[0].ergodic.large_scale, ind.ergodic.large_scale)


def test_unavailable_policy_falls_back_to_wmmse_with_its_own_reason():
    d = decide_with(IndicationPolicy(unavailable=True), ergodic_indication())
    assert d.fallback_reason == "policy_unavailable" and d.policy == "wmmse"
    assert "buffer empty" in d.detail and isinstance(d.answer, PowerAllocation)


def test_per_slot_utility_guard_skips_time_sharing_policies_only():
    ind = ergodic_indication()
    assert decide_with(IndicationPolicy(poor=True), ind).fallback_reason == "utility"
    shared = decide_with(IndicationPolicy(poor=True, time_sharing=True), ind)
    assert shared.fallback_reason == "" and shared.policy == "extras"


def test_other_guards_still_apply_to_time_sharing_policies():
    class OverBudget(IndicationPolicy):
        def decide_indication(self, ind, objective):
            return PowerAllocation(3 * np.asarray(ind.state.pmax_w) * np.ones(ind.state.num_links))

    assert decide_with(OverBudget(time_sharing=True), ergodic_indication()).fallback_reason == \
        "budget"
