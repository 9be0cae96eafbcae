"""Heuristic fronthaul scaling (EGAT sec. V-A): make any allocation fronthaul-feasible.

"This approach iteratively scales down the beamforming gain of the weakest
UE associated with each overloaded AP until all fronthaul constraints are
met." Each round, for every AP whose load ``sum_k x_bk r_k`` exceeds its
capacity, the served UE with the weakest channel ``||h_bk||`` has its
beamformer at that AP multiplied by ``shrink``; after ``max_shrinks``
shrinks the pair is disconnected (``x_bk = v_bk = 0``). Disconnection
keeps the loop finite: after at most ``B K (max_shrinks + 1)`` rounds every
pair is off and every load is zero, so the result is always feasible.
Power budgets are projected first (APs above budget are scaled down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rrm.core.cellfree_physics import rates
from rrm.core.objectives import Objective
from rrm.core.types import BeamformingAllocation, State
from rrm.models.cellfree.batch import CellFreeBatch, ComplexArray, normalise_ap_power

SLACK = 1e-9  # relative: loads this close to the capacity count as feasible


@dataclass(frozen=True)
class ScalingConfig:
    """Parameters of the heuristic scaling (sec. V-A gives no values; ours)."""

    shrink: float = 0.5  # amplitude factor per round (power / 4)
    max_shrinks: int = 4  # shrinks of one (AP, UE) pair before it is disconnected


def overloaded(batch: CellFreeBatch, v: ComplexArray, x: NDArray[np.generic]
               ) -> NDArray[np.bool_]:
    """``[n, B]`` bool: AP load ``sum_k x_bk r_k`` above ``C_b / W`` (eq. 3b)."""
    r = rates(batch.h, v, x, batch.noise_w)  # (n, K)
    load = np.einsum("nbk,nk->nb", np.asarray(x, dtype=np.float64), r)
    return load > batch.cap * (1.0 + SLACK)


def scale_to_fronthaul(batch: CellFreeBatch, v: ComplexArray, x: NDArray[np.generic],
                       cfg: ScalingConfig = ScalingConfig()
                       ) -> tuple[ComplexArray, NDArray[np.int8], int]:
    """Feasible ``(v [n,B,K,M], x [n,B,K] int8, rounds)`` from any ``v, x`` of the same shapes."""
    xi = (np.asarray(x) > 0).astype(np.int8)
    v = normalise_ap_power(np.where(xi[..., None] > 0, v, 0.0), batch.pmax_w, only_above=True)
    shrinks = np.zeros(xi.shape, dtype=np.int64)
    strength = np.sum(np.abs(batch.h) ** 2, axis=-1)  # (n, B, K)
    n, b, k, _ = batch.shape
    rounds = 0
    while rounds <= b * k * (cfg.max_shrinks + 1):
        over = overloaded(batch, v, xi)  # (n, B)
        if not over.any():
            break
        rounds += 1
        served = xi > 0
        masked = np.where(served, strength, np.inf)
        weakest = np.argmin(masked, axis=-1)  # (n, B)
        nn, bb = np.nonzero(over & served.any(axis=-1))
        kk = weakest[nn, bb]
        shrinks[nn, bb, kk] += 1
        off = shrinks[nn, bb, kk] > cfg.max_shrinks
        v[nn, bb, kk] *= cfg.shrink
        v[nn[off], bb[off], kk[off]] = 0.0
        xi[nn[off], bb[off], kk[off]] = 0
    return v, xi, rounds


def scale_allocation(state: State, alloc: BeamformingAllocation, objective: Objective | None = None,
                     cfg: ScalingConfig = ScalingConfig()) -> BeamformingAllocation:
    """Heuristic scaling of an allocation for ``state`` (the xApp fallback's entry point)."""
    batch = CellFreeBatch.of(state, objective)
    v = np.asarray(alloc.v, dtype=np.complex128).reshape(batch.h.shape)
    x = np.asarray(alloc.x).reshape(batch.h.shape[:-1])
    v = np.nan_to_num(v)
    v2, x2, _ = scale_to_fronthaul(batch, v, x, cfg)
    return batch.allocation(v2, x2)
