"""An ``inline`` policy is answered on the loop's thread, guarded as any other."""

import threading

import numpy as np

from rrm.core.types import PowerAllocation
from rrm.models.policy import Policy, make_policy
from rrm.sim.nodes import NodeSpec, build_node
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig


class InlinePolicy(Policy):
    """Full power, or a raise; remembers the thread that called it."""

    inline = True

    def __init__(self, raises=False):
        super().__init__("inline")
        self.raises, self.threads = raises, []

    def decide(self, state, objective):
        self.threads.append(threading.current_thread())
        if self.raises:
            raise RuntimeError("model exploded")
        return PowerAllocation(np.asarray(state.pmax_w, float).copy())


def decide_with(policy):
    ind = build_node(NodeSpec(num_links=6), "n0", seed=2, slot_period_s=1.0).open_slot()
    decider = Decider(policy, make_policy("wmmse", max_iter=50), GuardConfig(), "sum")
    try:
        return decider.decide(ind, budget_s=5.0)
    finally:
        decider.close()


def test_an_inline_policy_runs_on_the_callers_thread():
    policy = InlinePolicy()
    d = decide_with(policy)
    assert policy.threads == [threading.current_thread()]
    assert d.policy == "inline" and not d.fallback_reason


def test_an_inline_policy_that_raises_gets_the_fallback():
    d = decide_with(InlinePolicy(raises=True))
    assert d.fallback_reason == "policy_error" and d.policy == "wmmse"
    assert "model exploded" in d.detail


def test_full_reuse_is_inline():
    assert make_policy("full-reuse").inline and not make_policy("wmmse").inline
