"""d2d generator: deterministic, every geometric rule holds, gains follow the channel model."""

import numpy as np
import pytest

from rrm.core.errors import ConfigError, InvalidInput
from rrm.sim.pathloss import dual_slope_path_loss_db, pairwise_distance
from rrm.sim.scenarios import d2d
from rrm.sim.scenarios.d2d import D2DConfig, generate_d2d, place_pairs

E_LOG_EXP1_DB = 10 * (-np.euler_gamma) / np.log(10)  # E[10 log10 X], X ~ Exp(1): -2.507 dB
LAYOUTS = {  # the catalog's extremes: densest with the widest minimum, and the D16-D20 range
    "D15": D2DConfig(num_links=80, d_min_m=30, d_max_m=70),
    "D1": D2DConfig(num_links=20, d_min_m=2, d_max_m=65),
    "D20": D2DConfig(num_links=80, d_min_m=1, d_max_m=100),
}


@pytest.fixture(scope="module", params=list(LAYOUTS))
def batch(request):
    return generate_d2d(LAYOUTS[request.param], 200, np.random.default_rng(0))


@pytest.fixture(scope="module")
def dense():
    return generate_d2d(LAYOUTS["D15"], 300, np.random.default_rng(1))


def test_same_seed_same_bytes_different_seed_different():
    cfg = D2DConfig(num_links=20)
    a = generate_d2d(cfg, 50, np.random.default_rng(1))
    b = generate_d2d(cfg, 50, np.random.default_rng(1))
    c = generate_d2d(cfg, 50, np.random.default_rng(2))
    for key in ("gains", "large_scale", "tx_xy", "rx_xy"):
        assert getattr(a, key).tobytes() == getattr(b, key).tobytes()
    assert a.gains.tobytes() != c.gains.tobytes()


def test_every_receiver_lies_in_its_annulus(batch):
    cfg = batch.config
    d = np.linalg.norm(batch.rx_xy - batch.tx_xy, axis=-1)  # (n, K)
    assert d.min() >= cfg.d_min_m - 1e-9 and d.max() <= cfg.d_max_m + 1e-9


def test_every_node_lies_inside_the_square(batch):
    for xy in (batch.tx_xy, batch.rx_xy):
        assert np.all((xy >= 0) & (xy <= batch.config.area_m))


def test_every_receiver_is_strictly_nearest_its_own_transmitter(batch):
    d = pairwise_distance(batch.rx_xy, batch.tx_xy)  # (n, K, K)
    k = batch.config.num_links
    own = np.diagonal(d, axis1=-2, axis2=-1)
    assert np.all(own < np.where(np.eye(k, dtype=bool), np.inf, d).min(-1))


def test_annulus_is_uniform_in_area():
    cfg = D2DConfig(num_links=2, d_min_m=10, d_max_m=50)
    b = generate_d2d(cfg, 4000, np.random.default_rng(3))
    r = np.linalg.norm(b.rx_xy - b.tx_xy, axis=-1).ravel()
    # P(r <= x) = (x^2 - 10^2) / (50^2 - 10^2): 1/3 at x = 30, 1/10 at x = 18.97
    assert abs(np.mean(r <= 30) - 1 / 3) < 0.02 and abs(np.mean(r <= np.sqrt(340)) - 0.1) < 0.015


def test_large_scale_gains_are_path_loss_with_7_db_shadowing(dense):
    d = pairwise_distance(dense.rx_xy, dense.tx_xy)
    shadow_db = 10 * np.log10(dense.large_scale) + dual_slope_path_loss_db(d)
    assert abs(shadow_db.mean()) < 0.05 and abs(shadow_db.std() - 7.0) < 0.05


def test_fading_is_rayleigh_on_top_of_the_large_scale_gains(dense):
    d = pairwise_distance(dense.rx_xy, dense.tx_xy)
    fading = dense.gains / dense.large_scale  # |h|^2 ~ Exp(1)
    assert abs(np.mean(10 * np.log10(fading)) - E_LOG_EXP1_DB) < 0.03
    assert abs(fading.mean() - 1.0) < 0.01
    # the brief's check, shadowing mean 0: E[10log10 g + PL(d)] = E[10 log10 Exp(1)]
    assert abs(np.mean(10 * np.log10(dense.gains) + dual_slope_path_loss_db(d))
               - E_LOG_EXP1_DB) < 0.05


def test_chunks_do_not_change_the_bytes(monkeypatch):
    cfg = D2DConfig(num_links=10)
    monkeypatch.setattr(d2d, "CHUNK", 7)
    rng = np.random.default_rng(4)
    whole = generate_d2d(cfg, 20, np.random.default_rng(4))
    parts = [generate_d2d(cfg, m, rng) for m in (7, 7, 6)]
    assert whole.gains.tobytes() == np.concatenate([p.gains for p in parts]).tobytes()


def test_float32_option_and_budgets():
    b = generate_d2d(D2DConfig(num_links=5), 3, np.random.default_rng(0), dtype=np.float32)
    assert b.gains.dtype == np.float32 and b.tx_xy.dtype == np.float64
    assert b.gains.shape == (3, 5, 5) and b.rx_xy.shape == (3, 5, 2)
    assert b.pmax_w == pytest.approx(0.01)
    assert b.noise_w == pytest.approx(10 ** ((-174 + 70 - 30) / 10))  # -104 dBm


def test_an_unplaceable_receiver_moves_its_transmitter_only():
    cfg = D2DConfig(num_links=5, d_min_m=30, d_max_m=40)
    # transmitter 0 boxed in by four others 10 m away: its Voronoi cell misses the annulus
    tx = np.array([[[500, 500], [510, 500], [490, 500], [500, 510], [500, 490]]], float)
    new_tx, rx = place_pairs(np.random.default_rng(0), tx, cfg)
    assert not np.array_equal(new_tx[0, 0], tx[0, 0])
    np.testing.assert_array_equal(new_tx[0, 1:], tx[0, 1:])
    d = pairwise_distance(rx, new_tx)[0]
    assert np.all(np.diag(d) < np.where(np.eye(5, dtype=bool), np.inf, d).min(-1))


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigError, match="d_min < d_max"):
        D2DConfig(d_min_m=50, d_max_m=10)
    with pytest.raises(ConfigError, match="too large"):
        D2DConfig(d_max_m=600)
    with pytest.raises(ConfigError, match="unknown d2d parameter 'k'"):
        D2DConfig.from_overrides(k=3)
    with pytest.raises(InvalidInput, match="at least 1"):
        generate_d2d(D2DConfig(), 0, np.random.default_rng(0))
