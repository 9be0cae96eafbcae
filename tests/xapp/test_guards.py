"""Guards trip, by name, on exactly the faults they exist for."""

import numpy as np
import pytest

from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.xapp.guards import DecisionContext, GuardConfig, check_decision, check_input

K = 4
RNG = np.random.default_rng(0)
GAINS = np.eye(K) * 1.0 + 0.01 * RNG.exponential(size=(K, K))
STATE = InterferenceState(GAINS, 0.01, 1.0)


def verdict(power, latency=0.001, cfg=None, objective="sum"):
    ctx = DecisionContext(STATE, PowerAllocation(np.asarray(power, float)),
                          get_objective(objective), latency, 0.008)
    return check_decision(ctx, cfg or GuardConfig())


def test_a_sound_decision_passes():
    assert verdict(np.ones(K)).passed


@pytest.mark.parametrize("power, guard", [
    ([np.nan, 1, 1, 1], "non_finite"),
    ([np.inf, 1, 1, 1], "non_finite"),
    ([1.5, 1, 1, 1], "budget"),
    ([-0.1, 1, 1, 1], "budget"),
    ([1, 1, 1], "budget"),
    ([1e-6, 1e-6, 1e-6, 1e-6], "utility"),
])
def test_faulty_outputs_trip_the_named_guard(power, guard):
    v = verdict(power)
    assert v.guard == guard and v.detail


def test_slow_decision_trips_the_deadline_guard():
    assert verdict(np.ones(K), latency=0.009).guard == "deadline"


def test_utility_margin_controls_how_much_worse_than_full_reuse_is_accepted():
    p = np.array([1.0, 1.0, 1.0, 0.0])  # one link silenced: about 25 % less sum rate
    assert verdict(p, cfg=GuardConfig(utility_margin=0.05)).guard == "utility"
    assert verdict(p, cfg=GuardConfig(utility_margin=0.5)).passed
    assert verdict(p, cfg=GuardConfig(utility_margin=-1)).passed


def test_qos_guard_counts_links_below_r_min():
    p = np.array([1.0, 1.0, 1.0, 0.0])
    cfg = GuardConfig(utility_margin=-1, qos_violation_max=0.2)
    assert verdict(p, cfg=cfg).guard == "qos"
    assert verdict(np.ones(K), cfg=cfg).passed


def test_input_support_refuses_k_above_the_limit():
    assert check_input(STATE, GuardConfig(max_links=3)).guard == "input_support"
    assert check_input(STATE, GuardConfig(max_links=8), policy_max_links=3).guard == "input_support"
    assert check_input(STATE, GuardConfig(max_links=4)).passed
