"""The ``cellfree`` scenario of EGAT (sec. V-A, Table I), channel model of Ngo et al. 2017.

EGAT adopts "the network structure and channel models" of its ref. [7],
Ngo, Ashikhmin, Yang, Larsson and Marzetta, "Cell-free massive MIMO versus
small cells", IEEE TWC 16(3), 2017, sec. VI-A (eqs. 52-55), with its own
area, heights, shadowing and correlation distance (sec. V-A):

* APs and UEs uniform in a 500 m x 500 m square with wrap-around: the
  AP-UE distance is the shortest one on the torus (at most 250 sqrt(2) m).
* Large-scale gain ``beta_bk = PL_bk 10^(sigma_sh z_bk / 10)``. (EGAT prints
  ``sigma_sh^2`` in the exponent; with ``z ~ N(0, 1)`` that would make the
  shadowing std 64 dB, so we read it as Ngo's ``sigma_sh``.)
* Path gain, COST231-Hata with the three-slope correction (Ngo eqs. 52-53),
  f in MHz, heights in m, d in km, d0 = 10 m, d1 = 50 m::

      L  = 46.3 + 33.9 log10 f - 13.82 log10 h_AP - (1.1 log10 f - 0.7) h_UE
           + (1.56 log10 f - 0.8)
      PL = -L - 35 log10 d                              d > d1
      PL = -L - 15 log10 d1 - 20 log10 d                d0 < d <= d1
      PL = -L - 15 log10 d1 - 20 log10 d0               d <= d0          (dB)

* Shadowing, sigma_sh = 8 dB (EGAT sec. V-A), only for d > d1 (Ngo sec.
  VI-A: "there is no shadowing" within d1; EGAT is silent). Two-component
  correlation (Ngo eqs. 54-55), "applied separately across APs and users"::

      z_bk = sqrt(delta) a_b + sqrt(1 - delta) b_k
      E[a_b a_b'] = 2^(-d(b, b') / d_decorr),   E[b_k b_k'] = 2^(-d(k, k') / d_decorr)

  with d_decorr = 0.5 km (EGAT sec. V-A; Ngo uses 0.1 km) and delta = 0.5
  (Ngo; EGAT does not state it). The AP-AP and UE-UE distances here are
  plain, not wrap-around: the exponential kernel of the torus distance is
  not positive definite when d_decorr is comparable to the side (for 20
  points at 500 m on the 500 m torus most draws have a negative eigenvalue),
  so it is not a covariance. The plain-distance kernel is, and a batched
  Cholesky factor draws it exactly.
* Rayleigh fading ``h_bk = sqrt(beta_bk) g_bk``, ``g_bk ~ CN(0, I_M)``.

Randomness comes from one ``np.random.Generator`` in a fixed order (AP
positions, UE positions, AP shadowing, UE shadowing, fading): the same seed
gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rrm.core.errors import ConfigError, InvalidInput
from rrm.core.types import CellFreeState
from rrm.core.units import dbm_to_watt
from rrm.sim.fading import complex_normal

FloatArray = NDArray[np.float64]
ComplexArray = NDArray[np.complex128]

CHOLESKY_JITTER = 1e-10  # keeps the factor defined if two points (nearly) coincide


@dataclass(frozen=True)
class CellFreeConfig:
    """Parameters of the cell-free scenario (defaults: EGAT Table I and sec. V-A).

    Fields are validated on construction; :meth:`from_overrides` also
    rejects unknown names. Every error is a :class:`ConfigError` naming
    the field and what was expected.
    """

    num_aps: int = 8  # B, Table I (Figs. 7-8 train on 8 APs, 4 UEs)
    num_ues: int = 4  # K, Table I
    num_antennas: int = 2  # M, Table I
    area_m: float = 500.0  # 500 m x 500 m, wrap-around, sec. V-A
    ap_height_m: float = 15.0  # sec. V-A
    ue_height_m: float = 1.65  # sec. V-A
    carrier_mhz: float = 1900.0  # 1.9 GHz, sec. V-A
    d0_m: float = 10.0  # three-slope breakpoint, Ngo et al. 2017 sec. VI-A (EGAT ref. [7])
    d1_m: float = 50.0  # three-slope breakpoint, Ngo et al. 2017 sec. VI-A
    shadowing_db: float = 8.0  # sigma_sh = 8 dB, sec. V-A
    shadow_decorr_m: float = 500.0  # "0.5 km correlation distance", sec. V-A
    shadow_delta: float = 0.5  # AP/UE split of z_bk, Ngo et al. eq. (54)
    shadow_within_d1: bool = False  # Ngo et al. sec. VI-A: no shadowing for d <= d1
    pmax_dbm: float = 30.0  # P_b^max, Table I
    noise_dbm: float = -85.0  # xi_k^2, Table I
    bandwidth_hz: float = 10e6  # BW = 10 MHz, Table I
    # C_b^max. Fig. 6 / Table II sweep 40-90 Mbit/s; Tables III-IV (8 APs, 4 UEs)
    # repeat Table II's 60 Mbit/s column, so 60 is the paper's base setting.
    fronthaul_mbps: float = 60.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_type(f.name, str(f.type), getattr(self, f.name))
        for name in ("num_aps", "num_ues", "num_antennas"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("area_m", "ap_height_m", "ue_height_m", "carrier_mhz", "d0_m", "d1_m",
                     "shadow_decorr_m", "bandwidth_hz", "fronthaul_mbps"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.d0_m < self.d1_m:
            raise ConfigError(f"d0_m must be below d1_m, got {self.d0_m} >= {self.d1_m}")
        if not self.shadowing_db >= 0:
            raise ConfigError(f"shadowing_db must be >= 0, got {self.shadowing_db}")
        if not 0.0 <= self.shadow_delta <= 1.0:
            raise ConfigError(f"shadow_delta must be in [0, 1], got {self.shadow_delta}")

    @property
    def pmax_w(self) -> float:
        """Per-AP power budget, W (30 dBm = 1 W)."""
        return dbm_to_watt(self.pmax_dbm)

    @property
    def noise_w(self) -> float:
        """Noise power at each UE, W (-85 dBm ~ 3.2e-12 W)."""
        return dbm_to_watt(self.noise_dbm)

    @property
    def fronthaul_bps(self) -> float:
        """Fronthaul capacity of each AP, bit/s."""
        return self.fronthaul_mbps * 1e6

    @classmethod
    def from_overrides(cls, **overrides: Any) -> CellFreeConfig:
        """Defaults with some fields replaced; unknown keys raise ConfigError."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in sorted(overrides):
            if key not in known:
                raise ConfigError(f"unknown cellfree parameter {key!r}; expected one of: "
                                  f"{', '.join(known)}")
        return dataclasses.replace(cls(), **overrides)


