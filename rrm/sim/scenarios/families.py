"""Interference-network families beyond the d2d catalog (the pre-training corpus).

Every family draws ``n`` snapshots of one size K from one seeded
``np.random.Generator``, vectorised over snapshots and links, and returns a
:class:`Snapshots` with per-snapshot, per-link noise and budgets, so one
batch can mix SNR regimes and absolute power scales:

* :class:`ChannelConfig` (``rayleigh-ic``, ``gaussian-ic``): i.i.d. channel
  coefficients, the benchmark interference channels of the learning-to-optimize
  literature (Sun et al. 2018, "Learning to optimize: training deep neural
  networks for interference management", sec. V; Shen et al. 2021's K-user IC):
  ``g_kj = |h_kj|^2`` with ``h ~ CN(0, 1)`` (Rayleigh: ``g ~ Exp(1)``) or
  ``h ~ N(0, 1)`` real (``g ~ chi^2_1``, deeper fades); cross links scaled by
  ``10^(c/10)``, ``c ~ U(cross_db)``; unit noise and
  ``Pmax = 10^(SNR/10)``, ``SNR ~ U(snr_db)`` per snapshot.
* :class:`Itu1411Config` (``itu1411-d2d``): a d2d layout with the ITU-R
  P.1411 short-range line-of-sight path loss of the spatial-learning
  literature (Cui, Shen & Yu 2019, "Spatial deep learning for wireless
  scheduling", sec. VI: 2.4 GHz, 1.5 m antennas, 2.5 dBi, 5 MHz,
  -169 dBm/Hz, Pmax 40 dBm, 7 dB shadowing): direct SNRs around 70 dB
  instead of the catalog's ~40 dB.

Every family then multiplies noise and budget by one common factor
``10^(s/10)``, ``s ~ U(scale_db)``: the rates do not change, the absolute
numbers a model sees do (the features are ratios; the physics must not care).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import ConfigError

FloatArray = NDArray[np.float64]
FADINGS = ("rayleigh", "gaussian")


@dataclass(frozen=True)
class Snapshots:
    """``gains [n, K, K]`` linear (rx k from tx j); ``noise_w``, ``pmax_w`` ``[n, K]`` watts."""

    gains: FloatArray
    noise_w: FloatArray
    pmax_w: FloatArray


def _check_range(name: str, lo_hi: tuple[float, float]) -> None:
    if len(lo_hi) != 2 or lo_hi[0] > lo_hi[1]:
        raise ConfigError(f"{name} must be a (low, high) pair with low <= high, got {lo_hi}")


def _replace(cfg: Any, overrides: dict[str, Any], family: str) -> Any:
    known = {f.name for f in dataclasses.fields(cfg)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ConfigError(f"unknown {family} parameter {bad[0]!r}; "
                          f"known: {', '.join(sorted(known))}")
    return dataclasses.replace(cfg, **overrides)


def _scaled(rng: np.random.Generator, gains: FloatArray, noise: FloatArray, pmax: FloatArray,
            scale_db: tuple[float, float]) -> Snapshots:
    """Multiply noise and budget of each snapshot by one common ``10^(s/10)``."""
    factor = 10.0 ** (rng.uniform(*scale_db, size=(gains.shape[0], 1)) / 10.0)  # (n, 1)
    return Snapshots(gains, noise * factor, pmax * factor)


@dataclass(frozen=True)
class ChannelConfig:
    """An i.i.d. interference channel with unit noise (Sun et al. 2018, sec. V)."""

    fading: str = "rayleigh"  # h ~ CN(0, 1) ("Gaussian IC" of Sun et al. 2018)
    snr_db: tuple[float, float] = (0.0, 30.0)  # Pmax / sigma^2 per snapshot, ours (varied SNR)
    cross_db: tuple[float, float] = (0.0, 0.0)  # cross-link offset, 0 = the paper's i.i.d. IC
    scale_db: tuple[float, float] = (-20.0, 20.0)  # common noise / power scale, ours

    def __post_init__(self) -> None:
        if self.fading not in FADINGS:
            raise ConfigError(f"fading must be one of {', '.join(FADINGS)}, got {self.fading!r}")
        for name in ("snr_db", "cross_db", "scale_db"):
            _check_range(name, getattr(self, name))

    def with_overrides(self, **overrides: Any) -> ChannelConfig:
        """This config with some fields replaced; unknown keys raise ConfigError."""
        return _replace(self, overrides, "channel")  # type: ignore[no-any-return]


def generate_channel(cfg: ChannelConfig, n: int, k: int, rng: np.random.Generator) -> Snapshots:
    """``n`` snapshots of a K-user i.i.d. interference channel.

    ``g_kj = |h_kj|^2 10^(c (1 - delta_kj) / 10)``: Rayleigh ``h ~ CN(0, 1)``
    (``g ~ Exp(1)``) or real Gaussian ``h ~ N(0, 1)`` (``g ~ chi^2_1``);
    ``sigma^2 = 1``, ``Pmax = 10^(SNR/10)``; both times the common scale.
    """
    if cfg.fading == "rayleigh":
        fade = rng.exponential(1.0, size=(n, k, k))
    else:
        fade = rng.standard_normal(size=(n, k, k)) ** 2
    cross = 10.0 ** (rng.uniform(*cfg.cross_db, size=(n, 1, 1)) / 10.0)  # (n, 1, 1)
    eye = np.eye(k, dtype=bool)
    gains = np.where(eye, fade, fade * cross)  # (n, K, K)
    snr = 10.0 ** (rng.uniform(*cfg.snr_db, size=(n, 1)) / 10.0)  # (n, 1)
    return _scaled(rng, gains, np.ones((n, k)), np.broadcast_to(snr, (n, k)).copy(),
                   cfg.scale_db)


@dataclass(frozen=True)
class Itu1411Config:
    """d2d pairs with ITU-R P.1411 LoS path loss (Cui, Shen & Yu 2019, sec. VI)."""

    density_per_km2: float = 200.0  # pairs per km^2; the square grows with K (ours)
    d_min_m: float = 2.0  # pair distance 2-65 m (Cui et al. 2019)
    d_max_m: float = 65.0
    carrier_hz: float = 2.4e9  # 2.4 GHz (Cui et al. 2019)
    antenna_height_m: float = 1.5  # tx and rx (Cui et al. 2019)
    antenna_gain_db: float = 2.5  # dBi (Cui et al. 2019)
    bandwidth_hz: float = 5e6  # 5 MHz (Cui et al. 2019)
    noise_psd_dbm_hz: float = -169.0  # (Cui et al. 2019)
    pmax_dbm: float = 40.0  # (Cui et al. 2019)
    shadowing_db: float = 7.0  # log-normal std (Cui et al. 2019)
    rayleigh: bool = True  # |h|^2 ~ Exp(1) on top (ours: block fading)
    scale_db: tuple[float, float] = (-20.0, 20.0)  # common noise / power scale, ours

    def __post_init__(self) -> None:
        if not 0 < self.d_min_m < self.d_max_m:
            raise ConfigError(f"need 0 < d_min < d_max, got [{self.d_min_m}, {self.d_max_m}]")
        if self.density_per_km2 <= 0 or self.carrier_hz <= 0 or self.antenna_height_m <= 0:
            raise ConfigError("density_per_km2, carrier_hz and antenna_height_m must be > 0")
        _check_range("scale_db", self.scale_db)

    def with_overrides(self, **overrides: Any) -> Itu1411Config:
        """This config with some fields replaced; unknown keys raise ConfigError."""
        return _replace(self, overrides, "itu1411")  # type: ignore[no-any-return]


def itu1411_path_loss_db(cfg: Itu1411Config, distance_m: FloatArray) -> FloatArray:
    """ITU-R P.1411 LoS (upper bound as in Cui et al.), dB.

    ``R_bp = 4 h_1 h_2 / lambda``, ``L_bp = |20 log10(lambda^2 / (8 pi h_1 h_2))|``;
    ``L = L_bp + 6 + 20 log10(d / R_bp)`` for ``d <= R_bp``, and
    ``L_bp + 6 + 40 log10(d / R_bp)`` beyond (distance clamped to >= 1 m).
    """
    wavelength = 299_792_458.0 / cfg.carrier_hz
    h2 = cfg.antenna_height_m**2
    r_bp = 4.0 * h2 / wavelength
    l_bp = abs(20.0 * np.log10(wavelength**2 / (8.0 * np.pi * h2)))
    ratio_db = 20.0 * np.log10(np.maximum(distance_m, 1.0) / r_bp)
    return l_bp + 6.0 + np.where(distance_m > r_bp, 2.0 * ratio_db, ratio_db)


def generate_itu1411(cfg: Itu1411Config, n: int, k: int, rng: np.random.Generator) -> Snapshots:
    """``n`` layouts of K pairs: transmitters uniform in a square of K / density,
    each receiver at ``U(d_min, d_max)`` metres in a uniform direction."""
    side = 1000.0 * np.sqrt(k / cfg.density_per_km2)
    tx = rng.uniform(0.0, side, size=(n, k, 2))
    radius = rng.uniform(cfg.d_min_m, cfg.d_max_m, size=(n, k))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=(n, k))
    rx = tx + np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    d = np.linalg.norm(rx[:, :, None, :] - tx[:, None, :, :], axis=-1)  # (n, K, K)
    loss_db = itu1411_path_loss_db(cfg, d) - cfg.antenna_gain_db
    loss_db -= rng.standard_normal(size=d.shape) * cfg.shadowing_db
    gains = 10.0 ** (-loss_db / 10.0)
    if cfg.rayleigh:
        gains = gains * rng.exponential(1.0, size=d.shape)
    noise = 10.0 ** ((cfg.noise_psd_dbm_hz - 30.0) / 10.0) * cfg.bandwidth_hz
    pmax = 10.0 ** ((cfg.pmax_dbm - 30.0) / 10.0)
    return _scaled(rng, gains, np.full((n, k), noise), np.full((n, k), pmax), cfg.scale_db)
