"""Cell-free downlink physics in numpy (EGAT paper, sec. II-A and II-B).

B APs with M antennas serve K single-antenna UEs on one time-frequency
resource. Every array may carry leading batch axes ``...``.

=============  ============================================================
symbol         meaning
=============  ============================================================
``h``          ``[..., B, K, M]`` complex, ``h_bk``: channel AP b -> UE k
``v``          ``[..., B, K, M]`` complex, ``v_bk``: beamformer of AP b for
               UE k, in sqrt(W) (``|v|^2`` is watts)
``x``          ``[..., B, K]`` in {0, 1} (or relaxed in [0, 1]), ``x_bk``:
               AP b serves UE k
``a``          ``[..., K, J]`` complex, ``a_kj = sum_b x_bj h_bk^H v_bj``:
               amplitude of UE j's stream at UE k
``noise_w``    ``xi_k^2``, noise power at UE k in W: scalar or ``[..., K]``
``pmax_w``     ``P_b^max``, per-AP power budget in W: scalar or ``[..., B]``
``fronthaul``  ``C_b^max``, fronthaul capacity in bit/s: scalar or ``[..., B]``
=============  ============================================================

Received signal (eq. 1) with the association folded in (the paper requires
``v_bk = 0`` where ``x_bk = 0``; multiplying by ``x`` enforces it)::

    r_k = sum_j a_kj s_j + n_k,   a_kj = sum_b x_bj h_bk^H v_bj

SINR (eq. 2) and rate in bit/s/Hz (the objective of eq. 3a, log base 2)::

    SINR_k = |a_kk|^2 / (sum_{j != k} |a_kj|^2 + xi_k^2),   r_k = log2(1 + SINR_k)

Per-AP transmit power (eq. 3c): ``||V_b||_F^2 = sum_k ||v_bk||^2 <= P_b^max``.
Fronthaul load of AP b (eq. 3b, scaled by the bandwidth W to bit/s):
``W sum_k x_bk r_k <= C_b^max``. Note that the power counts every ``v_bk``
an AP holds, associated or not: an allocation is expected to zero the
beamformers of unserved UEs.

The torch twin is :mod:`rrm.core.cellfree_physics_torch`; the two agree and are
tested against each other.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
ComplexArray = NDArray[np.complex128]
BoolArray = NDArray[np.bool_]

FEASIBILITY_RTOL = 1e-9  # relative slack for round-off in the budget checks


def effective_gains(h: ArrayLike, v: ArrayLike, x: ArrayLike) -> ComplexArray:
    """Effective channel matrix ``a [..., K, J]`` complex: ``a_kj = sum_b x_bj h_bk^H v_bj``.

    Row k is what UE k receives, column j is UE j's stream (eq. 1); the
    diagonal carries the desired signals.

    Args:
        h: ``[..., B, K, M]`` complex channels.
        v: ``[..., B, K, M]`` complex beamformers, sqrt(W).
        x: ``[..., B, K]`` association in {0, 1}.
    """
    h_conj = np.conj(np.asarray(h, dtype=np.complex128))
    xv = np.asarray(x, dtype=np.float64)[..., None] * np.asarray(v, dtype=np.complex128)
    return np.einsum("...bkm,...bjm->...kj", h_conj, xv)  # (..., K, J)


def stream_power(h: ArrayLike, v: ArrayLike, x: ArrayLike) -> FloatArray:
    """Received power ``|a_kj|^2 [..., K, J]`` in W of UE j's stream at UE k."""
    a = effective_gains(h, v, x)
    return a.real**2 + a.imag**2


def sinr(h: ArrayLike, v: ArrayLike, x: ArrayLike, noise_w: ArrayLike) -> FloatArray:
    """SINR per UE ``[..., K]`` float, linear (eq. 2).

    Args:
        h, v: ``[..., B, K, M]`` complex channels and beamformers.
        x: ``[..., B, K]`` association; an unassociated pair's beamformer is
            neither signal nor interference.
        noise_w: scalar or ``[..., K]``, noise power ``xi_k^2`` in W.
    """
    power = stream_power(h, v, x)  # (..., K, J)
    signal = np.diagonal(power, axis1=-2, axis2=-1)  # (..., K)
    interference = power.sum(axis=-1) - signal
    return signal / (interference + np.asarray(noise_w, dtype=np.float64))


def rates(h: ArrayLike, v: ArrayLike, x: ArrayLike, noise_w: ArrayLike) -> FloatArray:
    """Rate per UE ``[..., K]`` in bit/s/Hz: ``log2(1 + SINR_k)`` (eqs. 2, 3a)."""
    return np.log1p(sinr(h, v, x, noise_w)) / np.log(2.0)


def ap_power_w(v: ArrayLike) -> FloatArray:
    """Transmit power per AP ``[..., B]`` in W: ``||V_b||_F^2 = sum_k ||v_bk||^2`` (eq. 3c)."""
    vc = np.asarray(v, dtype=np.complex128)
    return (vc.real**2 + vc.imag**2).sum(axis=(-2, -1))


def fronthaul_load_bps(x: ArrayLike, rate: ArrayLike, bandwidth_hz: float) -> FloatArray:
    """Fronthaul load per AP ``[..., B]`` in bit/s: ``W sum_k x_bk r_k`` (eq. 3b).

    Args:
        x: ``[..., B, K]`` association.
        rate: ``[..., K]`` rates in bit/s/Hz.
        bandwidth_hz: system bandwidth W in Hz.
    """
    xb = np.asarray(x, dtype=np.float64)
    r = np.asarray(rate, dtype=np.float64)
    return bandwidth_hz * np.einsum("...bk,...k->...b", xb, r)  # (..., B)


def power_feasible(v: ArrayLike, pmax_w: ArrayLike, rtol: float = FEASIBILITY_RTOL) -> BoolArray:
    """Per-AP power check ``[..., B]`` bool: ``||V_b||_F^2 <= P_b^max (1 + rtol)`` (eq. 3c)."""
    return ap_power_w(v) <= np.asarray(pmax_w, dtype=np.float64) * (1.0 + rtol)


def fronthaul_feasible(x: ArrayLike, rate: ArrayLike, fronthaul_bps: ArrayLike,
                       bandwidth_hz: float, rtol: float = FEASIBILITY_RTOL) -> BoolArray:
    """Per-AP fronthaul check ``[..., B]`` bool: ``W sum_k x_bk r_k <= C_b^max (1 + rtol)``."""
    load = fronthaul_load_bps(x, rate, bandwidth_hz)
    return load <= np.asarray(fronthaul_bps, dtype=np.float64) * (1.0 + rtol)


def feasible(h: ArrayLike, v: ArrayLike, x: ArrayLike, noise_w: ArrayLike, pmax_w: ArrayLike,
             fronthaul_bps: ArrayLike, bandwidth_hz: float,
             rtol: float = FEASIBILITY_RTOL) -> BoolArray:
    """Per-sample feasibility ``[...]`` bool: every AP within power (3c) and fronthaul (3b)."""
    rate = rates(h, v, x, noise_w)
    power_ok = power_feasible(v, pmax_w, rtol)
    fronthaul_ok = fronthaul_feasible(x, rate, fronthaul_bps, bandwidth_hz, rtol)
    return np.all(power_ok & fronthaul_ok, axis=-1)
