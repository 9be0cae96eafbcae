"""The ``d2d`` scenario of GFM-RA (sec. IV-A, "Simulation Environment").

Per snapshot:

* K transmitters uniform in a 1000 m x 1000 m square.
* Each receiver uniform over the annulus ``[d_min, d_max]`` around its own
  transmitter, uniform in area: radius ``sqrt(U(d_min^2, d_max^2))``, angle
  ``U(0, 2 pi)``. A receiver is redrawn until it is strictly nearer its own
  transmitter than any other transmitter (the paper's nearest-neighbour
  rule) and lies inside the square (our choice: the paper is silent; a
  receiver outside would sit outside the simulated interference field).
  Redrawing is per receiver and vectorised: each round redraws only the
  violating receivers of the whole chunk, never whole layouts.
* A receiver can be impossible to place: when nearby transmitters surround
  its own, its Voronoi cell misses the annulus. A pair still violating
  after ``TX_REDRAW_AFTER`` rounds gets a new transmitter position (that
  pair only; its snapshot is re-checked, since the moved transmitter may
  capture another pair's receiver). At K = 80, [30, 70] m (D15) this touches
  about one pair in 10^3; transmitters stay uniform otherwise.
* Gains ``gains[k, j] = 10^(-PL(d_kj)/10) * S_kj * |h_kj|^2``: dual-slope
  path loss (:mod:`rrm.sim.pathloss`, constants of NaderiAlizadeh et al. 2022,
  distance clamped to >= 1 m), log-normal shadowing ``S`` with 7 dB std,
  Rayleigh fading ``|h|^2 ~ Exp(1)``, all i.i.d. per tx-rx pair.
* W = 10 MHz, Pmax = 10 dBm, noise PSD -174 dBm/Hz.

Generation runs in chunks of :func:`chunk_rows` snapshots (2,000 for every
catalog entry) from one generator, so ``generate_d2d(cfg, n, rng)`` gives
the same bytes as the data-set writer, which writes the same chunks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from rrm.core.errors import ConfigError, InvalidInput
from rrm.core.units import dbm_to_watt, thermal_noise_w
from rrm.sim.pathloss import large_scale_gain, pairwise_distance

FloatArray = NDArray[np.float64]
MAX_REDRAW_ROUNDS = 10_000
TX_REDRAW_AFTER = 50  # receiver redraws before a stubborn pair's transmitter moves too
CHUNK = 2_000  # at most this many snapshots generated at once ...
CHUNK_ELEMENTS = 2**24  # ... and at most 16.7 M links (134 MB per float64 [rows, K, K] array)


@dataclass(frozen=True)
class D2DConfig:
    """Parameters of the d2d scenario (defaults: GFM-RA sec. IV-A; K and range of D18)."""

    num_links: int = 50  # K = 50: D18 (sec. IV-A, D16-D20 densities)
    d_min_m: float = 1.0  # [d_min, d_max] = [1, 100] m: D16-D20 (sec. IV-A)
    d_max_m: float = 100.0
    area_m: float = 1000.0  # "1,000 x 1,000 m^2 square region" (sec. IV-A)
    shadowing_db: float = 7.0  # sigma_sh = 7 dB (sec. IV-A)
    bandwidth_hz: float = 10e6  # W = 10 MHz (sec. IV-A)
    pmax_dbm: float = 10.0  # Pmax = 10 dBm (sec. IV-A)
    noise_psd_dbm_hz: float = -174.0  # noise PSD -174 dBm/Hz (sec. IV-A)

    def __post_init__(self) -> None:
        if self.num_links < 1:
            raise ConfigError(f"num_links must be at least 1, got {self.num_links}")
        if not 0 <= self.d_min_m < self.d_max_m:
            raise ConfigError(f"need 0 <= d_min < d_max, got [{self.d_min_m}, {self.d_max_m}]")
        if self.d_max_m >= self.area_m / 2:
            raise ConfigError(f"d_max {self.d_max_m} m too large for a {self.area_m} m square")
        if self.shadowing_db < 0 or self.bandwidth_hz <= 0:
            raise ConfigError("shadowing_db must be >= 0 and bandwidth_hz > 0")

    @property
    def noise_w(self) -> float:
        """Noise power over the band, W: -174 dBm/Hz + 70 dB(Hz) = -104 dBm = 4.0e-14 W."""
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
        gains: ``[n, K, K]`` linear power gain, receiver k from transmitter j
            (path loss x shadowing x Rayleigh fading).
        large_scale: ``[n, K, K]`` path loss x shadowing (gains without fading),
            the topology's state when fading is redrawn per slot (:mod:`rrm.sim.fading`).
        tx_xy / rx_xy: ``[n, K, 2]`` positions in metres.
        config: the scenario parameters.
    """

    gains: NDArray[np.floating[Any]]
    large_scale: NDArray[np.floating[Any]]
    tx_xy: FloatArray
    rx_xy: FloatArray
    config: D2DConfig

    @property
    def noise_w(self) -> float:
        """Noise power, W."""
        return self.config.noise_w

    @property
    def pmax_w(self) -> float:
        """Per-link power budget, W."""
        return self.config.pmax_w


