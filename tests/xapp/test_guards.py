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


def _node_and_guard(scenario: str, make_decision):  # noqa: ANN001, ANN202
    """(node accepted?, guard verdict) for one decision built from the open indication."""
    from rrm.core.wire.messages import ControlMsg, Outcome
    from rrm.sim.nodes import NodeSpec, build_node

    spec = NodeSpec(scenario=scenario, catalog=None, num_links=3, num_aps=2)
    node = build_node(spec, "n0", seed=4, slot_period_s=10.0)
    ind = node.open_slot()
    decision = make_decision(ind.state)
    ack = node.control(ControlMsg(ind.header, decision, "test"))
    ctx = DecisionContext(ind.state, decision, get_objective("sum"), 0.0, 1.0)
    verdict = check_decision(ctx, GuardConfig(utility_margin=-1))
    return ack.outcome == Outcome.ACCEPTED, verdict


def _beams(scale: float = 1.0, x: int = 1, nan: bool = False):  # noqa: ANN202
    def make(state):  # noqa: ANN001, ANN202
        from rrm.core.types import BeamformingAllocation, CellFreeState

        b, k, m = state.h.shape if isinstance(state, CellFreeState) else (1, state.num_links, 1)
        v = np.full((b, k, m), np.sqrt(np.max(state.pmax_w) / (k * m)) * scale, complex)
        if nan:
            v[0, 0, 0] = np.nan
        return BeamformingAllocation(v, np.full((b, k), x, np.int8))
    return make


def _powers(values):  # noqa: ANN001, ANN202
    return lambda state: PowerAllocation(np.asarray(values, float) * np.max(state.pmax_w))


@pytest.mark.parametrize("scenario, make, guard", [
    ("d2d", _powers([1, 1, 1]), ""),
    ("d2d", _powers([0, 0.5, 1]), ""),
    ("d2d", _powers([1 + 1e-5, 1, 1]), "budget"),
    ("d2d", _powers([-1e-3, 1, 1]), "budget"),
    ("d2d", _powers([1, 1]), "budget"),
    ("d2d", _powers([np.nan, 1, 1]), "non_finite"),
    ("ergodic", _powers([np.inf, 1, 1]), "non_finite"),
    ("d2d", _beams(), "budget"),
    ("cellfree", _beams(), ""),
    ("cellfree", _beams(scale=1.01), "budget"),
    ("cellfree", _beams(x=2), "budget"),
    ("cellfree", _beams(nan=True), "non_finite"),
    ("cellfree", _powers([1, 1, 1]), "budget"),
])
def test_node_and_guards_apply_one_rule(scenario, make, guard):
    accepted, verdict = _node_and_guard(scenario, make)
    assert verdict.guard == guard and accepted == (guard == "")


def test_distribution_shift_guard_trips_above_the_threshold_only():
    def shifted(score, threshold):
        ctx = DecisionContext(STATE, PowerAllocation(np.ones(K)), get_objective("sum"), 0.001,
                              0.008, shift_score=score)
        return check_decision(ctx, GuardConfig(shift_threshold=threshold))

    assert shifted(9.0, 8.0).guard == "distribution_shift"
    assert "9" in shifted(9.0, 8.0).detail
    assert shifted(8.0, 8.0).passed  # at the threshold: accepted
    assert shifted(None, 8.0).passed  # a policy that does not score states
    assert shifted(1e9, -1.0).passed  # negative disables


def test_distribution_shift_is_a_named_guard_checked_before_utility():
    from rrm.xapp.guards import GUARD_NAMES

    assert "distribution_shift" in GUARD_NAMES
    ctx = DecisionContext(STATE, PowerAllocation(np.full(K, 1e-6)), get_objective("sum"), 0.001,
                          0.008, shift_score=50.0)
    assert check_decision(ctx, GuardConfig()).guard == "distribution_shift"


def _utility_and_qos_one_by_one(ctx, cfg):  # noqa: ANN001, ANN202
    """The utility and qos guards as they were before sharing one rates call: each
    computed the rates it needed with ``physics.rates``, one power vector at a time."""
    from rrm.core import physics

    s, a = ctx.state, ctx.allocation
    mine_r = physics.rates(s.gains, a.power_w, s.noise_w)
    ref_r = physics.rates(s.gains, s.pmax_per_link, s.noise_w)
    obj = ctx.objective
    if s.weights is not None and obj.name == "wsr":
        obj = obj.with_weights(s.weights)
    mine, ref = float(obj.utility(mine_r)), float(obj.utility(ref_r))
    if cfg.utility_margin >= 0 and mine < ref - cfg.utility_margin * abs(ref):
        return "utility", mine, ref
    if cfg.qos_violation_max < 1.0 and float(np.mean(mine_r < cfg.r_min)) > cfg.qos_violation_max:
        return "qos", mine, ref
    return "", mine, ref


@pytest.mark.parametrize("objective", ["sum", "pf", "qos", "wsr"])
def test_utility_and_qos_guards_share_one_rates_call_and_trip_where_they_did(objective):
    rng = np.random.default_rng(7)
    for trial in range(60):
        k = int(rng.integers(2, 60))
        gains = rng.exponential(size=(k, k)) * 10.0 ** rng.uniform(-10, -7, size=(k, k))
        weights = rng.uniform(0.5, 2.0, k) if objective == "wsr" and trial % 2 else None
        state = InterferenceState(gains, 10.0 ** rng.uniform(-13, -11),
                                  np.full(k, 1e-3), weights=weights)
        power = PowerAllocation(1e-3 * rng.uniform(0, 1, k) * (rng.random(k) < 0.8))
        ctx = DecisionContext(state, power, get_objective(objective), 0.0, 1.0)
        _, mine, ref = _utility_and_qos_one_by_one(ctx, GuardConfig())
        # margins exactly at the trip point and one ulp either side, and qos limits
        at = (ref - mine) / abs(ref) if ref else 0.0
        for margin in (at, np.nextafter(at, -1), np.nextafter(at, 1), 0.05, -1.0):
            for qos_max in (1.0, 0.0, 0.3):
                cfg = GuardConfig(utility_margin=float(margin), qos_violation_max=qos_max,
                                  shift_threshold=-1)
                fresh = DecisionContext(state, power, get_objective(objective), 0.0, 1.0)
                expected = _utility_and_qos_one_by_one(fresh, cfg)[0]
                assert check_decision(fresh, cfg).guard == expected
