"""WMMSE family: monotone, near-oracle, reference figures, multi-start dominance."""

import numpy as np
import pytest

from models.policy import make_policy
from models.wmmse import WmmseIteration, WmmseStep, weighted_sum_rate
from sim import physics
from sim.objectives import get_objective
from sim.types import InterferenceState

SUM = get_objective("sum")


def rayleigh_gains(rng, n, k):
    h = (rng.normal(size=(n, k, k)) + 1j * rng.normal(size=(n, k, k))) / np.sqrt(2)
    return np.abs(h) ** 2


def wide_range_gains(rng, n, k):
    """Path-loss-like dynamic range: strong direct links, weak-to-strong cross links."""
    g = rayleigh_gains(rng, n, k) * 10 ** rng.uniform(-3, 0, size=(n, k, k))
    idx = np.arange(k)
    g[:, idx, idx] *= 10 ** rng.uniform(0, 2, size=(n, k))
    return g


def sum_rate(gains, power, noise=1.0):
    return physics.rates(gains, power, noise).sum(-1)


def test_weighted_sum_rate_never_decreases_across_iterations():
    rng = np.random.default_rng(0)
    g = wide_range_gains(rng, 20, 6)
    it = WmmseIteration(max_iter=1, tol=0.0)
    weights = rng.uniform(0.5, 2.0, size=(20, 1, 6))
    noise, vmax = np.full((20, 1, 6), 0.01), np.ones((20, 1, 6))
    v = rng.uniform(size=(20, 1, 6))
    state = WmmseStep(v, weighted_sum_rate(g, v, noise, weights), np.ones((20, 1), bool))
    for _ in range(60):
        new = it.step(g, noise, vmax, weights, state)
        assert np.all(new.wsr >= state.wsr - 1e-9 * np.abs(state.wsr))
        state = WmmseStep(new.amplitude, new.wsr, np.ones((20, 1), bool))


def test_single_link_transmits_at_full_power():
    state = InterferenceState(np.array([[[2.0]], [[1e-9]]]), 0.1, 0.5)
    for name in ("wmmse", "wmmse-best", "oracle"):
        p = make_policy(name).decide(state, SUM).power_w
        np.testing.assert_allclose(p, 0.5, rtol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_wmmse_best_reaches_98_percent_of_the_oracle_on_every_tiny_network(k):
    rng = np.random.default_rng(k)
    gains = np.concatenate([rayleigh_gains(rng, 15, k), wide_range_gains(rng, 15, k)])
    state = InterferenceState(gains, 0.05, 1.0)
    oracle = sum_rate(gains, make_policy("oracle").decide(state, SUM).power_w, 0.05)
    best = sum_rate(gains, make_policy("wmmse-best").decide(state, SUM).power_w, 0.05)
    single = sum_rate(gains, make_policy("wmmse").decide(state, SUM).power_w, 0.05)
    assert np.all(best >= 0.98 * oracle)
    assert np.all(np.maximum(best, single) <= oracle * (1 + 1e-6))  # the oracle bounds both
    # One full-power start is a local method: measured mean 0.94-0.99 of the oracle at
    # 13 dB SNR, single instances as low as 0.57 (hence the multi-start baseline).
    assert np.mean(single / oracle) >= 0.93


@pytest.mark.parametrize("objective", ["pf", "qos"])
def test_fairness_objectives_beat_full_reuse_and_approach_the_oracle(objective):
    rng = np.random.default_rng(11)
    gains = wide_range_gains(rng, 20, 3)
    state = InterferenceState(gains, 0.05, 1.0)
    obj = get_objective(objective)
    utility = {name: obj.utility(physics.rates(gains, make_policy(name).decide(state, obj).power_w,
                                               0.05))
               for name in ("full-reuse", "wmmse-best", "oracle")}
    assert np.all(utility["wmmse-best"] >= utility["full-reuse"] - 1e-9)
    gap = utility["oracle"] - utility["wmmse-best"]
    assert np.all(gap >= -1e-6)  # the oracle is an upper bound
    # measured mean gap 0.03 (pf) / 0.09 (qos); a single instance can sit in a worse basin
    assert np.mean(gap) <= 0.05 * np.mean(np.abs(utility["oracle"])) + 0.1


@pytest.mark.parametrize("k, reference", [(10, 2.79), (20, 3.66), (30, 4.12)])
def test_reproduces_the_gaussian_interference_channel_reference_figures(k, reference):
    """Sun et al. 2018 (Learning to optimize), Table: WMMSE on CN(0,1), noise 1, Pmax 1."""
    gains = rayleigh_gains(np.random.default_rng(2018 + k), 1000, k)
    state = InterferenceState(gains, 1.0, 1.0)
    p = make_policy("wmmse", max_iter=100, tol=1e-3).decide(state, SUM).power_w
    assert sum_rate(gains, p).mean() == pytest.approx(reference, rel=0.025)


def test_wmmse_best_is_never_worse_than_wmmse():
    gains = wide_range_gains(np.random.default_rng(5), 30, 8)
    for objective in ("sum", "pf", "qos"):
        obj = get_objective(objective)
        state = InterferenceState(gains, 0.01, 1.0)
        one = obj.utility(physics.rates(gains, make_policy("wmmse").decide(state, obj).power_w,
                                        0.01))
        best = obj.utility(physics.rates(
            gains, make_policy("wmmse-best", starts=20).decide(state, obj).power_w, 0.01))
        assert np.all(best >= one - 1e-9), objective


def test_warm_start_from_a_converged_solution_stops_at_once_with_the_same_powers():
    gains = wide_range_gains(np.random.default_rng(6), 10, 6)
    state = InterferenceState(gains, 0.01, 1.0)
    policy = make_policy("wmmse", tol=1e-9, max_iter=2000)
    first = policy.decide(state, SUM)
    again = policy.decide(state, SUM, warm_start=first.power_w)
    assert np.all(again.iterations <= 3)
    np.testing.assert_allclose(sum_rate(gains, again.power_w, 0.01),
                               sum_rate(gains, first.power_w, 0.01), rtol=1e-6)


def test_batch_equals_one_by_one_and_budgets_hold():
    rng = np.random.default_rng(7)
    gains = wide_range_gains(rng, 5, 5)
    pmax = np.array([1.0, 0.5, 0.25, 2.0, 1.0])
    policy = make_policy("wmmse")
    batch = policy.decide(InterferenceState(gains, 0.01, pmax), SUM).power_w
    for i in range(5):
        one = policy.decide(InterferenceState(gains[i], 0.01, pmax), SUM).power_w
        np.testing.assert_allclose(batch[i], one, rtol=1e-12)
    assert np.all(np.isfinite(batch)) and np.all(batch >= 0) and np.all(batch <= pmax + 1e-12)


def test_wsr_weights_shift_power_to_the_heavier_link():
    g = np.array([[1.0, 0.8], [0.8, 1.0]])  # symmetric, strongly coupled
    policy = make_policy("wmmse-best")
    obj = get_objective("wsr")
    p = policy.decide(InterferenceState(g, 0.01, 1.0, weights=np.array([5.0, 1.0])), obj).power_w
    assert p[0] > p[1]
