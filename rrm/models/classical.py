"""Reference policies for interference networks: ``full-reuse`` and the exhaustive ``oracle``.

Also the batch view of an :class:`~rrm.core.types.InterferenceState` that every
classical solver (here and in :mod:`rrm.models.wmmse_policy`) works on, with the
true utility of an allocation under an objective.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import InterferenceState, PowerAllocation, State
from rrm.models.policy import Policy

FloatArray = NDArray[np.float64]
ORACLE_MAX_LINKS = 4
GRID_KNEE = 0.05  # share of Pmax where the grid turns from geometric to linear
ZOOM_MAX_MOVES = 400  # pattern-search iterations of the oracle's refinement
LN2 = float(np.log(2.0))
_Utility = Callable[[FloatArray], FloatArray]  # (m, K) shares of Pmax -> (m,) utility


@dataclass(frozen=True)
class InterferenceBatch:
    """An interference state as ``n`` instances (a ``[K, K]`` state is ``n = 1``).

    Attributes:
        gains: ``[n, K, K]`` float, linear power gain, receiver k from transmitter j.
        noise_w: ``[n, K]`` noise power, W.
        pmax_w: ``[n, K]`` power budgets, W.
        weights: ``[n, K]`` rate weights of ``wsr`` (the state's, else the
            objective's, else 1); unused by the other objectives.
        single: the state had no sample axis (results drop it again).
    """

    gains: FloatArray
    noise_w: FloatArray
    pmax_w: FloatArray
    weights: FloatArray
    single: bool

    @classmethod
    def of(cls, state: State, objective: Objective | None = None) -> InterferenceBatch:
        """Validate shapes and broadcast budgets; raise InvalidInput with one line."""
        if not isinstance(state, InterferenceState):
            raise InvalidInput("this policy decides powers for interference networks "
                               "(d2d, ergodic), not cell-free states")
        g = np.asarray(state.gains, dtype=np.float64)
        if g.ndim not in (2, 3) or g.shape[-1] != g.shape[-2] or g.shape[-1] == 0:
            raise InvalidInput(f"gains must be [K,K] or [n,K,K] with K >= 1, got shape {g.shape}")
        single = g.ndim == 2
        g = g[None] if single else g
        w = state.weights
        if w is None and objective is not None and objective.name == "wsr":
            w = objective.weights
        try:
            weights = np.broadcast_to(np.asarray(1.0 if w is None else w, dtype=np.float64),
                                      g.shape[:-1]).copy()
        except ValueError:
            raise InvalidInput(f"weights must be a scalar or [..., K] matching gains {g.shape}"
                               ) from None
        noise = state.noise_per_link.reshape(g.shape[:-1]).copy()
        pmax = state.pmax_per_link.reshape(g.shape[:-1]).copy()
        return cls(np.ascontiguousarray(g), noise, pmax, weights, single)

    def rates(self, power_w: FloatArray) -> FloatArray:
        """``log2(1 + SINR)``, ``[n, ..., K]`` bit/s/Hz, of ``power_w [n, ..., K]`` W."""
        n, k = self.gains.shape[:2]
        p = power_w.reshape(n, -1, k)  # (n, m, K): every axis between n and K flattened
        cross_t = np.ascontiguousarray(np.swapaxes(self.gains, -1, -2) * (1.0 - np.eye(k)))
        signal = np.diagonal(self.gains, axis1=-2, axis2=-1)[:, None, :] * p
        # interference from the off-diagonal gains directly: no cancellation at high SINR.
        # einsum, not matmul: BLAS would thread these thin (m x K)(K x K) products.
        inr = np.einsum("nmj,njk->nmk", p, cross_t) + self.noise_w[:, None, :]
        return (np.log1p(signal / inr) / LN2).reshape(power_w.shape)

    def utility(self, objective: Objective, power_w: FloatArray) -> FloatArray:
        """True utility ``[n, ...]`` of ``power_w [n, ..., K]`` W under ``objective``."""
        r = self.rates(power_w)
        if objective.name == "wsr":
            a = self.weights.reshape(self.weights.shape[:1] + (1,) * (r.ndim - 2) + (-1,))
            return np.asarray((a * r).sum(-1))
        return np.asarray(objective.utility(r))

    def allocation(self, power_w: FloatArray, iterations: ArrayLike | None = None
                   ) -> PowerAllocation:
        """A :class:`PowerAllocation` shaped like the state (no sample axis if single)."""
        it = None if iterations is None else np.asarray(iterations, dtype=np.int64)
        if self.single:
            return PowerAllocation(power_w[0], None if it is None else it[0])
        return PowerAllocation(power_w, it)


class FullReusePolicy(Policy):
    """Every transmitter at its full budget (GFM-RA sec. IV-A's static baseline)."""

    version = "1"
    inline = True  # a copy of pmax: no worker-thread hop

    def __init__(self, *, name: str = "full-reuse") -> None:
        super().__init__(name)

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """``pmax_w`` on every link, ``[..., K]`` W."""
        batch = InterferenceBatch.of(state)
        return batch.allocation(batch.pmax_w.copy())


class OraclePolicy(Policy):
    """Exhaustive search for K <= 4, the ground truth of the tests.

    Per instance: (1) a dense grid of ``levels`` powers per link over
    ``[0, Pmax_k]`` (:func:`grid_levels`: 0, geometric below 5 % of Pmax,
    linear above; 41^4 = 2.8 M points at K = 4, evaluated in chunks of
    ``chunk`` points) locates the basins; (2) from each
    of the ``polish`` best grid points a pattern search refines without
    derivatives, which also suits the kinks of ``qos`` and the floor of
    ``pf``: it moves to the best of its neighbours (a 5-level local grid
    per link and ``directions`` fixed random directions, at the current
    spacing) while that improves, and halves the spacing when it does not,
    from the grid spacing down to ``Pmax / (levels - 1) / 2^zoom``; (3)
    bounded Nelder-Mead, then L-BFGS-B, from the refined point polish it
    (the simplex follows the oblique kinked ridges of ``qos`` on which the
    pattern search can stall). The best point seen under the true utility is
    returned, so the result is never worse than the best grid point.

    Args:
        levels: grid levels per link.
        polish: best grid points refined.
        zoom: halvings of the pattern-search spacing.
        directions: random search directions besides the local grid.
        chunk: grid points evaluated at once (memory: ~``chunk * K * 40`` bytes).
    """

    version = "grid+pattern+nelder-mead+lbfgsb"

    def __init__(self, levels: int = 41, polish: int = 4, zoom: int = 30,
                 directions: int = 500, chunk: int = 1 << 18, *, name: str = "oracle") -> None:
        super().__init__(name)
        if levels < 2 or polish < 1 or zoom < 0 or directions < 0 or chunk < 1:
            raise InvalidInput("oracle needs levels >= 2, polish >= 1, zoom >= 0, "
                               "directions >= 0, chunk >= 1")
        self.levels, self.polish, self.zoom, self.chunk = levels, polish, zoom, chunk
        self.directions = directions

    def decide(self, state: State, objective: Objective) -> PowerAllocation:
        """Near-optimal powers ``[..., K]`` W for each instance (K <= 4)."""
        batch = InterferenceBatch.of(state, objective)
        k = batch.gains.shape[-1]
        if k > ORACLE_MAX_LINKS:
            raise InvalidInput(f"oracle searches exhaustively only up to K={ORACLE_MAX_LINKS} "
                               f"links, got K={k}; use wmmse-best")
        # a loop over instances: each one is a vectorised levels^K-point search
        power = np.stack([self._one(batch, i, objective) for i in range(len(batch.gains))])
        return batch.allocation(power)

    def _one(self, batch: InterferenceBatch, i: int, objective: Objective) -> FloatArray:
        one = InterferenceBatch(batch.gains[i:i + 1], batch.noise_w[i:i + 1],
                                batch.pmax_w[i:i + 1], batch.weights[i:i + 1], False)
        pmax = one.pmax_w[0]

        def utility(frac: FloatArray) -> FloatArray:  # frac: (m, K) shares of Pmax
            return one.utility(objective, (frac * pmax)[None])[0]

        frac, value = self._grid(utility, pmax.size)
        frac, value = self._zoom(utility, frac, value)
        best = int(np.argmax(value))
        return np.asarray(_polish(utility, frac[best]) * pmax)

    def _grid(self, utility: _Utility, k: int) -> tuple[FloatArray, FloatArray]:
        """The ``polish`` best points ``(m, K)`` of the full grid and their utilities."""
        axis = grid_levels(self.levels)
        tail = _cartesian(axis, k - 1)  # (levels^(K-1), K-1): one slab per first-link level
        per = max(1, self.chunk // len(tail))
        best_frac, best_u = np.empty((0, k)), np.empty(0)
        for lo in range(0, self.levels, per):
            head = axis[lo:lo + per]
            frac = np.concatenate([np.repeat(head, len(tail))[:, None],
                                   np.tile(tail, (len(head), 1))], axis=1)  # (chunk, K)
            u = utility(frac)
            top = np.argpartition(u, -min(self.polish, u.size))[-self.polish:]
            best_frac = np.concatenate([best_frac, frac[top]])
            best_u = np.concatenate([best_u, u[top]])
            keep = np.argsort(best_u)[::-1][: self.polish]
            best_frac, best_u = best_frac[keep], best_u[keep]
        return best_frac, best_u

    def _zoom(self, utility: _Utility, frac: FloatArray, value: FloatArray
              ) -> tuple[FloatArray, FloatArray]:
        """Pattern search from each point (derivative-free): move to the best
        neighbour while it improves, halve the spacing when none does."""
        m, k = frac.shape
        # a 5^K grid plus fixed random directions: axis-aligned moves alone stall on the
        # oblique kinked ridges of qos (a link held exactly at r_min)
        sphere = np.random.default_rng(0).normal(size=(self.directions, k))
        sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
        offsets = np.concatenate([_cartesian(np.linspace(-1.0, 1.0, 5), k),
                                  sphere, 0.25 * sphere])  # (5^K + 2 D, K)
        step = np.full(m, 1.0 / (self.levels - 1))
        smallest, rows = step[0] / 2.0**self.zoom, np.arange(m)
        for _ in range(ZOOM_MAX_MOVES):
            cand = np.clip(frac[:, None, :] + step[:, None, None] * offsets, 0.0, 1.0)
            u = utility(cand.reshape(-1, k)).reshape(m, -1)  # (m, n_offsets)
            pick = np.argmax(u, axis=1)
            better = u[rows, pick] > value
            frac = np.where(better[:, None], cand[rows, pick], frac)
            value = np.where(better, u[rows, pick], value)
            step = np.where(better, step, step / 2.0)
            if np.all(step < smallest):
                break
        return frac, value


def grid_levels(levels: int) -> FloatArray:
    """Grid shares of Pmax per link: 0, a third geometric in [1e-5, 0.05), the rest
    linear in [0.05, 1] (at high SNR the best allocation can hold a link at a tiny
    power, e.g. just at ``r_min`` for ``qos``, which a linear grid cannot see)."""
    n_log = (levels - 1) // 3
    return np.concatenate([[0.0], np.geomspace(1e-5, GRID_KNEE, n_log, endpoint=False),
                           np.linspace(GRID_KNEE, 1.0, levels - 1 - n_log)])


def _polish(utility: _Utility, x0: FloatArray) -> FloatArray:
    """The best of ``x0``, bounded Nelder-Mead from it (its simplex adapts to the
    oblique kinked ridges of ``qos``) and L-BFGS-B from that (smooth optima)."""
    from scipy.optimize import minimize  # the oracle only: 1 s of import for every other caller

    bounds = [(0.0, 1.0)] * x0.size

    def negative(x: FloatArray) -> float:
        return -float(utility(np.clip(x, 0.0, 1.0)[None])[0])

    simplex = minimize(negative, x0, method="Nelder-Mead", bounds=bounds,
                       options={"xatol": 1e-10, "fatol": 1e-12, "maxfev": 4000})
    smooth = minimize(negative, np.clip(simplex.x, 0.0, 1.0), method="L-BFGS-B", bounds=bounds)
    candidates = [x0, np.clip(simplex.x, 0.0, 1.0), np.clip(smooth.x, 0.0, 1.0)]
    return candidates[int(np.argmin([negative(c) for c in candidates]))]


def _cartesian(axis: FloatArray, k: int) -> FloatArray:
    """Every point of ``axis^k`` as rows ``(len(axis)^k, k)`` (``(1, 0)`` for k = 0)."""
    if k == 0:
        return np.zeros((1, 0))
    return np.stack(np.meshgrid(*[axis] * k, indexing="ij"), axis=-1).reshape(-1, k)
