"""Interference-network physics in numpy: SINR and rates.

Notation (docs/architecture.md, "Domain conventions"):

=========  ==========================================================
symbol     meaning
=========  ==========================================================
``G``      ``gains[..., k, j] = |h_kj|^2``, linear power gain from
           transmitter j to receiver k; the diagonal holds direct links
``p``      ``power_w[..., k]``, transmit power of link k in watts
``sigma2`` ``noise_w``, receiver noise power in watts (scalar or [..., K])
=========  ==========================================================

    SINR_k = G_kk p_k / (sum_{j != k} G_kj p_j + sigma2)
    rate_k = log2(1 + SINR_k)                       [bit/s/Hz]

The torch twin lives in :mod:`rrm.core.physics_torch`; the two agree and are
tested against each other.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rrm.core.errors import InvalidInput

FloatArray = NDArray[np.float64]


def direct_gains(gains: ArrayLike) -> FloatArray:
    """Diagonal of ``gains``: ``[..., K, K] -> [..., K]``, linear power gain."""
    g = np.asarray(gains, dtype=np.float64)
    return np.diagonal(g, axis1=-2, axis2=-1).copy()


def interference_w(gains: ArrayLike, power_w: ArrayLike) -> FloatArray:
    """Received interference per receiver in watts, ``[..., K]``.

    ``I_k = sum_{j != k} G_kj p_j``.
    """
    g = np.asarray(gains, dtype=np.float64)
    p = np.asarray(power_w, dtype=np.float64)
    total = np.einsum("...kj,...j->...k", g, p)  # (..., K)
    return total - direct_gains(g) * p


def sinr(gains: ArrayLike, power_w: ArrayLike, noise_w: ArrayLike) -> FloatArray:
    """SINR per link, ``[..., K]`` (linear).

    Args:
        gains: ``[..., K, K]`` float, linear power gain, receiver k from transmitter j.
        power_w: ``[..., K]`` float, transmit power in watts.
        noise_w: scalar or ``[..., K]``, noise power in watts.
    """
    g = np.asarray(gains, dtype=np.float64)
    p = np.asarray(power_w, dtype=np.float64)
    signal = np.diagonal(g, axis1=-2, axis2=-1) * p  # (..., K): direct_gains(g) * p, no copy
    total = np.einsum("...kj,...j->...k", g, p)  # (..., K): signal + interference_w(g, p)
    return signal / ((total - signal) + np.asarray(noise_w, dtype=np.float64))


def rates(gains: ArrayLike, power_w: ArrayLike, noise_w: ArrayLike) -> FloatArray:
    """Shannon rate per link, ``[..., K]`` in bit/s/Hz: ``log2(1 + SINR_k)``."""
    return np.log2(1.0 + sinr(gains, power_w, noise_w))


def rates_of(gains: ArrayLike, powers_w: ArrayLike, noise_w: ArrayLike) -> FloatArray:
    """Shannon rates of several power vectors on one network, ``[..., m, K]`` bit/s/Hz.

    Row ``i`` equals ``rates(gains, powers_w[..., i, :], noise_w)`` bit for bit (the
    same products and sums per row; tested), at the cost of one call: what the
    guards pay for the policy's powers and the full-reuse reference together.

    Args:
        gains: ``[..., K, K]`` float, linear power gain, receiver k from transmitter j.
        powers_w: ``[..., m, K]`` float, ``m`` transmit power vectors in watts.
        noise_w: scalar or ``[..., 1, K]``, noise power in watts.
    """
    g = np.asarray(gains, dtype=np.float64)
    p = np.asarray(powers_w, dtype=np.float64)
    signal = np.diagonal(g, axis1=-2, axis2=-1)[..., None, :] * p  # (..., m, K)
    total = np.einsum("...kj,...mj->...mk", g, p)  # (..., m, K): signal + interference
    return np.log2(1.0 + signal / ((total - signal) + np.asarray(noise_w, dtype=np.float64)))


def apply_csi_mask(gains: ArrayLike, csi_mask: ArrayLike | None, fill: float = 0.0) -> FloatArray:
    """What a controller sees when some cross links are unreported.

    Args:
        gains: ``[..., K, K]`` true gains.
        csi_mask: bool ``[..., K, K]``, False where a cross link was not
            reported. Direct links are always reported: the diagonal of the
            mask is ignored.
        fill: value written where the mask is False (0: "assume no interference").

    Returns:
        ``[..., K, K]`` gains as reported.
    """
    g = np.asarray(gains, dtype=np.float64)
    if csi_mask is None:
        return g.copy()
    mask = np.asarray(csi_mask, dtype=bool)
    if mask.shape[-2:] != g.shape[-2:]:
        raise InvalidInput(f"csi_mask shape {mask.shape} does not match gains {g.shape}")
    k = g.shape[-1]
    keep = mask | np.eye(k, dtype=bool)
    return np.where(keep, g, fill)


def random_csi_mask(
    rng: np.random.Generator, shape: tuple[int, ...], missing_fraction: float
) -> NDArray[np.bool_]:
    """Draw a CSI-availability mask, ``shape = (..., K, K)``.

    Each cross link is unreported independently with probability
    ``missing_fraction``; direct links are always reported.
    """
    if not 0.0 <= missing_fraction <= 1.0:
        raise InvalidInput(f"missing_fraction must be in [0, 1], got {missing_fraction}")
    mask = rng.random(shape) >= missing_fraction
    k = shape[-1]
    return mask | np.eye(k, dtype=bool)


def validate_interference_inputs(
    gains: ArrayLike, noise_w: ArrayLike, pmax_w: ArrayLike, max_k: int | None = None
) -> FloatArray:
    """Check a gains array and budgets; return gains as ``[n, K, K]`` float64.

    Raises :class:`InvalidInput` with a one-line reason on: wrong rank,
    non-square matrices, K = 0, K above ``max_k``, non-finite or negative
    gains, non-positive diagonal, non-finite or non-positive noise/budget.
    """
    g = np.asarray(gains)
    if g.dtype.kind not in "fiu":
        raise InvalidInput(f"gains must be real numbers, got dtype {g.dtype}")
    g = g.astype(np.float64, copy=False)
    if g.ndim == 2:
        g = g[None]
    if g.ndim != 3 or g.shape[-1] != g.shape[-2]:
        raise InvalidInput(f"gains must be [K,K] or [n,K,K], got shape {tuple(np.shape(gains))}")
    n, k = g.shape[0], g.shape[-1]
    if k == 0 or n == 0:
        raise InvalidInput(f"gains must hold at least one link and one sample, got shape {g.shape}")
    if max_k is not None and k > max_k:
        raise InvalidInput(f"K = {k} exceeds the configured limit of {max_k} links")
    if not np.all(np.isfinite(g)):
        raise InvalidInput("gains contain NaN or Inf")
    if np.any(g < 0):
        raise InvalidInput("gains must be non-negative (linear power gains |h|^2)")
    if np.any(np.diagonal(g, axis1=-2, axis2=-1) <= 0):
        raise InvalidInput("direct-link gains (the diagonal) must be positive")
    for label, value in (("noise_w", noise_w), ("pmax_w", pmax_w)):
        v = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise InvalidInput(f"{label} must be finite and positive, got {value!r}")
    return g
