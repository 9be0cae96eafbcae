"""The xApp's distribution_shift guard: the decider asks the policy for its shift score
and falls back to WMMSE above the configured threshold."""

import numpy as np

from rrm.core.types import PowerAllocation
from rrm.models.policy import Policy, make_policy
from rrm.sim.nodes import NodeSpec, build_node
from rrm.xapp.decision import Decider
from rrm.xapp.guards import GuardConfig


class ScoredPolicy(Policy):
    """Full power, with a fixed shift score (None: a policy that does not score)."""

    def __init__(self, score):
        super().__init__("scored")
        self.score = score

    def decide(self, state, objective):
        return PowerAllocation(np.array(state.pmax_per_link, dtype=float))

    def shift_score(self, state):
        return None if self.score is None else np.float64(self.score)


def decide(score, threshold=8.0):
    ind = build_node(NodeSpec(num_links=6), "n0", seed=3, slot_period_s=1.0).open_slot()
    decider = Decider(ScoredPolicy(score), make_policy("wmmse", max_iter=50),
                      GuardConfig(shift_threshold=threshold, utility_margin=-1), "sum")
    try:
        return decider.decide(ind, budget_s=5.0)
    finally:
        decider.close()


def test_a_shifted_state_falls_back_to_wmmse_with_the_guards_name():
    d = decide(12.5)
    assert d.fallback_reason == "distribution_shift" and d.policy == "wmmse"
    assert "12.5" in d.detail and isinstance(d.answer, PowerAllocation)


def test_typical_unscored_or_disabled_states_keep_the_policys_answer():
    for score, threshold in [(3.0, 8.0), (None, 8.0), (50.0, -1.0)]:
        d = decide(score, threshold)
        assert d.fallback_reason == "" and d.policy == "scored"


def _slot(nodes=3, k=20):
    return [build_node(NodeSpec(num_links=k), f"n{i}", seed=10 + i, slot_period_s=1.0)
            .open_slot() for i in range(nodes)]


def _counted_gfm(scored_in_pass):
    """The shipped gfm policy whose ``shift_score`` calls are recorded (their gains'
    shapes); ``scored_in_pass`` False hides ``decide_batch_scored``."""
    gfm = make_policy("gfm")
    calls = []
    score = gfm.shift_score

    def counted(state):
        calls.append(state.gains.shape)
        return score(state)

    gfm.shift_score = counted  # type: ignore[method-assign]
    if not scored_in_pass:
        gfm.decide_batch_scored = None  # type: ignore[attr-defined]
    return gfm, calls, score


def _prefetched_scores(gfm, inds):
    decider = Decider(gfm, make_policy("wmmse", max_iter=50), GuardConfig(), "sum")
    try:
        decider.prefetch(inds)
        return [decider._shift_score(i) for i in inds]
    finally:
        decider.close()


def test_a_prefetched_slot_is_scored_in_the_batched_pass_with_the_one_by_one_numbers():
    gfm, calls, score = _counted_gfm(scored_in_pass=True)
    inds = _slot() + _slot(nodes=1, k=12)  # three of K = 20 stack; K = 12 alone
    one_by_one = [float(score(i.state)) for i in inds]
    scores = _prefetched_scores(gfm, inds)
    assert calls == []  # every state scored from the pass's own INRs
    assert scores == one_by_one  # bit for bit


def test_a_prefetched_slot_is_scored_once_per_k_with_the_one_by_one_numbers():
    gfm, calls, score = _counted_gfm(scored_in_pass=False)
    inds = _slot() + _slot(nodes=1, k=12)  # three of K = 20 stack; K = 12 alone
    one_by_one = [float(score(i.state)) for i in inds]
    decider = Decider(gfm, make_policy("wmmse", max_iter=50), GuardConfig(), "sum")
    try:
        decider.prefetch(inds)
        assert calls == [(3, 20, 20)]  # the K = 20 states in one call; K = 12 not yet
        scores = [decider._shift_score(i) for i in inds]
    finally:
        decider.close()
    np.testing.assert_allclose(scores, one_by_one, rtol=1e-12, atol=0)
    assert calls[1:] == [(12, 12)]  # the lone K = 12 state scored on its own
