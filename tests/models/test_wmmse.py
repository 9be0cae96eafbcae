"""WMMSE family: monotone, near-oracle, reference figures, multi-start dominance, shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import get_objective
from rrm.core.types import CellFreeState, InterferenceState
from rrm.models.policy import make_policy
from rrm.models.wmmse import WmmseIteration, WmmseProblem, weighted_sum_rate
from tests.models.instances import rayleigh_gains, utility, wide_range_gains

SUM = get_objective("sum")


def test_weighted_sum_rate_never_decreases_across_iterations():
    rng = np.random.default_rng(0)
    gains = np.concatenate([wide_range_gains(rng, 10, 6), rayleigh_gains(rng, 10, 6)])
    weights = rng.uniform(0.2, 3.0, size=(20, 6))
    starts = rng.uniform(size=(20, 4, 6))  # 4 random starts per instance
    res = WmmseIteration(max_iter=300, tol=0.0).solve(gains, 0.01, 1.0, weights, starts,
                                                      trace=True)
    trace = res.trace  # (T + 1, 20, 4)
    assert trace.shape[1:] == (20, 4) and trace.shape[0] > 100
    assert np.all(np.diff(trace, axis=0) >= -1e-9 * np.abs(trace[:-1]))
    np.testing.assert_allclose(trace[-1], weighted_sum_rate(gains, res.power_w, 0.01, weights),
                               rtol=1e-12)


def test_step_by_step_equals_solve():
    rng = np.random.default_rng(1)
    gains = wide_range_gains(rng, 4, 5)
    iteration = WmmseIteration(max_iter=7, tol=0.0)
    problem = WmmseProblem.build(gains, 0.01, 1.0)
    state = iteration.init(problem)
    for _ in range(7):
        state = iteration.step(problem, state)
    np.testing.assert_allclose(state.power_w, iteration.solve(gains, 0.01, 1.0).power_w,
                               rtol=1e-12)


def test_converged_starts_are_frozen_and_the_cap_is_reported():
    gains = wide_range_gains(np.random.default_rng(2), 6, 8)
    capped = WmmseIteration(max_iter=3, tol=0.0).solve(gains, 1e-3, 1.0)
    assert np.all(capped.iterations == 3) and not capped.converged.any()
    loose = WmmseIteration(max_iter=500, tol=1e-2).solve(gains, 1e-3, 1.0)
    assert loose.converged.all() and np.all(loose.iterations < 500)


@pytest.mark.parametrize("name", ["wmmse", "wmmse-best"])
@pytest.mark.parametrize("objective", ["sum", "pf", "qos"])
def test_a_single_link_transmits_at_full_power(name, objective):
    state = InterferenceState(np.array([[[2.0]], [[1e-9]]]), 0.1, np.array([[0.5], [0.2]]))
    power = make_policy(name).decide(state, get_objective(objective)).power_w
    np.testing.assert_allclose(power, [[0.5], [0.2]], rtol=1e-9)


@pytest.fixture(scope="module")
def tiny_networks():
    """30 networks, K = 2, 3, 4 (10 each: 5 CN(0,1), 5 wide range), noise 0.05, Pmax 1."""
    rng = np.random.default_rng(98)
    sets = []
    for k in (2, 3, 4):
        gains = np.concatenate([rayleigh_gains(rng, 5, k), wide_range_gains(rng, 5, k)])
        state = InterferenceState(gains, 0.05, 1.0)
        oracle = make_policy("oracle").decide(state, SUM).power_w
        sets.append((state, utility(SUM, gains, oracle, 0.05)))
    return sets


def test_wmmse_best_reaches_98_percent_of_the_oracle_sum_rate(tiny_networks):
    for state, oracle in tiny_networks:
        best = utility(SUM, state.gains, make_policy("wmmse-best").decide(state, SUM).power_w,
                       0.05)
        assert np.all(best >= 0.98 * oracle)
        assert np.all(best <= oracle * (1 + 1e-6))  # the oracle is an upper bound


def test_single_start_wmmse_is_near_the_oracle_on_average(tiny_networks):
    ratios = []
    for state, oracle in tiny_networks:
        one = utility(SUM, state.gains, make_policy("wmmse").decide(state, SUM).power_w, 0.05)
        assert np.all(one <= oracle * (1 + 1e-6))
        ratios.append(one / oracle)
    # One full-power start is a local method: it can stall near full reuse where switching
    # a link off is optimal. Measured here: mean 0.977, 83 % of instances >= 0.98, min 0.72.
    assert np.mean(ratios) >= 0.95


@pytest.mark.parametrize("name", ["wmmse", "wmmse-best"])
def test_pf_and_qos_beat_full_reuse_and_pf_approaches_the_oracle(name):
    rng = np.random.default_rng(11)
    gains = np.concatenate([wide_range_gains(rng, 10, 3), rayleigh_gains(rng, 10, 3)])
    state = InterferenceState(gains, 0.05, 1.0)
    for objective, mean_gap in (("pf", 0.01), ("qos", 0.5 if name == "wmmse" else 0.15)):
        obj = get_objective(objective)
        u = {p: utility(obj, gains, make_policy(p).decide(state, obj).power_w, 0.05)
             for p in (name, "full-reuse", "oracle")}
        assert np.all(u[name] >= u["full-reuse"] - 1e-9)
        gap = u["oracle"] - u[name]
        assert np.all(gap >= -1e-6)  # the oracle is an upper bound
        # measured mean gaps: pf <= 0.0001 (both); qos 0.35 (wmmse), 0.04 (wmmse-best)
        assert np.mean(gap) <= mean_gap, objective


def sun_2018_gaussian_gains(k, n=1000, seed=7):
    """The test data of Sun et al. 2018 (TSP-DNN test.py: np.random.seed(7), one
    K x K CN(0,1) draw per sample, real part then imaginary part): gains |h|^2."""
    rs = np.random.RandomState(seed)
    h = np.empty((n, k, k))
    for i in range(n):
        h[i] = np.abs((rs.randn(k, k) + 1j * rs.randn(k, k)) / np.sqrt(2))
    return h**2


@pytest.mark.parametrize("k, reference", [(10, 2.79), (20, 3.66), (30, 4.12)])
def test_reproduces_the_gaussian_interference_channel_reference_figures(k, reference):
    """Sun et al. 2018, Gaussian IC: WMMSE from full power, noise 1, Pmax 1, 1000
    samples; their WMMSE stops after 100 iterations or once the sum rate grows by
    at most 1e-3 bit/s/Hz (absolute). Measured: 2.7917 / 3.6552 / 4.1243."""
    gains = sun_2018_gaussian_gains(k)
    policy = make_policy("wmmse", max_iter=100, tol=0.0, atol=1e-3)
    power = policy.decide(InterferenceState(gains, 1.0, 1.0), SUM).power_w
    assert physics.rates(gains, power, 1.0).sum(-1).mean() == pytest.approx(reference, rel=0.005)


@pytest.mark.parametrize("objective", ["sum", "pf", "qos", "wsr"])
def test_wmmse_best_is_never_worse_than_wmmse(objective):
    rng = np.random.default_rng(5)
    gains = wide_range_gains(rng, 20, 8)
    weights = rng.uniform(0.5, 2.0, size=(20, 8))
    state = InterferenceState(gains, 0.01, 1.0, weights=weights)
    obj = get_objective(objective).with_weights(weights)
    one = utility(obj, gains, make_policy("wmmse", max_iter=500).decide(state, obj).power_w, 0.01)
    best = utility(obj, gains, make_policy("wmmse-best", starts=20).decide(state, obj).power_w,
                   0.01)
    assert np.all(best >= one - 1e-9 * np.abs(one))


def test_warm_start_from_a_converged_solution_stops_at_once_with_the_same_powers():
    gains = wide_range_gains(np.random.default_rng(6), 10, 6)
    state = InterferenceState(gains, 0.01, 1.0)
    policy = make_policy("wmmse", tol=1e-10, max_iter=5000)
    first = policy.decide(state, SUM)
    again = policy.decide_warm(state, SUM, first.power_w)
    assert first.iterations.max() > 100 and np.all(again.iterations <= 2)
    # the same optimum: a 1e-10 change of the sum rate pins powers to ~1e-5 (flat directions)
    np.testing.assert_allclose(again.power_w, first.power_w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(utility(SUM, gains, again.power_w, 0.01),
                               utility(SUM, gains, first.power_w, 0.01), rtol=1e-9)


@pytest.mark.parametrize("name", ["wmmse", "wmmse-best"])
@pytest.mark.parametrize("objective", ["sum", "pf"])
def test_batch_equals_one_by_one(name, objective):
    rng = np.random.default_rng(7)
    gains = wide_range_gains(rng, 5, 5)
    pmax = np.array([1.0, 0.5, 0.25, 2.0, 1.0])
    noise = np.array([0.01, 0.02, 0.01, 0.05, 0.01])
    policy, obj = make_policy(name, **({"starts": 10} if name == "wmmse-best" else {})), \
        get_objective(objective)
    batch = policy.decide(InterferenceState(gains, noise, pmax), obj)
    for i in range(5):
        one = policy.decide(InterferenceState(gains[i], noise, pmax), obj)
        np.testing.assert_allclose(batch.power_w[i], one.power_w, rtol=1e-9, atol=1e-15)
    assert batch.power_w.shape == (5, 5) and batch.iterations.shape == (5,)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 7), n=st.integers(1, 4),
       objective=st.sampled_from(["sum", "pf", "qos", "wsr"]),
       log_noise=st.floats(-14, 1))
def test_powers_are_finite_and_within_per_link_budgets(seed, k, n, objective, log_noise):
    rng = np.random.default_rng(seed)
    gains = wide_range_gains(rng, n, k) * 10.0 ** rng.uniform(-12, 0)
    pmax = rng.uniform(1e-3, 2.0, size=k)
    noise = 10.0**log_noise * rng.uniform(0.5, 2.0, size=(n, k))
    state = InterferenceState(gains, noise, pmax, weights=rng.uniform(0.1, 3.0, size=(n, k)))
    for name, kw in (("wmmse", {}), ("wmmse-best", {"starts": 5})):
        power = make_policy(name, **kw).decide(state, get_objective(objective)).power_w
        assert power.shape == (n, k) and np.all(np.isfinite(power))
        assert np.all(power >= 0) and np.all(power <= pmax * (1 + 1e-12))


def test_wsr_weights_shift_power_to_the_heavier_link():
    gains = np.array([[1.0, 0.8], [0.8, 1.0]])  # symmetric, strongly coupled
    wsr = get_objective("wsr")
    from_state = make_policy("wmmse-best").decide(
        InterferenceState(gains, 0.01, 1.0, weights=np.array([5.0, 1.0])), wsr).power_w
    from_objective = make_policy("wmmse-best").decide(
        InterferenceState(gains, 0.01, 1.0), wsr.with_weights(np.array([1.0, 5.0]))).power_w
    assert from_state[0] > from_state[1] and from_objective[1] > from_objective[0]


def test_non_interference_states_and_bad_shapes_are_refused_in_one_line():
    policy = make_policy("wmmse")
    cell_free = CellFreeState(np.ones((1, 1, 1), complex), 1.0, 1.0, 1e9, 1e7)
    for state in (cell_free, InterferenceState(np.ones((2, 3)), 1.0, 1.0),
                  InterferenceState(np.ones((2, 2)), np.ones(3), 1.0)):
        with pytest.raises(InvalidInput) as err:
            policy.decide(state, SUM)
        assert "\n" not in str(err.value)
    with pytest.raises(InvalidInput):
        policy.decide_warm(InterferenceState(np.ones((2, 2)), 1.0, 1.0), SUM, np.ones(3))
