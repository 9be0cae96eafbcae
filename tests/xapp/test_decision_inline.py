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


def test_an_inline_answer_is_judged_against_the_whole_budget_not_less_the_fallback_reserve():
    # at N = 400 a WMMSE fallback outlasts the slot: its reserve must not starve the policy
    policy = InlinePolicy()
    ind = build_node(NodeSpec(num_links=6), "n0", seed=2, slot_period_s=1.0).open_slot()
    decider = Decider(policy, make_policy("wmmse", max_iter=50), GuardConfig(), "sum")
    decider.fallback_s_avg = 10.0  # a reserve far above the budget
    try:
        d = decider.decide(ind, budget_s=1.0)
    finally:
        decider.close()
    assert d.policy == "inline" and not d.fallback_reason


class SometimesInline(InlinePolicy):
    """Inline for some states only (e.g. a buffered slot vs a synchronous draw)."""

    inline = False

    def answers_inline(self, state):
        return state.num_links == 6


def test_a_policy_says_per_state_whether_it_answers_inline():
    policy = SometimesInline()
    decide_with(policy)
    assert policy.threads == [threading.current_thread()]
    ind = build_node(NodeSpec(num_links=5), "n0", seed=2, slot_period_s=1.0).open_slot()
    decider = Decider(policy, make_policy("wmmse", max_iter=50), GuardConfig(), "sum")
    try:
        decider.decide(ind, budget_s=5.0)
    finally:
        decider.close()
    assert policy.threads[-1] is not threading.current_thread()  # the worker's
