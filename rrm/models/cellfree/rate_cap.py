"""Fronthaul-aware rate cap: EGAT's output layer for fronthaul feasibility (issue #16, item 3).

Why EGAT's answers are infeasible (``bench/bench_egat_feasibility.py``):
per-AP power (3c) holds by construction (eq. 37 normalises every AP to
``s_b P_b``), so every violation is a fronthaul overload (3b): an AP whose
served UEs' rates add up to more than ``C_b / W``. This layer lowers those
rates to what the fronthaul carries, by lowering the UEs' stream powers,
before the rates are realised. Each round, with ``rho_b = load_b / cap_b``:

* every UE ``k`` served by an overloaded AP gets the target rate
  ``t_k = r_k min_{b: x_bk = 1, rho_b > 1} (1 - slack) / rho_b`` (every
  overloaded AP's load falls to ``(1 - slack) cap_b`` at fixed interference);
* its stream is scaled at every serving AP by ``a_k = sqrt((2^t_k - 1) / SINR_k)
  <= 1``. At the current interference that gives exactly ``t_k``; the other
  scaled streams only lower the interference, so ``r_k >= t_k`` afterwards,
  and unscaled UEs may gain rate, which the next round handles.

Only streams are scaled down: per-AP power stays within budget and
instances without overload are returned unchanged (the layer costs nothing
where the network was already feasible). An instance still overloaded after
``rounds`` rounds (strong interference: freed interference lets other UEs'
rates grow) has all its beamformers scaled by one factor ``c``, found by
bisection: ``SINR_k(c v) = c^2 S_k / (c^2 I_k + xi_k^2)`` grows with ``c``
for every UE, so every load does and the feasible ``c`` form an interval
``[0, c*]``; the lower end of the final bracket is kept. So the answer is
fronthaul-feasible by construction. The heuristic scaling of sec. V-A
(:mod:`rrm.models.cellfree.fronthaul`) stays the xApp's deployed fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rrm.core.cellfree_physics import sinr
from rrm.models.cellfree.batch import CellFreeBatch, ComplexArray
from rrm.models.cellfree.fronthaul import SLACK


@dataclass(frozen=True)
class RateCapConfig:
    """Rounds of the rate cap and the slack of its targets (ours)."""

    rounds: int = 8
    slack: float = 0.002  # targets at (1 - slack) C_b: the other streams' gains fit in it
    bisections: int = 40  # of the common factor c of the last resort (c within 1e-12)


def ap_load_ratio(batch: CellFreeBatch, v: ComplexArray, x: NDArray[np.generic]
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(rho [n,B], sinr [n,K])``: fronthaul load over capacity, and the SINRs."""
    g = sinr(batch.h, v, x, batch.noise_w)  # (n, K)
    r = np.log1p(g) / np.log(2.0)
    load = np.einsum("nbk,nk->nb", np.asarray(x, dtype=np.float64), r)
    return load / batch.cap, g


def cap_rates(batch: CellFreeBatch, v: ComplexArray, x: NDArray[np.generic],
              cfg: RateCapConfig = RateCapConfig()) -> tuple[ComplexArray, NDArray[np.bool_]]:
    """``(v [n,B,K,M], fronthaul_ok [n])``: streams scaled down until every AP's load fits."""
    xf = (np.asarray(x) > 0).astype(np.float64)  # (n, B, K)
    v = np.asarray(v, dtype=np.complex128).copy()
    for _ in range(cfg.rounds):
        rho, g = ap_load_ratio(batch, v, xf)
        over = rho > 1.0 + SLACK  # (n, B)
        if not over.any():
            break
        per_ap = np.where(over, (1.0 - cfg.slack) / np.maximum(rho, 1e-30), 1.0)  # (n, B)
        factor = np.where(xf > 0, per_ap[..., None], 1.0).min(axis=1)  # (n, K)
        r = np.log1p(g) / np.log(2.0)
        target = np.exp2(r * factor) - 1.0  # SINR that gives the target rate
        a2 = np.divide(target, g, out=np.ones_like(g), where=(factor < 1.0) & (g > 0))
        v *= np.sqrt(np.clip(a2, 0.0, 1.0))[:, None, :, None]
    rho, _ = ap_load_ratio(batch, v, xf)
    left = np.nonzero(np.any(rho > 1.0 + SLACK, axis=-1))[0]
    if left.size:
        v[left] *= _common_factor(batch.subset(left), v[left], xf[left], cfg.bisections
                                  )[:, None, None, None]
    rho, _ = ap_load_ratio(batch, v, xf)
    return v, np.all(rho <= 1.0 + SLACK, axis=-1)


def _common_factor(batch: CellFreeBatch, v: ComplexArray, xf: NDArray[np.float64],
                   bisections: int) -> NDArray[np.float64]:
    """``[n]``: the largest ``c`` in ``[0, 1]`` found with every load of ``c v`` within capacity."""
    lo, hi = np.zeros(batch.shape[0]), np.ones(batch.shape[0])
    for _ in range(bisections):
        mid = 0.5 * (lo + hi)
        rho, _ = ap_load_ratio(batch, v * mid[:, None, None, None], xf)
        fits = np.all(rho <= 1.0, axis=-1)
        lo, hi = np.where(fits, mid, lo), np.where(fits, hi, mid)
    return lo
