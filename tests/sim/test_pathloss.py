"""Dual-slope path loss: closed form, breakpoint continuity, clamp; shadowing statistics."""

import numpy as np
import pytest

from rrm.sim.pathloss import dual_slope_path_loss_db, large_scale_gain, pairwise_distance


def test_path_loss_at_hand_picked_distances():
    # 39 + 20 log10(d) up to 100 m, 39 + 40 log10(d) - 40 beyond
    pl = dual_slope_path_loss_db(np.array([1.0, 10.0, 50.0, 100.0, 200.0, 1000.0]))
    np.testing.assert_allclose(pl, [39.0, 59.0, 39 + 20 * np.log10(50), 79.0,
                                    39 + 40 * np.log10(200) - 40, 119.0], atol=1e-12)


def test_path_loss_is_continuous_at_the_100_m_breakpoint():
    below, at, above = dual_slope_path_loss_db(np.array([100 - 1e-9, 100.0, 100 + 1e-9]))
    assert at == pytest.approx(79.0) and below == pytest.approx(above, abs=1e-6)


def test_slopes_are_20_then_40_db_per_decade():
    pl = dual_slope_path_loss_db(np.array([5.0, 50.0, 150.0, 1500.0]))
    assert pl[1] - pl[0] == pytest.approx(20.0) and pl[3] - pl[2] == pytest.approx(40.0)


def test_distances_below_one_metre_are_clamped_to_one():
    pl = dual_slope_path_loss_db(np.array([0.0, 0.2, 1.0]))
    np.testing.assert_array_equal(pl, [39.0, 39.0, 39.0])


def test_pairwise_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    rx, tx = rng.uniform(0, 100, (3, 4, 2)), rng.uniform(0, 100, (3, 5, 2))
    d = pairwise_distance(rx, tx)
    brute = [[[np.hypot(*(rx[s, k] - tx[s, j])) for j in range(5)] for k in range(4)]
             for s in range(3)]
    np.testing.assert_allclose(d, brute, rtol=1e-12)


def test_large_scale_gain_carries_7_db_lognormal_shadowing():
    d = np.full((200_000,), 37.0)
    gain = large_scale_gain(d, np.random.default_rng(1), sigma_db=7.0)
    shadow_db = 10 * np.log10(gain) + dual_slope_path_loss_db(d)  # = -X, X ~ N(0, 7^2)
    assert abs(shadow_db.mean()) < 0.05 and abs(shadow_db.std() - 7.0) < 0.05