def _annulus_points(rng: np.random.Generator, centres: FloatArray, cfg: D2DConfig) -> FloatArray:
    """Points uniform in area over the annulus around each centre ``[..., 2]`` (metres)."""
    radius = np.sqrt(rng.uniform(cfg.d_min_m**2, cfg.d_max_m**2, size=centres.shape[:-1]))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=centres.shape[:-1])
    return centres + np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)


def _outside(points: FloatArray, area: float) -> NDArray[np.bool_]:
    return np.any((points < 0) | (points > area), axis=-1)


def _violations(tx: FloatArray, rx: FloatArray, area: float) -> NDArray[np.bool_]:
    """``[n, K]``: receiver outside the square or not strictly nearest its own transmitter."""
    d = pairwise_distance(rx, tx)  # (n, K, K)
    own = np.diagonal(d, axis1=-2, axis2=-1).copy()
    np.einsum("...kk->...k", d)[...] = np.inf  # the own link is no competitor
    return _outside(rx, area) | ~(own < d.min(axis=-1))


def _still_violating(tx: FloatArray, rx: FloatArray, rows: NDArray[np.intp],
                     links: NDArray[np.intp], area: float) -> NDArray[np.bool_]:
    """Violation test for the listed receivers only: ``[m]`` for m (row, link) pairs."""
    point = rx[rows, links]  # (m, 2)
    d = pairwise_distance(point[:, None, :], tx[rows])[:, 0, :]  # (m, K)
    picked = np.arange(len(rows))
    own = d[picked, links]
    d[picked, links] = np.inf
    return _outside(point, area) | ~(own < d.min(axis=-1))


def place_pairs(rng: np.random.Generator, tx: FloatArray,
                cfg: D2DConfig) -> tuple[FloatArray, FloatArray]:
    """Receivers for transmitters ``tx [n, K, 2]``, redrawing only violating receivers.

    Returns ``(tx, rx)``, both ``[n, K, 2]`` metres; ``tx`` differs from the
    input only for pairs moved after ``TX_REDRAW_AFTER`` rounds (module
    docstring). Raises InvalidInput if ``MAX_REDRAW_ROUNDS`` do not suffice.
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


def chunk_rows(config: D2DConfig) -> int:
    """Snapshots generated at once: ``min(CHUNK, CHUNK_ELEMENTS // K^2)``, at least 1."""
    return max(1, min(CHUNK, CHUNK_ELEMENTS // config.num_links**2))


def _generate_chunk(cfg: D2DConfig, n: int, rng: np.random.Generator,
                    dtype: DTypeLike) -> tuple[NDArray[Any], ...]:
    k = cfg.num_links
    tx = rng.uniform(0.0, cfg.area_m, size=(n, k, 2))
    tx, rx = place_pairs(rng, tx, cfg)
    large = large_scale_gain(pairwise_distance(rx, tx), rng, cfg.shadowing_db)  # (n, K, K)
    fading = rng.exponential(1.0, size=large.shape)  # |h|^2 ~ Exp(1): Rayleigh
    return (large * fading).astype(dtype, copy=False), large.astype(dtype, copy=False), tx, rx


def generate_d2d(config: D2DConfig, n: int, rng: np.random.Generator,
                 dtype: DTypeLike = np.float64) -> D2DBatch:
    """``n`` independent snapshots (layout, shadowing and fading all redrawn).

    Args:
        config: scenario parameters (:func:`rrm.sim.scenarios.catalog.catalog_entry`
            gives the D1-D20 ones).
        n: number of snapshots, >= 1.
        rng: the only source of randomness; the same state gives the same bytes.
        dtype: float dtype of ``gains`` and ``large_scale`` (float32 halves the
            memory; positions stay float64).

    Returns:
        A :class:`D2DBatch` with ``gains [n, K, K]``, ``large_scale [n, K, K]``,
        ``tx_xy`` and ``rx_xy [n, K, 2]``.
    """
    if n < 1:
        raise InvalidInput(f"number of snapshots must be at least 1, got {n}")
    step = chunk_rows(config)
    parts = [_generate_chunk(config, min(step, n - lo), rng, dtype) for lo in range(0, n, step)]
    if len(parts) == 1:
        gains, large, tx, rx = parts[0]
    else:
        gains, large, tx, rx = (np.concatenate(p) for p in zip(*parts, strict=True))
    return D2DBatch(gains, large, tx, rx, config)
