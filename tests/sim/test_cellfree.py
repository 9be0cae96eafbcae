"""The cellfree scenario: geometry, three-slope path loss, correlated shadowing, fading."""

import itertools

import numpy as np
import pytest

from rrm.core.errors import ConfigError, InvalidInput
from rrm.sim.scenarios.cellfree import (
    CellFreeConfig,
    correlated_normal,
    cost231_constant_db,
    generate_cellfree,
    plain_distance,
    three_slope_path_gain_db,
    to_state,
    torus_distance,
)

CFG = CellFreeConfig()


@pytest.fixture(scope="module")
def batch():
    return generate_cellfree(CFG, 3000, np.random.default_rng(1))


def shadowing_of(b):
    """Large-scale gain minus path gain, dB [n, B, K], and the AP-UE distances [n, B, K]."""
    d = torus_distance(b.ap_xy, b.ue_xy, b.config.area_m)
    return 10 * np.log10(b.large_scale_gain) - three_slope_path_gain_db(d, b.config), d


def test_same_seed_gives_identical_bytes_and_another_seed_differs():
    one, two = (generate_cellfree(CFG, 5, np.random.default_rng(7)) for _ in range(2))
    for name in ("h", "large_scale_gain", "ap_xy", "ue_xy"):
        assert getattr(one, name).tobytes() == getattr(two, name).tobytes()
    other = generate_cellfree(CFG, 5, np.random.default_rng(8))
    assert other.h.tobytes() != one.h.tobytes()


def test_batch_shapes_dtypes_and_budgets_follow_table_i(batch):
    n, b, k, m = 3000, CFG.num_aps, CFG.num_ues, CFG.num_antennas
    assert (b, k, m) == (8, 4, 2)
    assert batch.h.shape == (n, b, k, m) and batch.h.dtype == np.complex128
    assert batch.large_scale_gain.shape == (n, b, k) and batch.large_scale_gain.dtype == np.float64
    assert batch.ap_xy.shape == (n, b, 2) and batch.ue_xy.shape == (n, k, 2)
    np.testing.assert_allclose(batch.pmax_w, np.ones(b))  # 30 dBm
    assert batch.noise_w == pytest.approx(10 ** (-11.5))  # -85 dBm
    np.testing.assert_array_equal(batch.fronthaul_bps, np.full(b, 60e6))
    assert batch.bandwidth_hz == 10e6


def test_every_ap_and_ue_lies_inside_the_square(batch):
    for xy in (batch.ap_xy, batch.ue_xy):
        assert np.all((xy >= 0) & (xy < 500))


def test_torus_distance_is_the_shortest_over_the_neighbouring_copies():
    assert torus_distance([[1.0, 1.0]], [[499.0, 499.0]], 500.0)[0, 0] == pytest.approx(np.sqrt(8))
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 500, (6, 2)), rng.uniform(0, 500, (5, 2))
    shifts = np.array(list(itertools.product((-500, 0, 500), repeat=2)))
    brute = np.array([[min(np.hypot(*(p - q - s)) for s in shifts) for q in b] for p in a])
    np.testing.assert_allclose(torus_distance(a, b, 500.0), brute, rtol=1e-12)


def test_wrap_around_distance_never_exceeds_half_the_diagonal(batch):
    d = torus_distance(batch.ap_xy, batch.ue_xy, 500.0)
    assert d.max() <= 250 * np.sqrt(2) + 1e-9
    assert d.max() > 300  # but the far corners are reached


def test_cost231_constant_matches_the_formula_at_1900_mhz():
    lf = np.log10(1900)
    expected = 46.3 + 33.9 * lf - 13.82 * np.log10(15) - (1.1 * lf - 0.7) * 1.65 + 1.56 * lf - 0.8
    assert cost231_constant_db(CFG) == pytest.approx(expected)
    assert cost231_constant_db(CFG) == pytest.approx(140.715, abs=1e-3)


def test_path_gain_has_three_slopes_and_is_continuous():
    pl = three_slope_path_gain_db(np.array([1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0]), CFG)
    assert pl[0] == pl[1] == pl[2]  # flat up to d0
    assert pl[3] - pl[4] == pytest.approx(20 * np.log10(50 / 20))  # 20 dB/decade
    assert pl[5] - pl[6] == pytest.approx(35.0)  # 35 dB/decade
    assert pl[6] == pytest.approx(-cost231_constant_db(CFG))  # d = 1 km
    eps = 1e-9
    for edge in (10.0, 50.0):
        lo, hi = three_slope_path_gain_db(np.array([edge - eps, edge + eps]), CFG)
        assert lo == pytest.approx(hi, abs=1e-6)


def test_large_scale_gain_follows_the_three_slopes_in_the_data(batch):
    gain_db = 10 * np.log10(batch.large_scale_gain)
    d = torus_distance(batch.ap_xy, batch.ue_xy, 500.0)
    d_km, big_l = d / 1000, cost231_constant_db(CFG)
    near, mid, far = d <= 10, (d > 10) & (d <= 50), d > 50
    assert near.sum() > 10 and mid.sum() > 1000
    # no shadowing within d1: exact
    np.testing.assert_allclose(gain_db[near], -big_l - 15 * np.log10(0.05) - 20 * np.log10(0.01))
    np.testing.assert_allclose(gain_db[mid] + 20 * np.log10(d_km[mid]),
                               -big_l - 15 * np.log10(0.05))
    # beyond d1: a least-squares fit recovers 35 dB/decade and the intercept -L
    slope, intercept = np.polyfit(np.log10(d_km[far]), gain_db[far], 1)
    assert slope == pytest.approx(-35, abs=1.5)
    assert intercept == pytest.approx(-big_l, abs=1.5)


