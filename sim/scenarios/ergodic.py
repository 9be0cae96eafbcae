"""The ``ergodic`` scenario of the graph-diffusion paper (sec. 3): an RGG with fading slots.

* N = 400 tx-rx pairs uniform in a square of side R, R in {5800, 6300,
  7000, 7800} m (densities 11.9, 10.1, 8.2, 6.6 pairs/km^2), 32 networks
  per R in the paper.
* From the authors' public code: each receiver 20-100 m from its
  transmitter (uniform in area, kept inside the square), transmitters at
  least 50 m apart (violators redrawn, vectorised), the d2d dual-slope path
  loss (:mod:`sim.pathloss`) with 7 dB shadowing as the large-scale state,
  and Doppler-correlated Rayleigh fading per 50 ms slot
  (:class:`sim.fading.FadingProcess`).
* W = 40 MHz, -174 dBm/Hz, Pmax = 10 mW, f_min in {0.4, ..., 0.8} bit/s/Hz.
* The interference graph keeps each receiver's 10 strongest interferers,
  with log-scaled weights (:func:`interference_graph`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import ConfigError, InvalidInput
from sim.pathloss import large_scale_gain, pairwise_distance
from sim.units import thermal_noise_w

FloatArray = NDArray[np.float64]
SIDES_M = (5800.0, 6300.0, 7000.0, 7800.0)  # sec. 3
F_MIN_LEVELS = (0.4, 0.5, 0.6, 0.7, 0.8)  # bit/s/Hz, sec. 3.1
NETWORKS_PER_SIDE = 32  # sec. 3
MAX_ROUNDS = 10_000


@dataclass(frozen=True)
class ErgodicConfig:
    """Parameters of the ergodic RGG network (defaults: diffusion paper sec. 3)."""

    num_pairs: int = 400  # N = 400
    side_m: float = 7000.0  # R, one of SIDES_M
    pair_distance_m: tuple[float, float] = (20.0, 100.0)  # authors' code
    min_tx_separation_m: float = 50.0  # authors' code
    shadowing_db: float = 7.0  # authors' code
    bandwidth_hz: float = 40e6  # W = 40 MHz
    noise_psd_dbm_hz: float = -174.0  # N0 = -174 dBm/Hz
    pmax_w: float = 0.01  # Pmax = 10 mW
    f_min: float = 0.6  # bit/s/Hz, one of F_MIN_LEVELS
    slot_s: float = 0.05  # 50 ms slots
    interferers_kept: int = 10  # authors' code: 10 strongest per receiver

    def __post_init__(self) -> None:
        if self.num_pairs < 1:
            raise ConfigError(f"num_pairs must be at least 1, got {self.num_pairs}")
        lo, hi = self.pair_distance_m
        if not 0 <= lo < hi < self.side_m / 2:
            raise ConfigError(f"pair_distance_m must satisfy 0 <= lo < hi < side/2, got {lo, hi}")
        area_per_tx = self.side_m**2 / self.num_pairs
        if area_per_tx < 4 * self.min_tx_separation_m**2:
            raise ConfigError("square too small for the transmitter separation")

    @property
    def noise_w(self) -> float:
        """Noise power over the band, W."""
        return thermal_noise_w(self.noise_psd_dbm_hz, self.bandwidth_hz)

    @property
    def density_per_km2(self) -> float:
        """Pairs per square kilometre."""
        return self.num_pairs / (self.side_m / 1000.0) ** 2

    @classmethod
    def from_overrides(cls, **overrides: Any) -> ErgodicConfig:
        """Defaults with some fields replaced; unknown keys raise ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise ConfigError(f"unknown ergodic parameter {bad[0]!r}; "
                              f"known: {', '.join(sorted(known))}")
        return dataclasses.replace(cls(), **overrides)


@dataclass(frozen=True)
class ErgodicNetwork:
    """One network's large-scale state: ``large_scale [N, N]``, positions ``[N, 2]``."""

    large_scale: FloatArray
    tx_xy: FloatArray
    rx_xy: FloatArray
    config: ErgodicConfig


def _separated_transmitters(rng: np.random.Generator, cfg: ErgodicConfig) -> FloatArray:
    tx = rng.uniform(0.0, cfg.side_m, size=(cfg.num_pairs, 2))
    for _ in range(MAX_ROUNDS):
        d = pairwise_distance(tx, tx)
        close = np.triu(d < cfg.min_tx_separation_m, k=1).any(axis=0)  # later of each close pair
        if not close.any():
            return tx
        tx[close] = rng.uniform(0.0, cfg.side_m, size=(int(close.sum()), 2))
    raise InvalidInput("could not separate transmitters; lower the density")


def _receivers(rng: np.random.Generator, tx: FloatArray, cfg: ErgodicConfig) -> FloatArray:
    lo, hi = cfg.pair_distance_m
    rx = np.empty_like(tx)
    todo = np.ones(len(tx), dtype=bool)
    for _ in range(MAX_ROUNDS):
        m = int(todo.sum())
        radius = np.sqrt(rng.uniform(lo**2, hi**2, size=m))
        angle = rng.uniform(0.0, 2 * np.pi, size=m)
        rx[todo] = tx[todo] + np.stack([radius * np.cos(angle), radius * np.sin(angle)], -1)
        todo = np.any((rx < 0) | (rx > cfg.side_m), axis=-1)
        if not todo.any():
            return rx
    raise InvalidInput("could not place receivers inside the square")


def generate_ergodic_network(cfg: ErgodicConfig, rng: np.random.Generator) -> ErgodicNetwork:
    """Draw one network (layout + shadowing); fading is added per slot by the environment."""
    tx = _separated_transmitters(rng, cfg)
    rx = _receivers(rng, tx, cfg)
    large = large_scale_gain(pairwise_distance(rx, tx), rng, cfg.shadowing_db)
    return ErgodicNetwork(large, tx, rx, cfg)


def interference_graph(large_scale: FloatArray, keep: int = 10) -> FloatArray:
    """Graph shift operator from large-scale gains ``[N, N]`` (rx k from tx j).

    Keeps the direct link and each receiver's ``keep`` strongest interferers,
    weights them log-scaled (``log10`` of the gain relative to the weakest
    kept gain, so weights are positive), and normalises by the largest
    eigenvalue magnitude so repeated shifts stay bounded.
    """
    n = large_scale.shape[0]
    cross = np.where(np.eye(n, dtype=bool), -np.inf, large_scale)
    keep = min(keep, n - 1)
    strongest = np.argsort(cross, axis=1)[:, n - keep:] if keep > 0 else np.empty((n, 0), int)
    mask = np.eye(n, dtype=bool)
    mask[np.arange(n)[:, None], strongest] = True
    floor = large_scale[mask].min()
    weights = np.where(mask, np.log10(np.maximum(large_scale, floor) / floor) + 1.0, 0.0)
    radius = np.max(np.abs(np.linalg.eigvals(weights)))
    return weights / radius
