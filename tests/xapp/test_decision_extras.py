"""Decider contract for time-sharing policies that read the ergodic fields of the
per-slot state and may be unavailable."""

import numpy as np

from rrm.core.types import PowerAllocation
from rrm.core.wire.codec import decode_indication, encode_indication
from rrm.models.policy import Policy, PolicyUnavailable, make_policy
from rrm.sim.nodes import NodeSpec, build_node
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig


def ergodic_indication(k=6):
    node = build_node(NodeSpec(scenario="ergodic", num_links=k), "n0", seed=2, slot_period_s=1.0)
    return node.open_slot()


class IndicationPolicy(Policy):
    """Reads the ergodic fields of the state; optionally unavailable; optionally
    time-sharing and poor."""

    def __init__(self, unavailable=False, poor=False, time_sharing=False):
        super().__init__("extras")
        self.unavailable, self.poor, self.time_sharing = unavailable, poor, time_sharing
        self.seen = []

    def decide(self, state, objective):
        self.seen.append(state)
        if self.unavailable:
            raise PolicyUnavailable("sample buffer empty")
        k = state.num_links
        share = np.full(k, 1e-9) if self.poor else np.ones(k)
        return PowerAllocation(share * np.asarray(state.pmax_w))


def decide_with(policy, ind):
    decider = Decider(policy, make_policy("wmmse", max_iter=50), GuardConfig(), "sum")
    try:
        return decider.decide(ind, budget_s=5.0)
    finally:
        decider.close()


def test_the_decoded_state_carries_the_ergodic_extras_to_the_policy():
    ind, policy = ergodic_indication(), IndicationPolicy()
    decoded = decode_indication(encode_indication(ind))
    d = decide_with(policy, decoded)
    assert d.fallback_reason == "" and d.policy == "extras"
    (state,) = policy.seen
    assert state.topology_version == ind.ergodic.topology_version
    assert state.network_id == ind.header.node_id
    np.testing.assert_array_equal(state.large_scale, ind.ergodic.large_scale)
    np.testing.assert_array_equal(state.f_min, ind.ergodic.f_min)


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
        def decide(self, state, objective):
            return PowerAllocation(3 * np.asarray(state.pmax_w) * np.ones(state.num_links))

    assert decide_with(OverBudget(time_sharing=True), ergodic_indication()).fallback_reason == \
        "budget"