def _check_type(name: str, annotation: str, value: Any) -> None:
    """Raise ConfigError unless ``value`` fits the field's annotation (int, float, bool)."""
    if annotation == "bool":
        ok = isinstance(value, bool | np.bool_)
    elif annotation == "int":
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    else:
        ok = (isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
              and math.isfinite(value))
    if not ok:
        kind = {"bool": "a bool", "int": "an integer"}.get(annotation, "a finite number")
        raise ConfigError(f"cellfree parameter {name} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class CellFreeBatch:
    """``n`` cell-free snapshots and the budgets that go with them.

    Attributes:
        h: ``[n, B, K, M]`` complex128, channel AP b -> UE k (amplitude, sqrt of gain).
        large_scale_gain: ``[n, B, K]`` float64, beta_bk, linear power gain
            (path loss x shadowing, no fading).
        ap_xy, ue_xy: ``[n, B, 2]`` and ``[n, K, 2]`` float64 positions in metres,
            in ``[0, area_m)``.
        noise_w: noise power at each UE, W.
        pmax_w: ``[B]`` per-AP power budget, W.
        fronthaul_bps: ``[B]`` per-AP fronthaul capacity, bit/s.
        bandwidth_hz: system bandwidth, Hz.
        config: the configuration that produced the batch.
    """

    h: ComplexArray
    large_scale_gain: FloatArray
    ap_xy: FloatArray
    ue_xy: FloatArray
    noise_w: float
    pmax_w: FloatArray
    fronthaul_bps: FloatArray
    bandwidth_hz: float
    config: CellFreeConfig


def torus_distance(a: ArrayLike, b: ArrayLike, side: float) -> FloatArray:
    """Wrap-around distances ``[..., P, Q]`` in m between ``a [..., P, 2]`` and ``b [..., Q, 2]``.

    Each coordinate difference is folded to ``min(|dx|, side - |dx|)``: the
    shortest distance over the eight neighbouring copies of the square.
    """
    diff = np.abs(np.asarray(a, dtype=np.float64)[..., :, None, :]
                  - np.asarray(b, dtype=np.float64)[..., None, :, :])  # (..., P, Q, 2)
    diff = np.minimum(diff, side - diff)
    return np.sqrt((diff**2).sum(axis=-1))


def plain_distance(a: ArrayLike, b: ArrayLike) -> FloatArray:
    """Euclidean distances ``[..., P, Q]`` in m, no wrap-around."""
    diff = (np.asarray(a, dtype=np.float64)[..., :, None, :]
            - np.asarray(b, dtype=np.float64)[..., None, :, :])  # (..., P, Q, 2)
    return np.sqrt((diff**2).sum(axis=-1))


def cost231_constant_db(cfg: CellFreeConfig) -> float:
    """``L`` of Ngo et al. eq. (53) in dB (about 140.7 dB at the defaults)."""
    log_f = math.log10(cfg.carrier_mhz)
    return (46.3 + 33.9 * log_f - 13.82 * math.log10(cfg.ap_height_m)
            - (1.1 * log_f - 0.7) * cfg.ue_height_m + (1.56 * log_f - 0.8))


def three_slope_path_gain_db(distance_m: ArrayLike, cfg: CellFreeConfig) -> FloatArray:
    """Path gain ``PL`` in dB (negative; Ngo et al. eq. 52), any shape, distance in m."""
    d_km = np.asarray(distance_m, dtype=np.float64) / 1000.0
    d0, d1 = cfg.d0_m / 1000.0, cfg.d1_m / 1000.0
    big_l = cost231_constant_db(cfg)
    far = -big_l - 35.0 * np.log10(np.maximum(d_km, d1))
    mid = -big_l - 15.0 * math.log10(d1) - 20.0 * np.log10(np.clip(d_km, d0, d1))
    return np.where(d_km > d1, far, mid)  # clip at d0 makes the near slope flat


def correlated_normal(rng: np.random.Generator, xy: FloatArray, decorr_m: float) -> FloatArray:
    """Unit normals ``[n, P]`` with ``E[u_p u_q] = 2^(-|xy_p - xy_q| / decorr_m)`` (eq. 55).

    Args:
        xy: ``[n, P, 2]`` positions in m; one independent draw per snapshot.
    """
    cov = np.power(2.0, -plain_distance(xy, xy) / decorr_m)  # (n, P, P)
    cov += CHOLESKY_JITTER * np.eye(xy.shape[-2])
    factor = np.linalg.cholesky(cov)  # batched, lower triangular
    return np.einsum("npq,nq->np", factor, rng.standard_normal(xy.shape[:-1]))


def shadowing_db(rng: np.random.Generator, ap_xy: FloatArray, ue_xy: FloatArray,
                 distance_m: FloatArray, cfg: CellFreeConfig) -> FloatArray:
    """Shadowing ``sigma_sh z_bk [n, B, K]`` in dB (Ngo eqs. 54-55), zero within d1."""
    a = correlated_normal(rng, ap_xy, cfg.shadow_decorr_m)[:, :, None]  # (n, B, 1)
    b = correlated_normal(rng, ue_xy, cfg.shadow_decorr_m)[:, None, :]  # (n, 1, K)
    z = math.sqrt(cfg.shadow_delta) * a + math.sqrt(1.0 - cfg.shadow_delta) * b
    shadowed = np.ones_like(z, dtype=bool) if cfg.shadow_within_d1 else distance_m > cfg.d1_m
    return np.where(shadowed, cfg.shadowing_db * z, 0.0)


def rayleigh_channel(rng: np.random.Generator, large_scale_gain: FloatArray,
                     num_antennas: int) -> ComplexArray:
    """``h = sqrt(beta) g``, ``g ~ CN(0, I_M)``: ``[..., B, K] -> [..., B, K, M]`` complex.

    Redraw it each slot for block fading over a fixed topology.
    """
    g = complex_normal(rng, (*large_scale_gain.shape, num_antennas))
    return np.sqrt(large_scale_gain)[..., None] * g


def generate_cellfree(config: CellFreeConfig, n: int, rng: np.random.Generator) -> CellFreeBatch:
    """``n`` independent snapshots: positions, shadowing and fading all redrawn."""
    if n < 1:
        raise InvalidInput(f"number of snapshots must be at least 1, got {n}")
    b, k = config.num_aps, config.num_ues
    ap_xy = rng.uniform(0.0, config.area_m, size=(n, b, 2))
    ue_xy = rng.uniform(0.0, config.area_m, size=(n, k, 2))
    distance = torus_distance(ap_xy, ue_xy, config.area_m)  # (n, B, K)
    gain_db = three_slope_path_gain_db(distance, config)
    gain_db = gain_db + shadowing_db(rng, ap_xy, ue_xy, distance, config)
    beta = np.power(10.0, gain_db / 10.0)  # (n, B, K)
    h = rayleigh_channel(rng, beta, config.num_antennas)  # (n, B, K, M)
    return CellFreeBatch(h=h, large_scale_gain=beta, ap_xy=ap_xy, ue_xy=ue_xy,
                         noise_w=config.noise_w, pmax_w=np.full(b, config.pmax_w),
                         fronthaul_bps=np.full(b, config.fronthaul_bps),
                         bandwidth_hz=config.bandwidth_hz, config=config)


def to_state(batch: CellFreeBatch, index: int | None = None) -> CellFreeState:
    """The controller's view: the whole batch (``h [n,B,K,M]``) or snapshot ``index``.

    Weights are left unset: Table I's ``w_k = 1`` is the objectives' default.
    """
    h = batch.h if index is None else batch.h[index]
    return CellFreeState(h=h, noise_w=batch.noise_w, pmax_w=batch.pmax_w.copy(),
                         fronthaul_bps=batch.fronthaul_bps.copy(),
                         bandwidth_hz=batch.bandwidth_hz)
