"""A cell-free state as ``n`` instances with every budget broadcast to its axis.

Every cell-free policy works on :class:`CellFreeBatch`: a ``[B, K, M]`` state
is ``n = 1`` and the answer drops the axis again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import BeamformingAllocation, CellFreeState, State

FloatArray = NDArray[np.float64]
ComplexArray = NDArray[np.complex128]


@dataclass(frozen=True)
class CellFreeBatch:
    """Channels and budgets of ``n`` cell-free instances.

    Attributes:
        h: ``[n, B, K, M]`` complex channels (sqrt of linear gain).
        noise_w: ``[n, K]`` noise power per UE, W.
        pmax_w: ``[n, B]`` per-AP power budget, W.
        cap: ``[n, B]`` per-AP fronthaul capacity in bit/s/Hz (``C_b^max / W``).
        weights: ``[n, K]`` rate weights ``w_k`` (state's, else objective's, else 1).
        bandwidth_hz: W in Hz.
        single: the state had no sample axis.
    """

    h: ComplexArray
    noise_w: FloatArray
    pmax_w: FloatArray
    cap: FloatArray
    weights: FloatArray
    bandwidth_hz: float
    single: bool

    @classmethod
    def of(cls, state: State, objective: Objective | None = None) -> CellFreeBatch:
        """Broadcast a :class:`CellFreeState` (``h [B,K,M]`` or ``[n,B,K,M]``)."""
        if not isinstance(state, CellFreeState):
            raise InvalidInput(f"cell-free policies need a CellFreeState, got "
                               f"{type(state).__name__}")
        h = np.asarray(state.h, dtype=np.complex128)
        if h.ndim not in (3, 4):
            raise InvalidInput(f"cell-free channels must be [B,K,M] or [n,B,K,M], got {h.shape}")
        single = h.ndim == 3
        h = h[None] if single else h
        n, b, k, _ = h.shape
        weights = state.weights
        if weights is None and objective is not None and objective.name == "wsr":
            weights = objective.weights
        w = np.ones((n, k)) if weights is None else np.asarray(weights, dtype=np.float64)
        cap = state.fronthaul_per_ap.reshape(n, b) / state.bandwidth_hz
        return cls(h=h, noise_w=state.noise_per_ue.reshape(n, k),
                   pmax_w=state.pmax_per_ap.reshape(n, b),
                   cap=cap, weights=np.broadcast_to(w, (n, k)),
                   bandwidth_hz=float(state.bandwidth_hz), single=single)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(n, B, K, M)``."""
        n, b, k, m = self.h.shape
        return n, b, k, m

    def subset(self, idx: NDArray[np.intp]) -> CellFreeBatch:
        """The instances ``idx`` (a batch of ``len(idx)``)."""
        return CellFreeBatch(self.h[idx], self.noise_w[idx], self.pmax_w[idx], self.cap[idx],
                             self.weights[idx], self.bandwidth_hz, False)

    def allocation(self, v: ComplexArray, x: NDArray[np.generic]) -> BeamformingAllocation:
        """``v [n,B,K,M]``, ``x [n,B,K]`` as an allocation (unserved beamformers zeroed)."""
        xi = (np.asarray(x) > 0).astype(np.int8)
        v = np.where(xi[..., None] > 0, v, 0.0).astype(np.complex128)
        if self.single:
            return BeamformingAllocation(v=v[0], x=xi[0])
        return BeamformingAllocation(v=v, x=xi)


def normalise_ap_power(v: ComplexArray, pmax_w: FloatArray, *, only_above: bool = False
                       ) -> ComplexArray:
    """Scale each AP's beamformers to ``||V_b||_F^2 = P_b^max`` (eq. 37).

    Args:
        v: ``[n, B, K, M]`` complex beamformers.
        pmax_w: ``[n, B]`` budgets, W.
        only_above: scale down APs above budget only (a projection onto 3c).
    APs with no power stay at zero.
    """
    power = (v.real**2 + v.imag**2).sum(axis=(-2, -1))  # (n, B)
    scale = np.sqrt(np.divide(pmax_w, power, out=np.zeros_like(power), where=power > 0))
    if only_above:
        scale = np.where(power > pmax_w, scale, 1.0)
    return v * scale[..., None, None]


def weighted_sum_rate(batch: CellFreeBatch, v: ComplexArray, x: NDArray[np.generic]) -> FloatArray:
    """``sum_k w_k log2(1 + SINR_k)`` ``[n]`` in bit/s/Hz (eq. 3a)."""
    from rrm.core.cellfree_physics import rates

    return (batch.weights * rates(batch.h, v, x, batch.noise_w)).sum(axis=-1)