def test_shadowing_is_8_db_beyond_d1_and_absent_within(batch):
    shadow, d = shadowing_of(batch)
    assert abs(shadow[d > 50].std() - 8.0) < 0.3
    assert abs(shadow[d > 50].mean()) < 0.4
    assert np.all(shadow[d <= 50] == pytest.approx(0.0, abs=1e-9))


def test_shadowing_within_d1_can_be_switched_on():
    b = generate_cellfree(CellFreeConfig(shadow_within_d1=True), 400, np.random.default_rng(2))
    shadow, d = shadowing_of(b)
    assert shadow[d <= 50].std() > 4.0


def test_correlated_normals_have_the_exponential_covariance_of_eq_55():
    xy = np.array([[0.0, 0.0], [30.0, 40.0], [300.0, 400.0]])  # 50 m and 500 m from point 0
    u = correlated_normal(np.random.default_rng(3), np.broadcast_to(xy, (50000, 3, 2)), 500.0)
    cov = u.T @ u / len(u)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.testing.assert_allclose(cov, 2.0 ** (-d / 500.0), atol=0.03)


def test_shadowing_splits_into_an_ap_part_and_a_ue_part():
    for delta, same_axis in ((1.0, 2), (0.0, 1)):  # delta=1: one value per AP; 0: per UE
        cfg = CellFreeConfig(shadow_delta=delta, shadow_within_d1=True)
        shadow, _ = shadowing_of(generate_cellfree(cfg, 20, np.random.default_rng(4)))
        spread = shadow.max(axis=same_axis) - shadow.min(axis=same_axis)
        assert spread.max() < 1e-6
        assert shadow.std() > 4.0


def test_nearby_ues_see_more_similar_shadowing_than_distant_ones(batch):
    shadow, d = shadowing_of(batch)
    i, j = np.triu_indices(CFG.num_ues, 1)  # every UE pair, at AP 0
    ue_d = plain_distance(batch.ue_xy, batch.ue_xy)[:, i, j].ravel()
    both_far = ((d[:, 0, i] > 50) & (d[:, 0, j] > 50)).ravel()
    zi, zj = shadow[:, 0, i].ravel(), shadow[:, 0, j].ravel()

    def corr(sel):
        sel = sel & both_far
        theory = np.mean(0.5 + 0.5 * 2.0 ** (-ue_d[sel] / 500))  # eqs. (54)-(55), delta=0.5
        return float(np.corrcoef(zi[sel], zj[sel])[0, 1]), float(theory)

    (close, close_theory), (distant, distant_theory) = corr(ue_d < 100), corr(ue_d > 400)
    assert close > distant + 0.1  # ~0.96 vs ~0.77
    assert close == pytest.approx(close_theory, abs=0.03)
    assert distant == pytest.approx(distant_theory, abs=0.04)


def test_small_scale_fading_is_unit_power_rayleigh_per_antenna(batch):
    g = batch.h / np.sqrt(batch.large_scale_gain)[..., None]
    power = np.abs(g) ** 2
    np.testing.assert_allclose(power.mean(axis=(0, 1, 2)), [1.0, 1.0], atol=0.02)
    assert np.mean(power**2) == pytest.approx(2.0, abs=0.05)  # |g|^2 ~ Exp(1)
    assert abs(np.mean(g[..., 0] * np.conj(g[..., 1]))) < 0.02  # antennas independent


def test_state_is_the_controllers_view_of_one_or_all_snapshots(batch):
    one = to_state(batch, 3)
    assert one.h.shape == (8, 4, 2) and np.array_equal(one.h, batch.h[3])
    assert one.noise_w == batch.noise_w and one.bandwidth_hz == 10e6
    np.testing.assert_array_equal(one.pmax_w, batch.pmax_w)
    np.testing.assert_array_equal(one.fronthaul_bps, batch.fronthaul_bps)
    assert to_state(batch).h.shape == batch.h.shape


def test_overrides_are_validated_with_the_key_named():
    assert CellFreeConfig.from_overrides(num_aps=10, fronthaul_mbps=40).num_aps == 10
    with pytest.raises(ConfigError, match="unknown cellfree parameter 'aps'.*num_aps"):
        CellFreeConfig.from_overrides(aps=3)
    with pytest.raises(ConfigError, match="num_ues must be an integer"):
        CellFreeConfig.from_overrides(num_ues="4")
    with pytest.raises(ConfigError, match="num_antennas must be at least 1"):
        CellFreeConfig.from_overrides(num_antennas=0)
    with pytest.raises(ConfigError, match="d0_m must be below d1_m"):
        CellFreeConfig.from_overrides(d0_m=60.0)
    with pytest.raises(ConfigError, match="shadow_delta"):
        CellFreeConfig.from_overrides(shadow_delta=1.5)
    with pytest.raises(ConfigError, match="shadow_within_d1 must be a bool"):
        CellFreeConfig.from_overrides(shadow_within_d1=1)


def test_zero_snapshots_are_refused():
    with pytest.raises(InvalidInput, match="at least 1"):
        generate_cellfree(CFG, 0, np.random.default_rng(0))
