"""Ergodic RGG network: geometric rules, densities, interference graph."""

import numpy as np
import pytest

from sim.pathloss import pairwise_distance
from sim.scenarios.ergodic import (
    SIDES_M,
    ErgodicConfig,
    generate_ergodic_network,
    interference_graph,
)


@pytest.fixture(scope="module")
def net():
    return generate_ergodic_network(ErgodicConfig(side_m=5800.0), np.random.default_rng(0))


def test_pairs_20_to_100_m_apart_and_transmitters_50_m_apart(net):
    d = np.linalg.norm(net.rx_xy - net.tx_xy, axis=-1)
    assert d.min() >= 20 - 1e-9 and d.max() <= 100 + 1e-9
    dtx = pairwise_distance(net.tx_xy, net.tx_xy) + np.eye(400) * 1e9
    assert dtx.min() >= 50
    assert np.all((net.rx_xy >= 0) & (net.rx_xy <= 5800))


def test_densities_match_the_paper():
    dens = [ErgodicConfig(side_m=r).density_per_km2 for r in SIDES_M]
    np.testing.assert_allclose(dens, [11.9, 10.1, 8.2, 6.6], atol=0.05)


def test_deterministic_per_seed():
    a = generate_ergodic_network(ErgodicConfig(num_pairs=50, side_m=2000), np.random.default_rng(3))
    b = generate_ergodic_network(ErgodicConfig(num_pairs=50, side_m=2000), np.random.default_rng(3))
    assert a.large_scale.tobytes() == b.large_scale.tobytes()


def test_interference_graph_keeps_the_ten_strongest_interferers(net):
    s = interference_graph(net.large_scale, keep=10)
    assert np.all((s > 0).sum(axis=1) == 11)  # direct link + 10 interferers
    k = 7
    cross = np.where(np.arange(400) == k, 0, net.large_scale[k])
    strongest = set(np.argsort(cross)[-10:].tolist())
    assert set(np.flatnonzero(s[k] > 0).tolist()) - {k} == strongest
    assert np.max(np.abs(np.linalg.eigvals(s))) == pytest.approx(1.0)
