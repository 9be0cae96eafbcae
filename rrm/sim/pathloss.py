"""Large-scale channel models: dual-slope path loss and log-normal shadowing.

The d2d generator of GFM-RA (sec. IV-A, "Simulation Environment") uses
"dual-slope path loss with log-normal shadowing (7 dB)" but prints no
constants. Its other settings (10 MHz, 10 dBm, -174 dBm/Hz, Rayleigh) match
the state-augmented RRM generator of NaderiAlizadeh, Eisen and Ribeiro
(IEEE TSP 2022, ``UDN_PL`` in their public code), whose dual-slope model is
used here; the graph-diffusion paper's ergodic network (sec. 3) comes from
the same code base and uses it too::

    PL(d) = 39 + 20 log10(d)                d <= 100 m     (slope 2)
    PL(d) = 39 + 40 log10(d) - 40           d >  100 m     (slope 4)
          = 39 + 40 log10(d) - 20 log10(100)

in dB, d in metres; continuous at the 100 m breakpoint (79 dB there).
Distances are clamped to at least 1 m (our choice, :data:`MIN_DISTANCE_M`):
below 1 m the model would give a gain above 1 (negative loss), which no
passive link has; the d2d catalog's smallest link is 1 m (D16-D20) so the
clamp only touches cross links of co-located nodes.

The linear large-scale power gain of a link is
``beta = 10^(-(PL(d) + X)/10)`` with shadowing ``X ~ N(0, sigma^2)`` dB,
i.i.d. per tx-rx pair.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

PL_INTERCEPT_DB = 39.0  # k0 = 39 dB, NaderiAlizadeh et al. 2022 (UDN_PL)
NEAR_EXPONENT = 2.0  # path-loss exponent up to the breakpoint, same source
FAR_EXPONENT = 4.0  # path-loss exponent beyond the breakpoint, same source
BREAKPOINT_M = 100.0  # d_b = 100 m, same source
MIN_DISTANCE_M = 1.0  # our clamp: no gain above 1 (see module docstring)


def dual_slope_path_loss_db(distance_m: ArrayLike) -> FloatArray:
    """Path loss in dB, dual slope with a 100 m breakpoint (module docstring).

    Args:
        distance_m: any shape, metres; values below 1 m are treated as 1 m.

    Returns:
        Same shape, dB (positive: a loss).
    """
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), MIN_DISTANCE_M)
    log_d = np.log10(d)
    near = PL_INTERCEPT_DB + 10.0 * NEAR_EXPONENT * log_d
    far = (PL_INTERCEPT_DB + 10.0 * FAR_EXPONENT * log_d
           - 10.0 * (FAR_EXPONENT - NEAR_EXPONENT) * np.log10(BREAKPOINT_M))
    return np.where(d <= BREAKPOINT_M, near, far)


def shadowing_db(rng: np.random.Generator, shape: tuple[int, ...], sigma_db: float) -> FloatArray:
    """i.i.d. log-normal shadowing in dB: ``shape`` draws of N(0, sigma_db^2)."""
    return rng.normal(0.0, sigma_db, size=shape)


def pairwise_distance(rx_xy: FloatArray, tx_xy: FloatArray) -> FloatArray:
    """Distances between every receiver and every transmitter.

    Args:
        rx_xy: ``[..., K, 2]`` receiver positions, metres.
        tx_xy: ``[..., J, 2]`` transmitter positions, metres.

    Returns:
        ``[..., K, J]`` metres; entry ``[k, j]`` is from transmitter j to receiver k.
    """
    # in place on two temporaries: the hot path of the generators at K = 80
    dist = rx_xy[..., :, None, 0] - tx_xy[..., None, :, 0]  # (..., K, J) x offsets
    dy = rx_xy[..., :, None, 1] - tx_xy[..., None, :, 1]  # (..., K, J)
    dist *= dist
    dy *= dy
    dist += dy
    return np.sqrt(dist, out=dist)


def large_scale_gain(distance_m: FloatArray, rng: np.random.Generator,
                     sigma_db: float) -> FloatArray:
    """Linear large-scale power gain ``10^(-(PL(d) + X)/10)``, X ~ N(0, sigma_db^2) dB.

    Args:
        distance_m: ``[...]`` metres (e.g. ``[n, K, K]`` from :func:`pairwise_distance`).
        rng: draws the shadowing, one value per entry of ``distance_m``.
        sigma_db: shadowing standard deviation, dB.

    Returns:
        Same shape as ``distance_m``, linear power gain (path loss x shadowing).
    """
    loss_db = dual_slope_path_loss_db(distance_m) + shadowing_db(rng, distance_m.shape, sigma_db)
    return np.power(10.0, -loss_db / 10.0)
