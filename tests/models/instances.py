"""Random interference-network instances shared by the classical-solver tests."""

import numpy as np

from rrm.core import physics


def rayleigh_gains(rng, n, k):
    """|h|^2 of CN(0,1) amplitudes: Exp(1) on every entry."""
    h = (rng.normal(size=(n, k, k)) + 1j * rng.normal(size=(n, k, k))) / np.sqrt(2)
    return np.abs(h) ** 2


def wide_range_gains(rng, n, k):
    """Path-loss-like dynamic range: cross links 0 to -30 dB, direct links 0 to +20 dB."""
    g = rayleigh_gains(rng, n, k) * 10 ** rng.uniform(-3, 0, size=(n, k, k))
    idx = np.arange(k)
    g[:, idx, idx] *= 10 ** rng.uniform(0, 2, size=(n, k))
    return g


def utility(objective, gains, power, noise):
    """Per-instance utility of ``power`` on ``gains``."""
    return objective.utility(physics.rates(gains, power, noise))
