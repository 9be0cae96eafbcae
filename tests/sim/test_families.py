"""Corpus families: distributions, closed-form path loss, scale invariance, the mix."""

from __future__ import annotations

import numpy as np
import pytest

from rrm.core import physics
from rrm.core.errors import ConfigError
from rrm.sim.scenarios.corpus import FAMILIES, CorpusSpec
from rrm.sim.scenarios.families import (
    ChannelConfig,
    Itu1411Config,
    generate_channel,
    generate_itu1411,
    itu1411_path_loss_db,
)


def test_rayleigh_gains_are_unit_exponential_and_gaussian_ones_chi2_1() -> None:
    rng = np.random.default_rng(0)
    ray = generate_channel(ChannelConfig("rayleigh"), 400, 20, rng).gains
    gau = generate_channel(ChannelConfig("gaussian"), 400, 20, rng).gains
    assert ray.mean() == pytest.approx(1.0, abs=0.02) and ray.var() == pytest.approx(1.0, abs=0.05)
    assert gau.mean() == pytest.approx(1.0, abs=0.02) and gau.var() == pytest.approx(2.0, abs=0.1)
    # P(g < 0.01): 1 - exp(-0.01) = 0.00995 (Exp(1)); erf(sqrt(0.005)) = 0.0797 (chi^2_1)
    assert (ray < 0.01).mean() == pytest.approx(0.00995, abs=0.002)
    assert (gau < 0.01).mean() == pytest.approx(0.0797, abs=0.004)


def test_channel_has_unit_noise_and_snr_in_range_without_scale() -> None:
    cfg = ChannelConfig(snr_db=(5.0, 15.0), scale_db=(0.0, 0.0))
    snaps = generate_channel(cfg, 300, 7, np.random.default_rng(1))
    assert np.all(snaps.noise_w == 1.0)
    snr_db = 10 * np.log10(snaps.pmax_w)
    assert snr_db.min() >= 5.0 and snr_db.max() <= 15.0 and snr_db.std() > 2.0
    assert np.all(snaps.pmax_w == snaps.pmax_w[:, :1])  # one SNR per snapshot


def test_cross_offset_scales_only_cross_links() -> None:
    base = generate_channel(ChannelConfig(), 5, 6, np.random.default_rng(2))
    weak = generate_channel(ChannelConfig(cross_db=(-10.0, -10.0)), 5, 6,
                            np.random.default_rng(2))
    eye = np.eye(6, dtype=bool)
    np.testing.assert_allclose(weak.gains[:, eye], base.gains[:, eye])
    np.testing.assert_allclose(weak.gains[:, ~eye], 0.1 * base.gains[:, ~eye])


@pytest.mark.parametrize("family", ["rayleigh-ic", "gaussian-ic", "itu1411-d2d"])
def test_common_noise_power_scale_leaves_the_rates_unchanged(family: str) -> None:
    snaps = FAMILIES[family](np.random.default_rng(3), 4, 9)
    power = snaps.pmax_w * np.random.default_rng(4).random(snaps.pmax_w.shape)
    scaled = physics.rates(snaps.gains, power, snaps.noise_w)
    unit = snaps.noise_w / snaps.noise_w[:, :1]  # undo the common factor
    ref = physics.rates(snaps.gains, power / snaps.noise_w[:, :1], unit)
    np.testing.assert_allclose(scaled, ref, rtol=1e-9)


def test_itu1411_path_loss_closed_form() -> None:
    cfg = Itu1411Config()
    lam = 299_792_458.0 / cfg.carrier_hz
    r_bp = 4 * 1.5 * 1.5 / lam  # 72.05 m at 2.4 GHz
    l_bp = abs(20 * np.log10(lam**2 / (8 * np.pi * 1.5 * 1.5)))
    loss = itu1411_path_loss_db(cfg, np.array([r_bp, r_bp / 10, r_bp * 10]))
    np.testing.assert_allclose(loss, [l_bp + 6, l_bp + 6 - 20, l_bp + 6 + 40])


def test_itu1411_direct_snr_is_the_high_regime() -> None:
    snaps = generate_itu1411(Itu1411Config(), 200, 20, np.random.default_rng(5))
    direct = np.diagonal(snaps.gains, axis1=1, axis2=2) * snaps.pmax_w / snaps.noise_w
    assert 65.0 < np.median(10 * np.log10(direct)) < 80.0  # catalog D18: ~39 dB


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_families_are_seeded(family: str) -> None:
    a = FAMILIES[family](np.random.default_rng(6), 3, 8)
    b = FAMILIES[family](np.random.default_rng(6), 3, 8)
    np.testing.assert_array_equal(a.gains, b.gains)
    np.testing.assert_array_equal(a.pmax_w, b.pmax_w)
    assert a.gains.shape[1] == a.gains.shape[2] == a.noise_w.shape[1]


def test_corpus_draws_families_by_weight_and_k_in_range() -> None:
    spec = CorpusSpec.parse("rayleigh-ic:3,gaussian-ic:1", (5, 9))
    rng = np.random.default_rng(7)
    draws = [spec.draw(rng, 1) for _ in range(400)]
    share = np.mean([name == "rayleigh-ic" for name, _ in draws])
    assert share == pytest.approx(0.75, abs=0.06)
    assert {s.gains.shape[1] for _, s in draws} == set(range(5, 10))


@pytest.mark.parametrize("text", ["nope:1", "rayleigh-ic:0", "rayleigh-ic:x", ""])
def test_bad_corpus_specs_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        CorpusSpec.parse(text)


def test_bad_family_configs_are_refused() -> None:
    with pytest.raises(ConfigError, match="fading"):
        ChannelConfig("rician")
    with pytest.raises(ConfigError, match="snr_db"):
        ChannelConfig(snr_db=(10.0, 0.0))
    with pytest.raises(ConfigError, match="unknown channel parameter"):
        ChannelConfig().with_overrides(nope=1)
    with pytest.raises(ConfigError, match="d_min"):
        Itu1411Config(d_min_m=70.0)


def test_a_node_can_serve_a_corpus_family():
    from rrm.core.errors import InvalidInput
    from rrm.sim.nodes import NodeSpec, build_node

    node = build_node(NodeSpec(family="rayleigh-ic", num_links=6), "n0", 0, 0.01)
    node.env.reset(seed=0)
    assert node.env.sizes.num_links == 6
    with pytest.raises(InvalidInput):
        build_node(NodeSpec(family="nope"), "n0", 0, 0.01)
