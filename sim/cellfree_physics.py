"""Cell-free downlink physics in numpy (EGAT paper, sec. II).

Notation (shapes carry any leading batch axes ``...``):

========  ==============================================================
symbol    meaning
========  ==============================================================
``h``     ``[..., B, K, M]`` complex channel from AP b to UE k
``v``     ``[..., B, K, M]`` complex beamformer of AP b for UE k, sqrt(W)
``x``     ``[..., B, K]`` association in {0, 1}: AP b serves UE k
``a``     ``[..., K, J]`` effective gain ``sum_b x_bj h_bk^H v_bj`` of
          UE j's stream at UE k
========  ==============================================================

Received signal (eq. 1) and SINR (eq. 2)::

    SINR_k = |a_kk|^2 / (sum_{j != k} |a_kj|^2 + xi^2),   rate_k = log2(1 + SINR_k)

Per-AP power (eq. 3c): ``||V_b||_F^2 = sum_k ||v_bk||^2``; fronthaul load of
AP b (eq. 3b, in bit/s): ``W * sum_k x_bk rate_k``. An unassociated pair
(x_bk = 0) carries no data: its beamformer is ignored both as signal and as
interference. The torch twin is :mod:`sim.cellfree_physics_torch`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
ComplexArray = NDArray[np.complex128]


def effective_gains(h: ArrayLike, v: ArrayLike, x: ArrayLike) -> ComplexArray:
    """``a[..., k, j] = sum_b x_bj h_bk^H v_bj`` (complex)."""
    hc = np.conj(np.asarray(h, dtype=np.complex128))
    xv = np.asarray(x, dtype=np.float64)[..., None] * np.asarray(v, dtype=np.complex128)
    return np.einsum("...bkm,...bjm->...kj", hc, xv)


def sinr(h: ArrayLike, v: ArrayLike, x: ArrayLike, noise_w: ArrayLike) -> FloatArray:
    """SINR per UE ``[..., K]`` (eq. 2)."""
    power = np.abs(effective_gains(h, v, x)) ** 2  # (..., K, K)
    signal = np.diagonal(power, axis1=-2, axis2=-1)
    return signal / (power.sum(-1) - signal + np.asarray(noise_w, dtype=np.float64))


def rates(h: ArrayLike, v: ArrayLike, x: ArrayLike, noise_w: ArrayLike) -> FloatArray:
    """Rate per UE ``[..., K]`` in bit/s/Hz."""
    return np.log2(1.0 + sinr(h, v, x, noise_w))


def ap_power_w(v: ArrayLike) -> FloatArray:
    """Transmit power per AP ``[..., B]`` in W: ``||V_b||_F^2``."""
    return (np.abs(np.asarray(v)) ** 2).sum(axis=(-2, -1))


def fronthaul_load_bps(x: ArrayLike, rate: ArrayLike, bandwidth_hz: float) -> FloatArray:
    """Fronthaul load per AP ``[..., B]`` in bit/s: ``W sum_k x_bk r_k``."""
    xb = np.asarray(x, dtype=np.float64)
    return bandwidth_hz * np.einsum("...bk,...k->...b", xb, np.asarray(rate, dtype=np.float64))


def feasible(h: ArrayLike, v: ArrayLike, x: ArrayLike, noise_w: ArrayLike,
             pmax_w: ArrayLike, fronthaul_bps: ArrayLike, bandwidth_hz: float,
             rtol: float = 1e-9) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per-sample feasibility ``([...], [...])``: every AP within power, within fronthaul."""
    power_ok = np.all(ap_power_w(v) <= np.asarray(pmax_w) * (1 + rtol), axis=-1)
    load = fronthaul_load_bps(x, rates(h, v, x, noise_w), bandwidth_hz)
    fronthaul_ok = np.all(load <= np.asarray(fronthaul_bps) * (1 + rtol), axis=-1)
    return power_ok, fronthaul_ok
