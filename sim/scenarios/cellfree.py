"""The ``cellfree`` scenario of EGAT (sec. V-A, Table I), channel model of Ngo et al. 2017.

* 500 m x 500 m with wrap-around (distances on a torus), APs and UEs uniform.
* AP antennas 15 m high, UE 1.65 m, carrier 1.9 GHz, COST231-Hata with the
  three-slope correction of Ngo et al. (IEEE TWC 2017, eq. 52): with
  ``L = 46.3 + 33.9 log10 f - 13.82 log10 h_AP - (1.1 log10 f - 0.7) h_UE
  + (1.56 log10 f - 0.8)`` (f in MHz), d0 = 10 m, d1 = 50 m::

      PL(d) = -L - 35 log10(d)                              d > d1
      PL(d) = -L - 15 log10(d1) - 20 log10(d)               d0 < d <= d1
      PL(d) = -L - 15 log10(d1) - 20 log10(d0)              d <= d0     (dB, d in km)

* Shadowing 8 dB, correlated (Ngo et al. eq. 54-55):
  ``z_bk = sqrt(delta) a_b + sqrt(1 - delta) b_k``, delta = 0.5, with
  ``E[a_b a_b'] = 2^(-d_AP/d_corr)`` over APs and ``E[b_k b_k'] =
  2^(-d_UE/d_corr)`` over UEs ("applied separately across APs and users");
  d_corr = 500 m as the EGAT paper states. The EGAT paper writes
  ``rho_bk = PL_bk 10^(sigma z_bk / 10)`` without Ngo's "beyond d1 only"
  rule, so shadowing applies at every distance here.
* Rayleigh fading ``g_bk ~ CN(0, I_M)``; ``h_bk = sqrt(rho_bk) g_bk``.
* Table I: M = 2, K = 4, B = 8, w_k = 1, Pmax = 30 dBm per AP, noise -85 dBm,
  10 MHz. Fronthaul caps are swept over 40-90 Mbit/s (Fig. 6); the default
  60 Mbit/s is the middle of that sweep (our choice).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import ConfigError, InvalidInput
from sim.fading import complex_normal
from sim.types import CellFreeState
from sim.units import dbm_to_watt

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CellFreeConfig:
    """Parameters of the cell-free scenario (defaults: EGAT Table I and sec. V-A)."""

    num_aps: int = 8  # B, Table I
    num_ues: int = 4  # K, Table I
    num_antennas: int = 2  # M, Table I
    area_m: float = 500.0  # 500 m x 500 m, sec. V-A
    ap_height_m: float = 15.0  # sec. V-A
    ue_height_m: float = 1.65  # sec. V-A
    carrier_mhz: float = 1900.0  # 1.9 GHz, sec. V-A
    d0_m: float = 10.0  # three-slope breakpoints, Ngo et al. 2017
    d1_m: float = 50.0
    shadowing_db: float = 8.0  # sigma_sh = 8 dB, sec. V-A
    shadow_corr_m: float = 500.0  # 0.5 km correlation distance, sec. V-A
    shadow_delta: float = 0.5  # AP/UE split of the shadowing, Ngo et al. eq. 54
    pmax_dbm: float = 30.0  # Table I
    noise_dbm: float = -85.0  # Table I
    bandwidth_hz: float = 10e6  # Table I
    fronthaul_mbps: float = 60.0  # middle of the 40-90 Mbit/s sweep, Fig. 6

    def __post_init__(self) -> None:
        if min(self.num_aps, self.num_ues, self.num_antennas) < 1:
            raise ConfigError("num_aps, num_ues and num_antennas must be at least 1")
        if self.fronthaul_mbps <= 0:
            raise ConfigError(f"fronthaul_mbps must be positive, got {self.fronthaul_mbps}")

    @property
    def pmax_w(self) -> float:
        """Per-AP power budget, W (30 dBm = 1 W)."""
        return dbm_to_watt(self.pmax_dbm)

    @property
    def noise_w(self) -> float:
        """UE noise power, W."""
        return dbm_to_watt(self.noise_dbm)

    @classmethod
    def from_overrides(cls, **overrides: Any) -> CellFreeConfig:
        """Defaults with some fields replaced; unknown keys raise ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise ConfigError(f"unknown cellfree parameter {bad[0]!r}; "
                              f"known: {', '.join(sorted(known))}")
        return dataclasses.replace(cls(), **overrides)


