"""The ``d2d`` scenario of GFM-RA (sec. IV-A "Simulation Environment").

* A 1000 m x 1000 m square; K transmitters uniform in it.
* Each receiver uniform over the annulus [d_min, d_max] around its own
  transmitter (uniform in area: radius = sqrt(U(d_min^2, d_max^2))), and
  redrawn until it is strictly nearer its own transmitter than any other.
  Receivers are also kept inside the square (the paper is silent; a
  receiver outside the deployment area would be outside the simulated
  interference field). Only violating receivers are redrawn, never whole
  layouts; a pair whose receiver cannot be placed (its transmitter's
  Voronoi cell misses the annulus) gets a new transmitter position after
  50 rounds (at K=80, [30, 70] m this touches about 1 pair in 10^3).
* Gains: dual-slope path loss (:mod:`sim.pathloss`) x 7 dB log-normal
  shadowing x Rayleigh fading (|h|^2 ~ Exp(1)), i.i.d. per tx-rx pair.
* W = 10 MHz, Pmax = 10 dBm, noise PSD -174 dBm/Hz.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import ConfigError, InvalidInput
from sim.pathloss import large_scale_gain, pairwise_distance
from sim.units import dbm_to_watt, thermal_noise_w

FloatArray = NDArray[np.float64]
MAX_REDRAW_ROUNDS = 10_000
TX_REDRAW_AFTER = 50  # receiver redraws before a stubborn pair's transmitter moves too
CHUNK = 2_000  # snapshots generated at once: bounds memory at K=80 to ~100 MB


@dataclass(frozen=True)
class D2DConfig:
    """Parameters of the d2d scenario (defaults: GFM-RA sec. IV-A, D18)."""

    num_links: int = 50  # K; D18 (sec. IV-A, D16-D20 densities)
    d_min_m: float = 1.0  # D16-D20 range [1, 100] m
    d_max_m: float = 100.0
    area_m: float = 1000.0  # 1,000 x 1,000 m^2
    shadowing_db: float = 7.0  # sigma_sh = 7 dB
    bandwidth_hz: float = 10e6  # W = 10 MHz
    pmax_dbm: float = 10.0  # Pmax = 10 dBm
    noise_psd_dbm_hz: float = -174.0  # -174 dBm/Hz

    def __post_init__(self) -> None:
        if self.num_links < 1:
            raise ConfigError(f"num_links must be at least 1, got {self.num_links}")
        if not 0 <= self.d_min_m < self.d_max_m:
            raise ConfigError(f"need 0 <= d_min < d_max, got [{self.d_min_m}, {self.d_max_m}]")
        if self.d_max_m >= self.area_m / 2:
            raise ConfigError(f"d_max {self.d_max_m} m too large for a {self.area_m} m square")

    @property
    def noise_w(self) -> float:
        """Noise power over the band, W (about 4.0e-14 W at 10 MHz)."""
        return thermal_noise_w(self.noise_psd_dbm_hz, self.bandwidth_hz)

    @property
    def pmax_w(self) -> float:
        """Power budget per link, W (10 dBm = 0.01 W)."""
        return dbm_to_watt(self.pmax_dbm)

    @classmethod
    def from_overrides(cls, **overrides: Any) -> D2DConfig:
        """Defaults with some fields replaced; unknown keys raise ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise ConfigError(f"unknown d2d parameter {bad[0]!r}; "
                              f"known: {', '.join(sorted(known))}")
        return dataclasses.replace(cls(), **overrides)


@dataclass(frozen=True)
class D2DBatch:
    """A batch of d2d snapshots.

    Attributes:
        gains: ``[n, K, K]`` linear power gain, receiver k from transmitter j.
        large_scale: ``[n, K, K]`` path loss x shadowing (gains without fading).
        tx_xy / rx_xy: ``[n, K, 2]`` positions in metres.
        config: the scenario parameters.
    """

    gains: FloatArray
    large_scale: FloatArray
    tx_xy: FloatArray
    rx_xy: FloatArray
    config: D2DConfig


