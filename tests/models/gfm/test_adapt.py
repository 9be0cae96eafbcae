"""Test-time adaptation of GFM-RA (rrm.models.gfm.adapt): the SNR ceiling and the ensemble."""

import itertools

import numpy as np
import pytest

from rrm.core import physics
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState
from rrm.models.gfm import experiments as ex
from rrm.models.gfm.adapt import SnrCeiling, best_by_utility, direct_inr_db_mean
from rrm.models.policy import make_policy

SUM = get_objective("sum")


def _sum_rate(state: InterferenceState, power: np.ndarray) -> np.ndarray:
    return physics.rates(state.gains, power, state.noise_w).sum(-1)


def test_the_ceiling_tries_nothing_inside_the_range_and_lands_on_its_targets_above():
    ceiling = SnrCeiling(ceiling_db=45.0, median_db=25.0, tolerance_db=6.0)
    d0 = np.array([-10.0, 51.0, np.nan, 75.0])
    got = ceiling.attenuations_db(d0)
    np.testing.assert_array_equal(got[:3], 0.0)
    np.testing.assert_allclose(d0[3] - got[3], [45.0, 35.0, 25.0])


def test_direct_inr_mean_is_the_mean_of_the_direct_links_snr_in_db():
    gains = np.array([[[1e3, 5.0], [7.0, 1e5]]])
    got = direct_inr_db_mean(gains, np.full((1, 2), 0.1), np.full((1, 2), 1.0))
    assert got[0] == pytest.approx((40.0 + 60.0) / 2)


def test_the_best_candidate_by_utility_wins_and_the_first_on_a_tie():
    gains = np.array([[[1.0, 1.0], [1.0, 1.0]]] * 2)
    noise = np.full((2, 2), 0.01)
    one_on = np.array([[1.0, 0.0], [1.0, 0.0]])
    both_on = np.array([[1.0, 1.0], [1.0, 1.0]])
    got = best_by_utility(np.stack([both_on, one_on, one_on * 1.0]), gains, noise, SUM)
    np.testing.assert_array_equal(got, one_on)  # log2(101) > 2 log2(1 + 1/1.01)
    tie = best_by_utility(np.stack([one_on, one_on[:, ::-1]]), gains, noise, SUM)
    np.testing.assert_array_equal(tie, one_on)


def test_sum_rate_argmax_ignores_a_common_gain_scaling_when_interference_limited():
    """Brute force, K = 3, every link on (p >= 0.1 Pmax): 100 dB direct, 75-85 dB cross
    INRs, so the interference stays >= 45 dB above the noise after a 20 dB attenuation and
    the argmax is the same. (Where the optimum leaves a link alone, that link is
    noise-limited and the scaling matters: the policy keeps the unadapted answer as a
    candidate for that reason.)"""
    rng = np.random.default_rng(0)
    grid = np.array(list(itertools.product(np.linspace(0.1, 1.0, 7), repeat=3)))  # (343, 3)
    for _ in range(20):
        gains = 10 ** (rng.uniform(7.5, 8.5, (3, 3)) + np.eye(3) * 2.0)  # noise 1, Pmax 1
        best = []
        for attenuation_db in (0.0, 20.0):
            g = gains * 10 ** (-attenuation_db / 10)
            rates = physics.rates(g[None], grid, np.ones((1, 3))).sum(-1)
            best.append(int(np.argmax(rates)))
        assert best[0] == best[1]


@pytest.fixture(scope="module")
def d18():
    return ex.test_state("D18", 12)


def test_the_ceiling_is_the_identity_inside_the_trained_range(d18):
    adapted = make_policy("gfm").decide(d18, SUM).power_w
    plain = make_policy("gfm", snr_ceiling=False).decide(d18, SUM).power_w
    np.testing.assert_array_equal(adapted, plain)


def test_above_the_range_the_adapted_answer_is_never_worse_than_the_model_as_it_is(d18):
    loud = InterferenceState(d18.gains * 1e4, d18.noise_w, d18.pmax_w)  # +40 dB: d0 ~ 79 dB
    adapted = make_policy("gfm").decide(loud, SUM).power_w
    plain = make_policy("gfm", snr_ceiling=False).decide(loud, SUM).power_w
    assert not np.allclose(adapted, plain)
    assert np.all(_sum_rate(loud, adapted) >= _sum_rate(loud, plain) - 1e-9)
    assert np.all((adapted >= 0) & (adapted <= d18.pmax_w))


def test_one_snapshot_and_a_batch_adapt_alike_and_masked_csi_runs(d18):
    loud = InterferenceState(d18.gains * 1e4, d18.noise_w, d18.pmax_w)
    policy = make_policy("gfm")
    batch = policy.decide(loud, SUM).power_w
    one = policy.decide(InterferenceState(loud.gains[4], d18.noise_w, d18.pmax_w), SUM).power_w
    np.testing.assert_allclose(one, batch[4], atol=1e-6 * d18.pmax_w)
    mask = np.random.default_rng(3).random(loud.gains.shape) < 0.7
    masked = InterferenceState(loud.gains, d18.noise_w, d18.pmax_w, mask)
    assert policy.decide(masked, SUM).power_w.shape == batch.shape


def test_the_ensemble_is_never_below_the_model_nor_full_reuse(d18):
    small = InterferenceState(d18.gains[:4], d18.noise_w, d18.pmax_w)
    plain = make_policy("gfm").decide(small, SUM).power_w
    both = make_policy("gfm-ensemble").decide(small, SUM).power_w
    full = np.full_like(plain, d18.pmax_w)
    assert np.all(_sum_rate(small, both) >= _sum_rate(small, plain) - 1e-9)
    assert np.all(_sum_rate(small, both) >= _sum_rate(small, full) - 1e-9)