@dataclass(frozen=True)
class CellFreeBatch:
    """Cell-free snapshots: ``h [n,B,K,M]`` complex, ``large_scale [n,B,K]`` linear."""

    h: NDArray[np.complex128]
    large_scale: FloatArray
    ap_xy: FloatArray
    ue_xy: FloatArray
    config: CellFreeConfig


def torus_distance(a: FloatArray, b: FloatArray, side: float) -> FloatArray:
    """Wrap-around distances ``[..., P, Q]`` between points ``[..., P, 2]`` and ``[..., Q, 2]``."""
    diff = np.abs(a[..., :, None, :] - b[..., None, :, :])
    diff = np.minimum(diff, side - diff)
    return np.sqrt((diff**2).sum(-1))


def three_slope_path_loss_db(distance_m: FloatArray, cfg: CellFreeConfig) -> FloatArray:
    """Path *gain* in dB (negative), COST231-Hata with the three-slope correction."""
    f, hap, hue = cfg.carrier_mhz, cfg.ap_height_m, cfg.ue_height_m
    big_l = (46.3 + 33.9 * np.log10(f) - 13.82 * np.log10(hap)
             - (1.1 * np.log10(f) - 0.7) * hue + (1.56 * np.log10(f) - 0.8))
    d = np.asarray(distance_m, dtype=np.float64) / 1000.0
    d0, d1 = cfg.d0_m / 1000.0, cfg.d1_m / 1000.0
    far = -big_l - 35.0 * np.log10(np.maximum(d, d1))
    mid = -big_l - 15.0 * np.log10(d1) - 20.0 * np.log10(np.maximum(d, d0))
    near = -big_l - 15.0 * np.log10(d1) - 20.0 * np.log10(d0)
    return np.where(d > d1, far, np.where(d > d0, mid, near))


def _correlated_normal(rng: np.random.Generator, xy: FloatArray, cfg: CellFreeConfig) -> FloatArray:
    """``[n, P]`` unit normals with covariance ``2^(-d/d_corr)`` over positions ``[n, P, 2]``."""
    cov = np.power(2.0, -torus_distance(xy, xy, cfg.area_m) / cfg.shadow_corr_m)
    # Symmetric square root by eigendecomposition: with a 500 m correlation distance in a
    # 500 m square the matrix is nearly singular and Cholesky fails.
    eigval, eigvec = np.linalg.eigh(cov)  # batched
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))[..., None, :]
    return (root @ rng.normal(size=(*xy.shape[:-1], 1)))[..., 0]


def generate_cellfree(cfg: CellFreeConfig, n: int, rng: np.random.Generator) -> CellFreeBatch:
    """``n`` independent snapshots (positions, shadowing and fading redrawn)."""
    if n < 1:
        raise InvalidInput(f"number of snapshots must be at least 1, got {n}")
    b, k, m = cfg.num_aps, cfg.num_ues, cfg.num_antennas
    ap = rng.uniform(0.0, cfg.area_m, size=(n, b, 2))
    ue = rng.uniform(0.0, cfg.area_m, size=(n, k, 2))
    gain_db = three_slope_path_loss_db(torus_distance(ap, ue, cfg.area_m), cfg)  # (n, B, K)
    a_b = _correlated_normal(rng, ap, cfg)[..., :, None]
    b_k = _correlated_normal(rng, ue, cfg)[..., None, :]
    z = np.sqrt(cfg.shadow_delta) * a_b + np.sqrt(1.0 - cfg.shadow_delta) * b_k
    large = np.power(10.0, (gain_db + cfg.shadowing_db * z) / 10.0)
    h = np.sqrt(large)[..., None] * complex_normal(rng, (n, b, k, m))
    return CellFreeBatch(h, large, ap, ue, cfg)


def to_state(batch: CellFreeBatch, index: int | None = None) -> CellFreeState:
    """The controller's view of one snapshot (``index``) or of the whole batch."""
    cfg = batch.config
    h = batch.h if index is None else batch.h[index]
    return CellFreeState(h, cfg.noise_w, np.full(cfg.num_aps, cfg.pmax_w),
                         np.full(cfg.num_aps, cfg.fronthaul_mbps * 1e6), cfg.bandwidth_hz)