def _annulus_points(rng: np.random.Generator, centres: FloatArray, cfg: D2DConfig) -> FloatArray:
    radius = np.sqrt(rng.uniform(cfg.d_min_m**2, cfg.d_max_m**2, size=centres.shape[:-1]))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=centres.shape[:-1])
    return centres + np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)


def _violations(tx: FloatArray, rx: FloatArray, area: float) -> NDArray[np.bool_]:
    """``[n, K]``: receiver outside the square or not strictly nearest its own transmitter."""
    d = pairwise_distance(rx, tx)  # (n, K, K)
    own = np.diagonal(d, axis1=-2, axis2=-1)
    k = d.shape[-1]
    others = np.where(np.eye(k, dtype=bool), np.inf, d).min(axis=-1)
    outside = np.any((rx < 0) | (rx > area), axis=-1)
    return outside | ~(own < others)


def _still_violating(tx: FloatArray, rx: FloatArray, rows: NDArray[np.intp],
                     links: NDArray[np.intp], area: float) -> NDArray[np.bool_]:
    """Violation test for the listed receivers only: ``[m]`` for m (row, link) pairs."""
    point = rx[rows, links]  # (m, 2)
    d = np.sqrt(((point[:, None, :] - tx[rows]) ** 2).sum(-1))  # (m, K)
    own = d[np.arange(len(rows)), links]
    d[np.arange(len(rows)), links] = np.inf
    outside = np.any((point < 0) | (point > area), axis=-1)
    return outside | ~(own < d.min(axis=-1))


def place_pairs(rng: np.random.Generator, tx: FloatArray,
                cfg: D2DConfig) -> tuple[FloatArray, FloatArray]:
    """Receivers for transmitters ``[n, K, 2]``, redrawing only violating receivers.

    A receiver can be impossible to place: when other transmitters surround
    its own within d_min, its Voronoi cell misses the annulus. A pair still
    violating after ``TX_REDRAW_AFTER`` rounds also gets a new transmitter
    position (that pair only; its whole snapshot is then re-checked, since a
    moved transmitter can capture another pair's receiver). Returns (tx, rx).
    """
    tx = tx.copy()
    rx = _annulus_points(rng, tx, cfg)
    bad = _violations(tx, rx, cfg.area_m)
    for round_ in range(1, MAX_REDRAW_ROUNDS + 1):
        if not bad.any():
            return tx, rx
        rows, links = np.nonzero(bad)
        if round_ % TX_REDRAW_AFTER == 0:
            tx[rows, links] = rng.uniform(0.0, cfg.area_m, size=(len(rows), 2))
            rx[rows, links] = _annulus_points(rng, tx[rows, links], cfg)
            touched = np.unique(rows)
            bad[touched] = _violations(tx[touched], rx[touched], cfg.area_m)
            continue
        rx[rows, links] = _annulus_points(rng, tx[rows, links], cfg)
        bad[rows, links] = _still_violating(tx, rx, rows, links, cfg.area_m)
    raise InvalidInput(f"could not place receivers in {MAX_REDRAW_ROUNDS} redraw rounds")


def _generate_chunk(cfg: D2DConfig, n: int, rng: np.random.Generator,
                    dtype: type) -> tuple[FloatArray, ...]:
    k = cfg.num_links
    tx = rng.uniform(0.0, cfg.area_m, size=(n, k, 2))
    tx, rx = place_pairs(rng, tx, cfg)
    large = large_scale_gain(pairwise_distance(rx, tx), rng, cfg.shadowing_db)
    fading = rng.exponential(1.0, size=large.shape)  # |h|^2, Rayleigh
    return (large * fading).astype(dtype), large.astype(dtype), tx, rx


def generate_d2d(cfg: D2DConfig, n: int, rng: np.random.Generator,
                 dtype: type = np.float64) -> D2DBatch:
    """``n`` independent snapshots (layout, shadowing and fading all redrawn)."""
    if n < 1:
        raise InvalidInput(f"number of snapshots must be at least 1, got {n}")
    parts = [_generate_chunk(cfg, min(CHUNK, n - lo), rng, dtype) for lo in range(0, n, CHUNK)]
    gains, large, tx, rx = (np.concatenate(p) for p in zip(*parts, strict=True))
    return D2DBatch(gains, large, tx, rx, cfg)
