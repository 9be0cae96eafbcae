"""Ergodic RGG network: geometric rules, paper densities, fading correlation, interference graph."""

import numpy as np
import pytest
from scipy.special import j0

from rrm.core.errors import ConfigError, InvalidInput
from rrm.sim.pathloss import dual_slope_path_loss_db, pairwise_distance
from rrm.sim.scenarios.ergodic import (
    DENSITIES_PER_KM2,
    F_MIN_LEVELS,
    SIDES_M,
    ErgodicConfig,
    generate_ergodic,
    generate_ergodic_network,
    interference_graph,
    paper_grid,
)

DENSEST = ErgodicConfig(side_m=5800.0)  # 11.9 pairs/km^2


@pytest.fixture(scope="module")
def nets():
    return generate_ergodic(DENSEST, 3, np.random.default_rng(0))


def test_pairs_are_20_to_100_m_apart_in_every_network(nets):
    d = np.linalg.norm(nets.rx_xy - nets.tx_xy, axis=-1)  # (n, N)
    assert d.min() >= 20 - 1e-9 and d.max() <= 100 + 1e-9


def test_transmitters_are_at_least_50_m_apart_in_every_network(nets):
    d = pairwise_distance(nets.tx_xy, nets.tx_xy) + np.eye(400) * 1e9  # (n, N, N)
    assert d.min() >= 50


def test_every_node_is_inside_the_square(nets):
    for xy in (nets.tx_xy, nets.rx_xy):
        assert np.all((xy >= 0) & (xy <= 5800))


def test_large_scale_state_is_path_loss_with_7_db_shadowing(nets):
    d = pairwise_distance(nets.rx_xy, nets.tx_xy)
    shadow_db = 10 * np.log10(nets.large_scale) + dual_slope_path_loss_db(d)
    assert abs(shadow_db.mean()) < 0.05 and abs(shadow_db.std() - 7.0) < 0.05


def test_densities_and_grid_match_the_paper():
    dens = [ErgodicConfig(side_m=r).density_per_km2 for r in SIDES_M]
    np.testing.assert_allclose(dens, DENSITIES_PER_KM2, atol=0.05)
    grid = paper_grid()
    assert len(grid) == 20 and {(c.side_m, c.f_min) for c in grid} == {
        (r, f) for r in SIDES_M for f in F_MIN_LEVELS}
    c = ErgodicConfig()
    assert (c.num_pairs, c.pmax_w, c.bandwidth_hz, c.slot_s) == (400, 0.01, 40e6, 0.05)
    assert c.noise_w == pytest.approx(10 ** ((-174 + 10 * np.log10(40e6) - 30) / 10))


def test_slot_fading_follows_jakes_for_the_authors_carrier_and_speed():
    c = ErgodicConfig()  # 2.4 GHz, 1 m/s, 50 ms: f_d = 8 Hz
    assert c.rho == pytest.approx(j0(2 * np.pi * 2.4e9 / 299_792_458.0 * 0.05))
    assert abs(c.rho) < 0.1 and c.fading().rho == c.rho


def test_deterministic_per_seed():
    cfg = ErgodicConfig(num_pairs=50, side_m=2000)
    a = generate_ergodic(cfg, 2, np.random.default_rng(3))
    b = generate_ergodic(cfg, 2, np.random.default_rng(3))
    c = generate_ergodic(cfg, 2, np.random.default_rng(4))
    assert a.large_scale.tobytes() == b.large_scale.tobytes()
    assert a.tx_xy.tobytes() == b.tx_xy.tobytes()
    assert a.large_scale.tobytes() != c.large_scale.tobytes()
    one = generate_ergodic_network(cfg, np.random.default_rng(3))
    assert one.large_scale.shape == (50, 50) and one.tx_xy.shape == (50, 2)


def test_interference_graph_keeps_each_receivers_ten_strongest_interferers(nets):
    g = nets.large_scale[0]
    s = interference_graph(g, keep=10, snr=DENSEST.pmax_w / DENSEST.noise_w, normalization="none")
    assert np.all((s > 0).sum(axis=1) == 11)  # direct link + 10 interferers
    for k in (0, 7, 399):
        cross = np.where(np.arange(400) == k, -np.inf, g[k])
        strongest = set(np.argsort(cross)[-10:].tolist()) | {k}
        assert set(np.flatnonzero(s[k]).tolist()) == strongest


def test_interference_graph_weights_are_log_scaled_and_normalised(nets):
    g, snr = nets.large_scale[1], 1e10
    raw = interference_graph(g, snr=snr, normalization="none")
    kept = raw > 0
    np.testing.assert_allclose(raw[kept], np.log1p(snr * g[kept]))
    s = interference_graph(g, snr=snr)
    assert np.max(np.abs(np.linalg.eigvals(s))) == pytest.approx(1.0)
    assert np.linalg.norm(interference_graph(g, snr=snr, normalization="frobenius")) == \
        pytest.approx(1.0)


def test_interference_graph_is_vectorised_over_networks(nets):
    small = generate_ergodic(ErgodicConfig(num_pairs=60, side_m=2500), 3,
                             np.random.default_rng(1)).large_scale
    batched = interference_graph(small, snr=1e10)
    for i in range(3):
        np.testing.assert_allclose(batched[i], interference_graph(small[i], snr=1e10))
    only_direct = interference_graph(nets.large_scale[0], keep=0, normalization="none")
    assert np.count_nonzero(only_direct) == 400 and np.all(np.diag(only_direct) > 0)


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigError, match="too small"):
        ErgodicConfig(side_m=1000.0)
    with pytest.raises(ConfigError, match="unknown ergodic parameter"):
        ErgodicConfig.from_overrides(radius=3)
    with pytest.raises(ConfigError, match="normalization"):
        interference_graph(np.ones((3, 3)), normalization="laplacian")
    with pytest.raises(InvalidInput, match="at least 1"):
        generate_ergodic(ErgodicConfig(), 0, np.random.default_rng(0))
    assert ErgodicConfig.from_overrides(pair_distance_m=[10, 50]).pair_distance_m == (10, 50)
