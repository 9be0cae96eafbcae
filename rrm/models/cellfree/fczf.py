"""The ``fc-zf`` baseline (EGAT sec. V-A): all APs serve all UEs, network-wide zero-forcing.

Stacking AP b's antennas, UE k's channel is ``g_k = [h_1k; ...; h_Bk]``
(``[BM]``) and ``G = [g_1^H; ...; g_K^H]`` (``[K, BM]``). The zero-forcing
directions are the columns of ``U = G^+ = G^H (G G^H)^{-1}`` (``G U = I``),
so with one common power ``p`` per stream ``v_k = sqrt(p) u_k`` and UE k
sees no interference: ``SINR_k = p / xi_k^2``.

Power scaling (Nayebi et al. 2017, EGAT ref. [15], equal-power variant):
AP b transmits ``p sum_k ||u_bk||^2``, so ``p = min_b P_b / sum_k ||u_bk||^2``
meets every per-AP budget with equality at the tightest AP. With every AP
serving every UE, each AP's fronthaul carries the sum rate, so ``fronthaul=True``
(the default) also lowers ``p`` until ``sum_k log2(1 + p / xi_k^2) <= min_b C_b / W``
(bisection; closed form ``p = xi^2 (2^{C/K} - 1)`` for equal noise).
"""

from __future__ import annotations

import numpy as np

from rrm.core.objectives import Objective
from rrm.core.types import BeamformingAllocation, State
from rrm.models.cellfree.batch import CellFreeBatch, ComplexArray, FloatArray
from rrm.models.policy import Policy

BISECTION_STEPS = 60


def zero_forcing_directions(h: ComplexArray) -> ComplexArray:
    """Unit-gain ZF directions ``u [n, B, K, M]`` with ``sum_b h_bk^H u_bj = delta_kj``.

    Args:
        h: ``[n, B, K, M]`` complex channels (K <= BM for exact ZF; else the
            pseudo-inverse gives the least-squares directions).
    """
    n, b, k, m = h.shape
    g = np.conj(np.transpose(h, (0, 2, 1, 3)).reshape(n, k, b * m))  # (n, K, BM): rows g_k^H
    u = np.linalg.pinv(g)  # (n, BM, K)
    return np.transpose(u.reshape(n, b, m, k), (0, 1, 3, 2))  # (n, B, K, M)


def fronthaul_power_cap(noise_w: FloatArray, cap: FloatArray) -> FloatArray:
    """Largest ``p [n]`` with ``sum_k log2(1 + p / xi_k^2) <= min_b cap_b`` (bisection)."""
    budget = cap.min(axis=-1)  # (n,)
    lo = np.zeros(budget.shape)
    hi = noise_w.max(axis=-1) * (2.0 ** budget - 1.0)  # sum rate >= budget here
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        ok = np.log2(1.0 + mid[:, None] / noise_w).sum(axis=-1) <= budget
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return lo


def fc_zf(batch: CellFreeBatch, fronthaul: bool = True) -> ComplexArray:
    """Beamformers ``v [n, B, K, M]`` of full-connection ZF with per-AP power scaling."""
    u = zero_forcing_directions(batch.h)
    per_ap = (np.abs(u) ** 2).sum(axis=(-2, -1))  # (n, B)
    p = (batch.pmax_w / np.maximum(per_ap, 1e-300)).min(axis=-1)  # (n,)
    if fronthaul:
        p = np.minimum(p, fronthaul_power_cap(batch.noise_w, batch.cap))
    return np.sqrt(p)[:, None, None, None] * u


class FullConnectionZF(Policy):
    """All APs serve all UEs with zero-forcing, power scaled to per-AP and fronthaul budgets."""

    version = "1"

    def __init__(self, fronthaul: bool = True, *, name: str = "fc-zf") -> None:
        super().__init__(name)
        self.fronthaul = fronthaul

    def decide(self, state: State, objective: Objective) -> BeamformingAllocation:
        """``x = 1`` everywhere, ``v`` as :func:`fc_zf`."""
        batch = CellFreeBatch.of(state, objective)
        v = fc_zf(batch, self.fronthaul)
        return batch.allocation(v, np.ones(batch.h.shape[:-1], dtype=np.int8))
