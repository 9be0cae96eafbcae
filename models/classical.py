"""Reference policies: ``full-reuse`` and the exhaustive ``oracle`` for tiny networks."""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from models.policy import register_policy
from sim import physics
from sim.errors import InvalidInput
from sim.objectives import Objective
from sim.types import InterferenceState, PowerAllocation, State

FloatArray = NDArray[np.float64]
ORACLE_MAX_LINKS = 4


def _interference(state: State) -> tuple[FloatArray, FloatArray, FloatArray, bool]:
    if not isinstance(state, InterferenceState):
        raise TypeError("this policy decides powers for interference networks")
    g = np.asarray(state.gains, dtype=np.float64)
    single = g.ndim == 2
    g = g[None] if single else g
    n, k = g.shape[0], g.shape[-1]
    pmax = np.broadcast_to(np.asarray(state.pmax_w, dtype=np.float64), (n, k)).copy()
    noise = np.broadcast_to(np.asarray(state.noise_w, dtype=np.float64), (n, k)).copy()
    return g, noise, pmax, single


@register_policy("full-reuse")
class FullReusePolicy:
    """Every transmitter at its full budget (GFM-RA's static baseline)."""

    name = "full-reuse"
    version = "1"

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """``pmax_w`` on every link."""
        g, _, pmax, single = _interference(state)
        return PowerAllocation(pmax[0] if single else pmax)


@register_policy("oracle")
class OraclePolicy:
    """Exhaustive search for K <= 4: a grid over [0, Pmax]^K, then local polishing.

    The grid (``levels`` per link, including 0 and Pmax) finds the basin of
    the global optimum; L-BFGS-B from the best grid points polishes it
    within the box. Ground truth for tests, not for deployment.
    """

    name = "oracle"
    version = "grid+lbfgsb"

    def __init__(self, levels: int = 21, polish: int = 3) -> None:
        self.levels, self.polish = levels, polish

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """Near-optimal powers for each instance (K <= 4)."""
        g, noise, pmax, single = _interference(state)
        if g.shape[-1] > ORACLE_MAX_LINKS:
            raise InvalidInput(f"oracle searches exhaustively up to K={ORACLE_MAX_LINKS}, "
                               f"got K={g.shape[-1]}")
        power = np.stack([self._one(g[i], noise[i], pmax[i], objective) for i in range(len(g))])
        return PowerAllocation(power[0] if single else power)

    def _one(self, g: FloatArray, noise: FloatArray, pmax: FloatArray,
             objective: Objective) -> FloatArray:
        k = g.shape[-1]
        frac = np.array(list(itertools.product(np.linspace(0, 1, self.levels), repeat=k)))
        grid = frac * pmax  # (levels^K, K)
        u = np.asarray(objective.utility(physics.rates(g, grid, noise)))
        best = grid[np.argsort(u)[::-1][: self.polish]]
        scale = pmax.max()

        def negative(x: FloatArray) -> float:
            return -float(objective.utility(physics.rates(g, x * scale, noise)))

        candidates = [best[0]]
        for x0 in best:
            res = minimize(negative, x0 / scale, method="L-BFGS-B",
                           bounds=[(0.0, p / scale) for p in pmax])
            candidates.append(np.clip(res.x * scale, 0.0, pmax))
        values = [-negative(c / scale) for c in candidates]
        return np.asarray(candidates[int(np.argmax(values))])
