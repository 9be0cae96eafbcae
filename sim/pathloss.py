"""Large-scale channel models: dual-slope path loss and log-normal shadowing.

The d2d generator of GFM-RA (sec. IV-A) uses "dual-slope path loss with
log-normal shadowing (7 dB)" but prints no constants. Its other settings
(10 MHz, 10 dBm, -174 dBm/Hz, Rayleigh) match the state-augmented RRM
generator of NaderiAlizadeh, Eisen and Ribeiro (IEEE TSP 2022), whose
dual-slope model is used here::

    PL(d) = 39 + 20 log10(d)            dB,  d <= 100 m
    PL(d) = 39 + 40 log10(d) - 40       dB,  d >  100 m

continuous at the 100 m breakpoint (79 dB). Distances are clamped to at
least 1 m so co-located nodes do not get gains above 1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

PL_INTERCEPT_DB = 39.0  # NaderiAlizadeh et al. 2022 (see module docstring)
BREAKPOINT_M = 100.0
MIN_DISTANCE_M = 1.0


def dual_slope_path_loss_db(distance_m: ArrayLike) -> FloatArray:
    """Path loss in dB at ``distance_m`` (any shape), dual-slope with a 100 m breakpoint."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), MIN_DISTANCE_M)
    near = PL_INTERCEPT_DB + 20.0 * np.log10(d)
    far = PL_INTERCEPT_DB + 40.0 * np.log10(d) - 20.0 * np.log10(BREAKPOINT_M)
    return np.where(d <= BREAKPOINT_M, near, far)


def shadowing_db(rng: np.random.Generator, shape: tuple[int, ...], sigma_db: float) -> FloatArray:
    """i.i.d. log-normal shadowing in dB, zero mean, std ``sigma_db``."""
    return rng.normal(0.0, sigma_db, size=shape)


def pairwise_distance(rx_xy: FloatArray, tx_xy: FloatArray) -> FloatArray:
    """``[..., K, K]`` distances, entry [k, j] from transmitter j to receiver k (metres)."""
    diff = rx_xy[..., :, None, :] - tx_xy[..., None, :, :]  # (..., K, K, 2)
    return np.sqrt((diff**2).sum(-1))


def large_scale_gain(distance_m: FloatArray, rng: np.random.Generator,
                     sigma_db: float) -> FloatArray:
    """Linear large-scale power gain: 10^(-(PL(d) + shadowing)/10)."""
    loss_db = dual_slope_path_loss_db(distance_m) + shadowing_db(rng, distance_m.shape, sigma_db)
    return np.power(10.0, -loss_db / 10.0)
