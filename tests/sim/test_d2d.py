"""d2d generator: deterministic, every geometric rule holds, statistics match the model."""

import numpy as np
import pytest

from sim.errors import ConfigError, UnknownName
from sim.pathloss import dual_slope_path_loss_db, pairwise_distance
from sim.scenarios.catalog import CATALOG, catalog_entry, split_rng
from sim.scenarios.d2d import D2DConfig, generate_d2d

E_LOG_EXP1_DB = 10 * (-np.euler_gamma) / np.log(10)  # E[10 log10 X], X ~ Exp(1): -2.507 dB


@pytest.fixture(scope="module")
def dense():
    cfg = D2DConfig(num_links=80, d_min_m=30, d_max_m=70)  # the hardest placement: D15
    return generate_d2d(cfg, 300, np.random.default_rng(0))


def test_same_seed_same_bytes_different_seed_different():
    cfg = D2DConfig(num_links=20)
    a = generate_d2d(cfg, 50, np.random.default_rng(1))
    b = generate_d2d(cfg, 50, np.random.default_rng(1))
    c = generate_d2d(cfg, 50, np.random.default_rng(2))
    assert a.gains.tobytes() == b.gains.tobytes() and a.rx_xy.tobytes() == b.rx_xy.tobytes()
    assert a.gains.tobytes() != c.gains.tobytes()


def test_every_receiver_in_its_annulus_inside_the_square(dense):
    d = np.linalg.norm(dense.rx_xy - dense.tx_xy, axis=-1)
    assert d.min() >= 30 - 1e-9 and d.max() <= 70 + 1e-9
    assert np.all((dense.rx_xy >= 0) & (dense.rx_xy <= 1000))
    assert np.all((dense.tx_xy >= 0) & (dense.tx_xy <= 1000))


def test_every_receiver_is_strictly_nearest_its_own_transmitter(dense):
    d = pairwise_distance(dense.rx_xy, dense.tx_xy)
    own = np.diagonal(d, axis1=-2, axis2=-1)
    others = np.where(np.eye(80, dtype=bool), np.inf, d).min(-1)
    assert np.all(own < others)


def test_annulus_is_uniform_in_area():
    cfg = D2DConfig(num_links=2, d_min_m=10, d_max_m=50)
    b = generate_d2d(cfg, 4000, np.random.default_rng(3))
    r = np.linalg.norm(b.rx_xy - b.tx_xy, axis=-1).ravel()
    # P(r <= x) = (x^2 - 10^2) / (50^2 - 10^2); at x = 30: 800 / 2400
    assert abs(np.mean(r <= 30) - 1 / 3) < 0.02


def test_gain_statistics_match_path_loss_shadowing_and_rayleigh(dense):
    d = pairwise_distance(dense.rx_xy, dense.tx_xy)
    shadow_db = 10 * np.log10(dense.large_scale) + dual_slope_path_loss_db(d)
    assert abs(shadow_db.mean()) < 0.1 and abs(shadow_db.std() - 7.0) < 0.1
    fading_db = 10 * np.log10(dense.gains / dense.large_scale)
    assert abs(fading_db.mean() - E_LOG_EXP1_DB) < 0.05
    assert abs((dense.gains / dense.large_scale).mean() - 1.0) < 0.01


def test_budgets_and_noise_follow_the_paper():
    cfg = D2DConfig()
    assert cfg.pmax_w == pytest.approx(0.01)
    assert cfg.noise_w == pytest.approx(10 ** ((-174 + 70 - 30) / 10))


def test_catalog_names_resolve_to_the_paper_settings():
    assert len(CATALOG) == 20
    e = catalog_entry("d18")
    assert (e.config.num_links, e.config.d_min_m, e.config.d_max_m) == (50, 1.0, 100.0)
    assert e.sizes["test"] == 5000 and not e.pretraining
    assert catalog_entry("D1").config.num_links == 20
    assert catalog_entry("D15").config.num_links == 80
    assert {catalog_entry(f"D{i}").config.d_min_m for i in range(1, 16)} == {2.0, 10.0, 30.0}
    assert catalog_entry("D7").sizes == {"train": 100_000, "val": 10_000, "test": 10_000}
    with pytest.raises(UnknownName, match="valid: D1-D20"):
        catalog_entry("D21")


def test_splits_are_reproducible_and_disjoint():
    e = catalog_entry("D16")
    draw = [split_rng(e, s, 7).random(4).tobytes() for s in ("train", "val", "test")]
    assert len(set(draw)) == 3
    assert split_rng(e, "val", 7).random(4).tobytes() == draw[1]
    assert split_rng(catalog_entry("D17"), "val", 7).random(4).tobytes() != draw[1]


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigError, match="d_min < d_max"):
        D2DConfig(d_min_m=50, d_max_m=10)
    with pytest.raises(ConfigError, match="unknown d2d parameter 'k'"):
        D2DConfig.from_overrides(k=3)
